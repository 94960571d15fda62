"""Class bookings at the coordinator: book (or join the waitlist), cancel until the cut-off
with the freed seat going to the waitlist, and a session's roster.

The rules are ``shared.booking``'s. Every change that alters who is booked re-layers the
store's rule bundle, so the store's kiosks get each session's booked members (admitted
always, their seats kept from walk-ins) as a new version.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.downstream import rule_bundles, timetables
from coordinator.errors import ApiError, conflict, forbidden, not_found
from coordinator.ledger.class_capacity import session_signins
from coordinator.ledger.jsonrows import ledger_from_row
from coordinator.outbound import notify
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal, Role
from coordinator.services.common import Body, Out, audit, member_row
from coordinator.services.rules import push_bundle
from shared.booking import (
    ACTIVE,
    MESSAGES,
    BookingProblem,
    BookingStatus,
    Held,
    booking_problem,
    can_take_seat,
    is_late,
)
from shared.model import DAY_MS, BookingRules, ClassSession, Id, MemberLedger, RuleBundle
from shared.timetable import cancelled_on, expand, horizon

_STATUS = {
    BookingProblem.SESSION_PAST: 409,
    BookingProblem.SESSION_CANCELLED: 409,
    BookingProblem.ALREADY_BOOKED: 409,
    BookingProblem.OVERLAPPING: 409,
    BookingProblem.NOT_OPEN_YET: 422,
    BookingProblem.NO_USABLE_PASS: 422,
}


class BookIn(Body):
    """Who books (a member of the chain)."""

    member_id: Id


class BookingOut(Out):
    """A member's booking of one session."""

    class_session_id: str
    member_id: str
    store_id: str
    status: str = Field(description="booked, waitlisted, cancelled or late_cancelled")
    starts_ms: int
    ends_ms: int
    queued_ms: int
    updated_ms: int
    waitlist_position: int | None = Field(
        description="1 for the first in line; None if not waiting."
    )


class CancelOut(Out):
    """A cancellation, and the waitlisted member it gave the seat to (if any)."""

    booking: BookingOut
    late: bool = Field(description="After the cut-off: a late cancellation, no promotion.")
    promoted: BookingOut | None


class RosterEntry(Out):
    """A student of a session."""

    member_id: str
    display_name: str | None
    booked: bool
    signed_in_ms: int | None


class RosterOut(Out):
    """Who is coming to a session, who came, who waits and who did not show up."""

    class_session_id: str
    title_zh: str
    title_en: str
    starts_ms: int
    ends_ms: int
    capacity: int
    coach: str
    booked: list[RosterEntry]
    signed_in: list[RosterEntry]
    waitlisted: list[RosterEntry]
    no_shows: list[RosterEntry] = Field(
        description="Booked and not signed in, once sign-in has closed."
    )


def _error(problem: BookingProblem) -> ApiError:
    zh, en = MESSAGES[problem]
    return ApiError(_STATUS[problem], problem.value, f"{en} ({zh})", "class_session_id")


def find_session(conn: Connection, store_id: str, class_session_id: str) -> ClassSession:
    """The session of the store's timetable with this id (404), refused when cancelled."""
    stored = timetables.current(conn, store_id)
    slot_id, _, day_text = class_session_id.rpartition(":")
    try:
        day = date(int(day_text[:4]), int(day_text[4:6]), int(day_text[6:8]))
    except ValueError:
        day = None
    if stored is None or day is None or len(day_text) != 8:
        raise not_found("class_session", class_session_id, "class_session_id")
    if stored.timetable.slot(slot_id) is not None and cancelled_on(stored.timetable, slot_id, day):
        raise _error(BookingProblem.SESSION_CANCELLED)
    found = next(
        (s for s in expand(stored.timetable, day, day) if s.class_session_id == class_session_id),
        None,
    )
    if found is None:
        raise not_found("class_session", class_session_id, "class_session_id")
    return found


def require_own_session(principal: Principal, session: ClassSession) -> None:
    """Refuse a coach a session somebody else teaches (rosters and marking: own only)."""
    if principal.role is Role.COACH and session.instructor != principal.username:
        raise forbidden("coaches see and mark only the sessions they teach", "not_your_class")


def _ledger(conn: Connection, member_id: str) -> MemberLedger:
    ms = schema.member_states
    row = conn.execute(sa.select(ms.c.ledger).where(ms.c.member_id == member_id)).scalar()
    return ledger_from_row(row) if row else MemberLedger()


