"""Class capacity at kiosks that may be offline: a bounded counter of seats.

Pure: no IO. A class session with seat allocations (``ClassSession.seats``, one per kiosk
of the store, handed out by the coordinator when it layers the store's timetable) is
enforced at every kiosk by two checks on the kiosk's own view (``SeatCount``):

* ``taken < capacity``: the sign-ins the kiosk knows of (the coordinator's, from the
  member snapshots it holds, plus its own not yet confirmed) leave a seat;
* ``pending_here < allocation``: the sign-ins this kiosk admitted that the coordinator
  has not yet confirmed stay within the seats allocated to this kiosk.

Online, confirmations arrive within moments, so ``pending_here`` stays small and the whole
capacity is shared by every kiosk (the allocation is rebalanced by every confirmation).
Offline, a kiosk can fill only its own allocation on top of what it last knew.

The bound (:func:`worst_case_admitted`): only admissions no single kiosk's view counted can
push a class over; those are other kiosks' unconfirmed ones, each at most that kiosk's
allocation. So a session ends with at most ``capacity + sum(allocations) - min(allocation)``
students; with one kiosk, never more than ``capacity``. ``tests/shared/test_seats.py``
drives random fleets of kiosks through outages against it. Reversed sign-ins still count
(the bound errs on the safe side).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from shared.model import ClassSession, Count, Frozen, Id, SeatAllocation

__all__ = [
    "SeatAllocation",
    "SeatCount",
    "allocate_seats",
    "has_seat",
    "next_with_seats",
    "worst_case_admitted",
]


class SeatCount(Frozen):
    """What one kiosk knows about one session's seats."""

    class_session_id: Id
    taken: Count = 0
    """Students signed in as this kiosk sees it: confirmed ones plus its own pending."""
    pending_here: Count = 0
    """Of those, admitted here and not yet confirmed by the coordinator."""


def allocate_seats(
    capacity: int, kiosk_ids: Iterable[str], share_permille: int = 1000
) -> tuple[SeatAllocation, ...]:
    """Split ``share_permille``/1000 of ``capacity`` among the kiosks, as evenly as possible
    (the first kiosks in id order get the remainder). Every kiosk is listed, even with 0."""
    kiosks = sorted(set(kiosk_ids))
    if not kiosks or capacity <= 0:
        return ()
    pool = capacity * max(0, min(share_permille, 1000)) // 1000
    base, extra = divmod(pool, len(kiosks))
    return tuple(
        SeatAllocation(kiosk_id=k, seats=base + (1 if i < extra else 0))
        for i, k in enumerate(kiosks)
    )


def allocation_of(session: ClassSession, kiosk_id: str) -> int:
    """Seats ``kiosk_id`` may fill unconfirmed in ``session`` (0 when it is not listed)."""
    return next((a.seats for a in session.seats if a.kiosk_id == kiosk_id), 0)


def has_seat(session: ClassSession, kiosk_id: str, count: SeatCount | None) -> bool:
    """True when ``kiosk_id`` may admit one more student to ``session``.

    A session without allocations is not enforced at kiosks (classes published before
    seat allocation, or with no capacity)."""
    if not session.seats or session.capacity <= 0:
        return True
    taken = count.taken if count else 0
    pending = count.pending_here if count else 0
    return taken < session.capacity and pending < allocation_of(session, kiosk_id)


def next_with_seats(
    full: ClassSession,
    classes: Sequence[ClassSession],
    kiosk_id: str,
    counts: Mapping[str, SeatCount],
) -> ClassSession | None:
    """The next session after ``full`` in its store, of its class type if one has seats,
    else of any type, that ``kiosk_id`` could admit one more student to."""
    later = sorted(
        (
            c
            for c in classes
            if c.store_id == full.store_id
            and c.starts_ms > full.starts_ms
            and has_seat(c, kiosk_id, counts.get(c.class_session_id))
        ),
        key=lambda c: (c.class_type != full.class_type, c.starts_ms, c.class_session_id),
    )
    return later[0] if later else None


def worst_case_admitted(session: ClassSession) -> int:
    """Most students ``session`` can end with, however its kiosks go offline: the capacity
    plus every kiosk's allocation but the smallest (see the module docstring)."""
    if not session.seats or session.capacity <= 0:
        return session.capacity
    seats = [a.seats for a in session.seats]
    return session.capacity + sum(seats) - min(seats)
