"""Conflicts: list, read, resolve with an audited adjustment."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query
from pydantic import Field

from coordinator import schema
from coordinator.api.deps import Body, CoordinatorDep, PrincipalDep, audit
from coordinator.errors import not_found
from coordinator.ledger.jsonrows import json_list_contains, loads_list
from coordinator.ledger.resolution import Decision, resolve
from coordinator.security.auth import Principal
from shared.model import Id

router = APIRouter(prefix="/api/v1/conflicts", tags=["conflicts"])


class Resolve(Body):
    """Staff's decision. All deltas zero = accept what was recorded, with a note."""

    note: str = Field(min_length=3, max_length=1000)
    points_delta: int = Field(0, ge=-(10**7), le=10**7)
    sessions_delta: int = Field(0, ge=-1000, le=1000)
    """Sessions given back (+) or charged (-) on the pass."""
    coupon_uses_delta: int = Field(0, ge=-10, le=10)
    """-1 forgives one use of a coupon redeemed twice."""
    pass_id: Id | None = None
    coupon_id: Id | None = None


def conflict_view(row: sa.Row[Any]) -> dict[str, Any]:
    """A conflict as the API shows it."""
    return {
        "conflict_id": row.conflict_id,
        "kind": row.kind,
        "status": row.status,
        "member_id": row.member_id,
        "subject_id": row.subject_id,
        "event_id": row.event_id,
        "kiosk_id": row.kiosk_id,
        "store_id": row.store_id,
        "store_ids": loads_list(row.store_ids),
        "amount": row.amount,
        "occurrences": row.occurrences,
        "explanation": row.explanation,
        "detail": json.loads(row.detail or "{}"),
        "created_ms": row.created_ms,
        "updated_ms": row.updated_ms,
        "resolved_by": row.resolved_by,
        "resolved_ms": row.resolved_ms,
        "resolution_note": row.resolution_note,
        "resolution_event_id": row.resolution_event_id,
    }


def _visible(principal: Principal, row: sa.Row[Any]) -> bool:
    own = principal.store_filter()
    return own is None or own in loads_list(row.store_ids) or row.store_id == own


@router.get("")
def list_conflicts(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    status: Annotated[Literal["open", "resolved", "withdrawn"] | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    member_id: Annotated[Id | None, Query()] = None,
    store_id: Annotated[Id | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_ms: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    """Conflicts, newest first (a store manager sees those involving their store)."""
    if store_id is not None:
        principal.require_store(store_id)
    c = schema.conflicts
    query = sa.select(c).order_by(c.c.created_ms.desc(), c.c.conflict_id).limit(limit * 5)
    if status:
        query = query.where(c.c.status == status)
    if kind:
        query = query.where(c.c.kind == kind)
    if member_id:
        query = query.where(c.c.member_id == member_id)
    if before_ms is not None:
        query = query.where(c.c.created_ms < before_ms)
    own = principal.store_filter()
    if own is not None:
        # In SQL, so a store manager's page is not emptied by other stores' conflicts;
        # _visible below re-checks exactly (the JSON list match is textual).
        query = query.where(sa.or_(c.c.store_id == own, json_list_contains(c.c.store_ids, own)))
    with coord.db.read() as conn:
        rows = [r for r in conn.execute(query) if _visible(principal, r)]
    if store_id is not None:
        rows = [r for r in rows if store_id in loads_list(r.store_ids) or r.store_id == store_id]
    items = [conflict_view(r) for r in rows[:limit]]
    return {
        "items": items,
        "next_before_ms": items[-1]["created_ms"] if len(items) == limit else None,
    }


@router.get("/{conflict_id}")
def get_conflict(
    coord: CoordinatorDep, principal: PrincipalDep, conflict_id: Annotated[Id, Path()]
) -> dict[str, Any]:
    """One conflict with its explanation and resolution history."""
    c = schema.conflicts
    with coord.db.read() as conn:
        row = conn.execute(sa.select(c).where(c.c.conflict_id == conflict_id)).first()
    if row is None or not _visible(principal, row):
        raise not_found("conflict", conflict_id, "conflict_id")
    return conflict_view(row)


@router.post("/{conflict_id}/resolve")
def resolve_conflict(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    conflict_id: Annotated[Id, Path()],
    body: Resolve,
) -> dict[str, Any]:
    """Resolve with an audited adjustment event by the logged-in staff user."""
    principal.require_write()
    now = coord.clock.wall_ms()
    c = schema.conflicts
    with coord.db.write() as conn:
        row = conn.execute(sa.select(c).where(c.c.conflict_id == conflict_id)).first()
        if row is None or not _visible(principal, row):
            raise not_found("conflict", conflict_id, "conflict_id")
        updated, event = resolve(
            conn,
            coord.recorder,
            conflict_id,
            Decision(**body.model_dump()),
            staff_user=principal.username,
            now_ms=now,
        )
        audit(conn, principal.username, "conflict.resolve", conflict_id, now, **body.model_dump())
    coord.pusher.wake()
    view = conflict_view(updated)
    view["adjustment"] = event.model_dump(mode="json") if event else None
    return view
