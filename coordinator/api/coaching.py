"""Coaches: their own sessions of the week, and marking a session as taught."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import coaching
from coordinator.services.coaching import MyClasses, TaughtOut
from shared.model import Id

router = APIRouter(prefix="/api/v1", tags=["coaching"], responses=USER)


@router.get("/me/classes", responses=answers(422))
def my_classes(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    day: Annotated[date | None, Query(description="A day of the week (default today)")] = None,
) -> MyClasses:
    """The calling coach's own sessions of a store-local week, with bookings and taught."""
    return coaching.my_classes(coord, principal, day)


@router.post(
    "/stores/{store_id}/sessions/{class_session_id}/taught", responses=answers(404, 409, 422)
)
def mark_taught(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    store_id: Annotated[Id, Path()],
    class_session_id: Annotated[Id, Path()],
) -> TaughtOut:
    """Mark a session taught (once), credited to its coach with the students signed in."""
    return coaching.mark_taught(coord, principal, store_id, class_session_id)
