"""Conflicts: list, read, resolve with an audited adjustment."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import conflicts
from coordinator.services.common import MAX_ROW_ID
from coordinator.services.conflicts import ConflictOut, ConflictPage, Resolve, Resolved, Status
from shared.model import Id

router = APIRouter(prefix="/api/v1/conflicts", tags=["conflicts"], responses=USER)


@router.get("")
def list_conflicts(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    status: Annotated[Status | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    member_id: Annotated[Id | None, Query()] = None,
    store_id: Annotated[Id | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_ms: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)] = None,
) -> ConflictPage:
    """Conflicts, newest first (a store manager sees those involving their store)."""
    return conflicts.list_conflicts(
        coord,
        principal,
        status=status,
        kind=kind,
        member_id=member_id,
        store_id=store_id,
        limit=limit,
        before_ms=before_ms,
    )


@router.get("/{conflict_id}", responses=answers(404))
def get_conflict(
    coord: CoordinatorDep, principal: PrincipalDep, conflict_id: Annotated[Id, Path()]
) -> ConflictOut:
    """One conflict with its explanation and resolution history."""
    return conflicts.get_conflict(coord, principal, conflict_id)


@router.post("/{conflict_id}/resolve", responses=answers(404, 409))
def resolve_conflict(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    conflict_id: Annotated[Id, Path()],
    body: Resolve,
) -> Resolved:
    """Resolve with an audited adjustment event by the logged-in staff user."""
    return conflicts.resolve_conflict(coord, principal, conflict_id, body)