def _holds(conn: Connection, member_id: str, now_ms: int) -> list[Held]:
    """The member's active bookings of sessions not over yet."""
    cb = schema.class_bookings
    rows = conn.execute(
        sa.select(cb).where(
            cb.c.member_id == member_id,
            cb.c.status.in_([s.value for s in ACTIVE]),
            cb.c.ends_ms > now_ms,
        )
    )
    return [Held(r.class_session_id, r.starts_ms, r.ends_ms, BookingStatus(r.status)) for r in rows]


def _rules(conn: Connection, store_id: str) -> BookingRules:
    bundle: RuleBundle | None = rule_bundles.base_for_store(conn, store_id)
    return bundle.rules.booking if bundle else BookingRules()


def _row(conn: Connection, class_session_id: str, member_id: str) -> sa.Row[Any] | None:
    cb = schema.class_bookings
    return conn.execute(
        sa.select(cb).where(cb.c.class_session_id == class_session_id, cb.c.member_id == member_id)
    ).first()


def _waitlist(conn: Connection, class_session_id: str) -> list[sa.Row[Any]]:
    cb = schema.class_bookings
    return list(
        conn.execute(
            sa.select(cb)
            .where(cb.c.class_session_id == class_session_id, cb.c.status == "waitlisted")
            .order_by(cb.c.queued_ms, cb.c.member_id)
        )
    )


def _out(conn: Connection, row: sa.Row[Any]) -> BookingOut:
    position = None
    if row.status == BookingStatus.WAITLISTED:
        line = [r.member_id for r in _waitlist(conn, row.class_session_id)]
        position = line.index(row.member_id) + 1
    return BookingOut(
        class_session_id=row.class_session_id,
        member_id=row.member_id,
        store_id=row.store_id,
        status=row.status,
        starts_ms=row.starts_ms,
        ends_ms=row.ends_ms,
        queued_ms=row.queued_ms,
        updated_ms=row.updated_ms,
        waitlist_position=position,
    )


def _booked_count(conn: Connection, class_session_id: str) -> int:
    cb = schema.class_bookings
    return int(
        conn.execute(
            sa.select(sa.func.count()).where(
                cb.c.class_session_id == class_session_id, cb.c.status == "booked"
            )
        ).scalar_one()
    )


def _set_status(
    conn: Connection, row: sa.Row[Any], status: BookingStatus, user: str, now_ms: int
) -> sa.Row[Any]:
    cb = schema.class_bookings
    conn.execute(
        sa.update(cb)
        .where(cb.c.class_session_id == row.class_session_id, cb.c.member_id == row.member_id)
        .values(status=status.value, updated_ms=now_ms, updated_by=user)
    )
    found = _row(conn, row.class_session_id, row.member_id)
    assert found is not None
    return found


def book(
    coord: Coordinator, principal: Principal, store_id: str, class_session_id: str, body: BookIn
) -> BookingOut:
    """Book the member into the session, or put them on its waitlist when it is full.

    Refused, with nothing changed: a past or cancelled session, one not open for booking
    yet, a second booking of the same session, a booking overlapping another of theirs,
    and a member without a pass that can pay for it."""
    principal.require_write()
    principal.require_store(store_id)
    return book_for(coord, principal.username, store_id, class_session_id, body.member_id)


def book_for(
    coord: Coordinator, user: str, store_id: str, class_session_id: str, member_id: str
) -> BookingOut:
    """:func:`book` once the caller is authorised (staff for the store, or the member's own
    phone card link); ``user`` is who the audit log names."""
    body = BookIn(member_id=member_id)
    now = coord.clock.wall_ms()
    layered = None
    with coord.db.write() as conn:
        session = find_session(conn, store_id, class_session_id)
        member_row(conn, body.member_id)
        problem = booking_problem(
            session, _ledger(conn, body.member_id), _holds(conn, body.member_id, now), now,
            _rules(conn, store_id),
        )  # fmt: skip
        if problem is not None:
            raise _error(problem)
        full = _booked_count(conn, class_session_id) >= session.capacity
        status = BookingStatus.WAITLISTED if full else BookingStatus.BOOKED
        values = {
            "store_id": store_id,
            "status": status.value,
            "class_type": session.class_type,
            "starts_ms": session.starts_ms,
            "ends_ms": session.ends_ms,
            "queued_ms": now,
            "updated_ms": now,
            "updated_by": user,
        }
        cb = schema.class_bookings
        if _row(conn, class_session_id, body.member_id) is None:
            conn.execute(
                sa.insert(cb).values(
                    class_session_id=class_session_id, member_id=body.member_id, **values
                )
            )
        else:  # booked again after a cancellation: back in line from now
            conn.execute(
                sa.update(cb)
                .where(cb.c.class_session_id == class_session_id, cb.c.member_id == body.member_id)
                .values(**values)
            )
        audit(
            conn, user, f"booking.{status.value}", class_session_id, now,
            member_id=body.member_id,
        )  # fmt: skip
        if status is BookingStatus.BOOKED:
            layered = timetables.publish_layered(conn, store_id, user=user, now_ms=now)
        row = _row(conn, class_session_id, body.member_id)
        assert row is not None
        out = _out(conn, row)
    if layered is not None:
        push_bundle(coord, layered)
    return out


