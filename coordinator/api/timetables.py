"""A store's class timetable: read, replace (rolled out to its kiosks), one week's sessions."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import timetables
from coordinator.services.timetables import TimetableIn, TimetableOut, WeekOut
from shared.model import Id

router = APIRouter(prefix="/api/v1/stores", tags=["timetables"], responses=USER)
StorePath = Annotated[Id, Path()]


@router.get("/{store_id}/timetable", responses=answers(404))
def get_timetable(
    coord: CoordinatorDep, principal: PrincipalDep, store_id: StorePath
) -> TimetableOut:
    """The store's current weekly timetable (empty before the first save)."""
    return timetables.get_timetable(coord, principal, store_id)


@router.put("/{store_id}/timetable", responses=answers(404))
def put_timetable(
    coord: CoordinatorDep, principal: PrincipalDep, store_id: StorePath, body: TimetableIn
) -> TimetableOut:
    """Replace the store's timetable and roll it out to the store's kiosks as a new
    rule-bundle version (chain rules below, this timetable on top)."""
    return timetables.put_timetable(coord, principal, store_id, body)


@router.get("/{store_id}/timetable/week", responses=answers(404))
def week_sessions(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    store_id: StorePath,
    day: Annotated[date | None, Query(description="Any day of the week (default: today)")] = None,
) -> WeekOut:
    """The sessions of one store-local week, Monday first."""
    return timetables.week_sessions(coord, principal, store_id, day)
