"""Booking from the member's phone card: the personal link authorises the member, for
their own bookings only (the same rules as at the front desk, ``coordinator.services.bookings``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from coordinator.api.answers import answers
from coordinator.api.deps import CoordinatorDep
from coordinator.services import bookings, member_card
from coordinator.services.bookings import (
    PHONE_CARD_USER,
    BookingOut,
    CancelOut,
    MemberBookIn,
    MemberClasses,
)
from shared.model import Id

router = APIRouter(prefix="/api/v1/member", tags=["member card"])
Link = Annotated[str, Query(min_length=10, max_length=600)]


@router.get("/classes", responses=answers(401, 404, 422))
def member_classes(
    coord: CoordinatorDep,
    link: Link,
    store_id: Annotated[Id, Query()],
    days: Annotated[int, Query(ge=1, le=60)] = 7,
) -> MemberClasses:
    """The store's sessions of the coming days, with seats left and the member's bookings."""
    member_id = member_card.member_of_link(coord, link)
    return bookings.member_classes(coord, member_id, store_id, days)


@router.post("/bookings", status_code=201, responses=answers(401, 404, 409, 422))
def member_book(coord: CoordinatorDep, link: Link, body: MemberBookIn) -> BookingOut:
    """Book a session (or join its waitlist when it is full) for the link's member."""
    member_id = member_card.member_of_link(coord, link)
    return bookings.book_for(
        coord, PHONE_CARD_USER, body.store_id, body.class_session_id, member_id
    )


@router.delete("/bookings", responses=answers(401, 404, 409, 422))
def member_cancel(
    coord: CoordinatorDep,
    link: Link,
    store_id: Annotated[Id, Query()],
    class_session_id: Annotated[Id, Query()],
) -> CancelOut:
    """Cancel the link's member's booking or waitlist place."""
    member_id = member_card.member_of_link(coord, link)
    return bookings.cancel_for(coord, PHONE_CARD_USER, store_id, class_session_id, member_id)