def cancel(
    coord: Coordinator, principal: Principal, store_id: str, class_session_id: str, member_id: str
) -> CancelOut:
    """Cancel a booking or a waitlist place. Before the cut-off the freed seat goes to the
    first waitlisted member who can take it (told through the notifications outbox); after
    it the cancellation is late (the chain's penalty setting applies) and nobody moves up."""
    principal.require_write()
    principal.require_store(store_id)
    return cancel_for(coord, principal.username, store_id, class_session_id, member_id)


def cancel_for(
    coord: Coordinator, user: str, store_id: str, class_session_id: str, member_id: str
) -> CancelOut:
    """:func:`cancel` once the caller is authorised (``user`` for the audit log)."""
    now = coord.clock.wall_ms()
    layered = None
    with coord.db.write() as conn:
        row = _row(conn, class_session_id, member_id)
        if row is None or row.store_id != store_id:
            raise not_found("booking", f"{class_session_id}/{member_id}", "member_id")
        if row.status not in {s.value for s in ACTIVE}:
            raise conflict("booking_not_active", f"the booking is already {row.status}")
        if now >= row.starts_ms:
            raise conflict("session_started", "the class has started: it can't be cancelled")
        session = find_session(conn, store_id, class_session_id)
        rules = _rules(conn, store_id)
        late = is_late(session, now, rules)
        was_booked = row.status == BookingStatus.BOOKED
        status = BookingStatus.LATE_CANCELLED if late and was_booked else BookingStatus.CANCELLED
        cancelled = _set_status(conn, row, status, user, now)
        audit(
            conn, user, f"booking.{status.value}", class_session_id, now,
            member_id=member_id, penalty=rules.late_cancel_penalty if late else "none",
        )  # fmt: skip
        promoted = None
        if was_booked and not late:
            promoted = _promote(conn, session, user, now)
        if was_booked:
            layered = timetables.publish_layered(conn, store_id, user=user, now_ms=now)
        out = CancelOut(
            booking=_out(conn, cancelled),
            late=late,
            promoted=_out(conn, promoted) if promoted is not None else None,
        )
    if layered is not None:
        push_bundle(coord, layered)
    return out


def _promote(conn: Connection, session: ClassSession, user: str, now_ms: int) -> sa.Row[Any] | None:
    """Give a freed seat to the first waitlisted member who can take it, and tell them."""
    for waiting in _waitlist(conn, session.class_session_id):
        member = waiting.member_id
        if not can_take_seat(session, _ledger(conn, member), _holds(conn, member, now_ms)):
            continue
        promoted = _set_status(conn, waiting, BookingStatus.BOOKED, user, now_ms)
        audit(conn, user, "booking.promoted", session.class_session_id, now_ms, member_id=member)
        notify.enqueue(
            conn,
            kind="waitlist_seat",
            dedupe_key=f"waitlist-seat:{session.class_session_id}:{member}",
            payload={
                "class_session_id": session.class_session_id,
                "title_zh": session.title_zh,
                "title_en": session.title_en,
                "starts_ms": session.starts_ms,
                "store_id": session.store_id,
                "message_zh": f"候补成功：您已预约「{session.title_zh}」。",
                "message_en": f"A seat freed up: you are booked into {session.title_en}.",
            },
            now_ms=now_ms,
            member_id=member,
            store_id=session.store_id,
        )
        return promoted
    return None


