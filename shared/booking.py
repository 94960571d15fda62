"""Class bookings and the waitlist: what may be booked, cancelled and promoted, and when.

Pure: no IO. Booking is an online action at the coordinator; these rules decide it from the
session, the member's folded ledger, the member's other bookings and the chain's
:class:`~shared.model.BookingRules`. A freed seat goes to the first on the waitlist who can
still take it (a usable pass, no overlapping booking) until the cancel cut-off; after it,
nobody is booked by surprise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from shared.model import (
    DAY_MS,
    BookingRules,
    ClassSession,
    MemberLedger,
    PassKind,
    PassState,
    Penalty,
)


class BookingStatus(StrEnum):
    """Where a booking stands."""

    BOOKED = "booked"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    LATE_CANCELLED = "late_cancelled"


ACTIVE = frozenset({BookingStatus.BOOKED, BookingStatus.WAITLISTED})


class BookingProblem(StrEnum):
    """Why a booking is refused (an API error code each)."""

    SESSION_PAST = "session_past"
    SESSION_CANCELLED = "session_cancelled"
    NOT_OPEN_YET = "booking_not_open"
    ALREADY_BOOKED = "already_booked"
    OVERLAPPING = "overlapping_booking"
    NO_USABLE_PASS = "no_usable_pass"


MESSAGES: dict[BookingProblem, tuple[str, str]] = {
    BookingProblem.SESSION_PAST: (
        "这节课已经开始或结束，不能预约。",
        "This class has started or is over.",
    ),
    BookingProblem.SESSION_CANCELLED: ("这节课已取消。", "This class is cancelled."),
    BookingProblem.NOT_OPEN_YET: (
        "这节课还未开放预约。",
        "Booking for this class is not open yet.",
    ),
    BookingProblem.ALREADY_BOOKED: (
        "您已预约（或在候补名单中）。",
        "You already hold a booking (or a waitlist place) for this class.",
    ),
    BookingProblem.OVERLAPPING: (
        "您在同一时间已预约了另一节课。",
        "You are booked into another class at the same time.",
    ),
    BookingProblem.NO_USABLE_PASS: (
        "没有可用于这节课的课程卡（次数用完或不适用）。",
        "No pass that can be used for this class (no sessions left, or not valid for it).",
    ),
}


@dataclass(frozen=True)
class Held:
    """One of the member's bookings, as the rules need it."""

    class_session_id: str
    starts_ms: int
    ends_ms: int
    status: BookingStatus


def overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    """True when two half-open time spans share an instant."""
    return a_start < b_end and b_start < a_end


def usable_pass(
    ledger: MemberLedger, session: ClassSession, store_id: str, held: Iterable[Held]
) -> PassState | None:
    """A pass that can pay for ``session`` on top of the member's other booked sessions
    still to come (``held``: the caller passes those not yet attended): valid at its start,
    for its class type and store, and (a punch pass) with a session left for each."""
    upcoming = sum(
        1
        for h in held
        if h.status is BookingStatus.BOOKED and h.class_session_id != session.class_session_id
    )
    for p in sorted(ledger.passes, key=lambda p: (p.kind is not PassKind.TIME, p.pass_id)):
        if not p.covers(session.class_type, store_id) or p.problem_at(session.starts_ms):
            continue
        if p.kind is PassKind.TIME or p.sessions_left > upcoming:
            return p
    return None


def booking_problem(
    session: ClassSession,
    ledger: MemberLedger,
    held: Sequence[Held],
    now_ms: int,
    rules: BookingRules,
) -> BookingProblem | None:
    """Why the member may not book (or join the waitlist of) ``session`` now, or None."""
    if now_ms >= session.starts_ms:
        return BookingProblem.SESSION_PAST
    if session.starts_ms - now_ms > rules.opens_days * DAY_MS:
        return BookingProblem.NOT_OPEN_YET
    if any(h.class_session_id == session.class_session_id and h.status in ACTIVE for h in held):
        return BookingProblem.ALREADY_BOOKED
    if any(
        h.status is BookingStatus.BOOKED
        and overlaps(h.starts_ms, h.ends_ms, session.starts_ms, session.ends_ms)
        for h in held
    ):
        return BookingProblem.OVERLAPPING
    if usable_pass(ledger, session, session.store_id, held) is None:
        return BookingProblem.NO_USABLE_PASS
    return None


def is_late(session: ClassSession, now_ms: int, rules: BookingRules) -> bool:
    """True from the cancel cut-off on: a cancellation is late, the waitlist is frozen."""
    return now_ms > session.starts_ms - rules.cancel_cutoff_min * 60_000


def can_take_seat(session: ClassSession, ledger: MemberLedger, held: Sequence[Held]) -> bool:
    """Whether a waitlisted member can be promoted into ``session`` now: still a usable
    pass, and no booked session overlapping it (never auto-booked into two at once)."""
    others = [h for h in held if h.class_session_id != session.class_session_id]
    if any(
        h.status is BookingStatus.BOOKED
        and overlaps(h.starts_ms, h.ends_ms, session.starts_ms, session.ends_ms)
        for h in others
    ):
        return False
    return usable_pass(ledger, session, session.store_id, others) is not None


PENALTY_GRACE_MS = 3_600_000
"""How long after a session ends its bookings are judged (late sign-ins from a kiosk that
was offline during the class still count if they arrive within this hour)."""

PENALTY_LOOKBACK_MS = 7 * DAY_MS
"""Bookings of sessions that ended longer ago are never judged: turning penalties on (or
upgrading) does not punish a studio's whole history at once."""


@dataclass(frozen=True)
class PenaltyDue:
    """What the chain's rules make a booking cost once its session is over."""

    reason: str
    """``attended``, ``late_cancel`` or ``no_show``."""
    penalty: Penalty
    """``none``, ``deduct_session`` or ``strike``."""
    pass_id: str | None = None
    """The punch pass a session is deducted from (``deduct_session`` only)."""


def penalty_due(
    status: BookingStatus,
    signed_in: bool,
    ledger: MemberLedger,
    session_class_type: str,
    store_id: str,
    starts_ms: int,
    rules: BookingRules,
) -> PenaltyDue:
    """The penalty a booking of a session that is over earns: a late cancellation costs
    ``rules.late_cancel_penalty``, a booked member who never signed in
    ``rules.no_show_penalty``. A session is deducted from a punch pass valid for the class
    with a session left; a member without one gets a strike instead (nothing to deduct)."""
    if status is BookingStatus.LATE_CANCELLED:
        reason, penalty = "late_cancel", rules.late_cancel_penalty
    elif signed_in:
        return PenaltyDue("attended", "none")
    else:
        reason, penalty = "no_show", rules.no_show_penalty
    if penalty != "deduct_session":
        return PenaltyDue(reason, penalty)
    for p in sorted(ledger.passes, key=lambda p: p.pass_id):
        if (
            p.kind is PassKind.PUNCH
            and p.sessions_left > 0
            and p.covers(session_class_type, store_id)
            and not p.problem_at(starts_ms)
        ):
            return PenaltyDue(reason, "deduct_session", p.pass_id)
    return PenaltyDue(reason, "strike")
