"""Class bookings and the waitlist of a store's sessions, and a session's roster."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import bookings
from coordinator.services.bookings import BookIn, BookingOut, CancelOut, RosterOut
from shared.model import Id

router = APIRouter(prefix="/api/v1/stores", tags=["bookings"], responses=USER)
StorePath = Annotated[Id, Path()]
SessionPath = Annotated[Id, Path()]


@router.post(
    "/{store_id}/sessions/{class_session_id}/bookings",
    status_code=201,
    responses=answers(404, 409),
)
def book(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    store_id: StorePath,
    class_session_id: SessionPath,
    body: BookIn,
) -> BookingOut:
    """Book a member into a session (or onto its waitlist when it is full)."""
    return bookings.book(coord, principal, store_id, class_session_id, body)


@router.delete(
    "/{store_id}/sessions/{class_session_id}/bookings/{member_id}",
    responses=answers(404, 409),
)
def cancel(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    store_id: StorePath,
    class_session_id: SessionPath,
    member_id: Annotated[Id, Path()],
) -> CancelOut:
    """Cancel a booking or waitlist place; before the cut-off the seat goes to the waitlist."""
    return bookings.cancel(coord, principal, store_id, class_session_id, member_id)


@router.get("/{store_id}/sessions/{class_session_id}/roster", responses=answers(404, 409))
def roster(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    store_id: StorePath,
    class_session_id: SessionPath,
) -> RosterOut:
    """Booked, signed in, waitlisted and no-shows of one session."""
    return bookings.roster(coord, principal, store_id, class_session_id)