def roster(
    coord: Coordinator, principal: Principal, store_id: str, class_session_id: str
) -> RosterOut:
    """Booked, signed in (booked or walk-in), waitlisted and no-shows of one session."""
    principal.require_store(store_id)
    now = coord.clock.wall_ms()
    cb = schema.class_bookings
    m = schema.members
    with coord.db.read() as conn:
        session = find_session(conn, store_id, class_session_id)
        require_own_session(principal, session)
        rows = list(
            conn.execute(
                sa.select(cb)
                .where(cb.c.class_session_id == class_session_id)
                .order_by(cb.c.queued_ms, cb.c.member_id)
            )
        )
        signins = {e.member_id: e.hlc_ms for e in session_signins(conn, class_session_id)}
        ids = sorted({r.member_id for r in rows} | {k for k in signins if k})
        names: dict[str, str] = {
            r.member_id: r.display_name
            for r in conn.execute(
                sa.select(m.c.member_id, m.c.display_name).where(m.c.member_id.in_(ids))
            )
        }
    booked_ids = {r.member_id for r in rows if r.status == BookingStatus.BOOKED}

    def entry(member_id: str) -> RosterEntry:
        return RosterEntry(
            member_id=member_id,
            display_name=names.get(member_id),
            booked=member_id in booked_ids,
            signed_in_ms=signins.get(member_id),
        )

    closed = now > session.signin_closes_ms
    return RosterOut(
        class_session_id=class_session_id,
        title_zh=session.title_zh,
        title_en=session.title_en,
        starts_ms=session.starts_ms,
        ends_ms=session.ends_ms,
        capacity=session.capacity,
        coach=session.instructor,
        booked=[entry(r.member_id) for r in rows if r.status == BookingStatus.BOOKED],
        signed_in=[entry(k) for k in sorted(signins, key=lambda k: signins[k]) if k],
        waitlisted=[entry(r.member_id) for r in rows if r.status == BookingStatus.WAITLISTED],
        no_shows=[
            entry(r.member_id)
            for r in rows
            if closed and r.status == BookingStatus.BOOKED and r.member_id not in signins
        ],
    )


class MemberSession(Out):
    """A session as a member's phone card lists it, with their own booking if any."""

    class_session_id: str
    title_zh: str
    title_en: str
    starts_ms: int
    ends_ms: int
    coach: str
    capacity: int
    seats_left: int = Field(description="Seats not booked yet (0: joining means the waitlist).")
    my_status: str | None = Field(description="booked or waitlisted; None when not booked.")
    waitlist_position: int | None


class MemberClasses(Out):
    """A store's sessions of the coming days for one member to book."""

    store_id: str
    sessions: list[MemberSession]


class MemberBookIn(Body):
    """A session a member books from their phone card."""

    store_id: Id
    class_session_id: Id


PHONE_CARD_USER = "phone-card"
"""Who the audit log names for what a member did from their phone card."""


def member_classes(coord: Coordinator, member_id: str, store_id: str, days: int) -> MemberClasses:
    """The store's sessions from now on for ``days`` days (up to the booking horizon), with
    seats left and the member's own bookings."""
    now = coord.clock.wall_ms()
    cb = schema.class_bookings
    with coord.db.read() as conn:
        stored = timetables.current(conn, store_id)
        if stored is None:
            raise not_found("timetable", store_id, "store_id")
        rules = _rules(conn, store_id)
        zone = stored.timetable.timezone
        first, _ = horizon(now, zone)
        span = min(days, rules.opens_days) + 1
        sessions = [
            s
            for s in expand(stored.timetable, first, first + timedelta(days=span))
            if s.starts_ms > now and s.starts_ms - now <= rules.opens_days * DAY_MS
        ][:200]
        ids = [s.class_session_id for s in sessions]
        rows = list(conn.execute(sa.select(cb).where(cb.c.class_session_id.in_(ids))))
        mine = {r.class_session_id: r for r in rows if r.member_id == member_id}
        booked: dict[str, int] = {}
        for r in rows:
            if r.status == BookingStatus.BOOKED:
                booked[r.class_session_id] = booked.get(r.class_session_id, 0) + 1
        out = []
        for s in sessions:
            own = mine.get(s.class_session_id)
            active = own is not None and own.status in {a.value for a in ACTIVE}
            out.append(
                MemberSession(
                    class_session_id=s.class_session_id,
                    title_zh=s.title_zh,
                    title_en=s.title_en,
                    starts_ms=s.starts_ms,
                    ends_ms=s.ends_ms,
                    coach=s.instructor,
                    capacity=s.capacity,
                    seats_left=max(0, s.capacity - booked.get(s.class_session_id, 0)),
                    my_status=own.status if own is not None and active else None,
                    waitlist_position=_out(conn, own).waitlist_position
                    if own is not None and active
                    else None,
                )
            )
    return MemberClasses(store_id=store_id, sessions=out)
