"""Coaches: their own sessions of the week with rosters, and marking a session as taught.

A coach is a staff account with the ``coach`` role; a session is theirs when its
``instructor`` (the timetable slot's coach, or a substitute) is their username. Marking a
session taught records it once, with the students signed in at that moment, credited to
the session's coach; the staff commission report reads it (classes taught, attendance).
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.errors import conflict, forbidden, invalid
from coordinator.ledger.class_capacity import session_signins
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal, Role
from coordinator.services.bookings import find_session, require_own_session
from coordinator.services.common import Out, audit
from coordinator.services.timetables import week_sessions
from shared.booking import BookingStatus


class CoachSession(Out):
    """One of a coach's sessions, with how full it is and whether it was taught."""

    class_session_id: str
    store_id: str
    title_zh: str
    title_en: str
    starts_ms: int
    ends_ms: int
    capacity: int
    booked: int
    waitlisted: int
    taught: bool
    attendance: int | None = Field(description="Students signed in when marked taught.")


class MyClasses(Out):
    """A coach's sessions of one store-local week (Monday first)."""

    coach: str
    store_id: str
    timezone: str
    first_day: date
    last_day: date
    sessions: list[CoachSession]


class TaughtOut(Out):
    """A session marked as taught, credited to its coach."""

    class_session_id: str
    store_id: str
    coach: str
    attendance: int = Field(description="Students signed in (booked and walk-ins).")
    marked_by: str
    marked_ms: int


def my_classes(coord: Coordinator, principal: Principal, day: date | None) -> MyClasses:
    """The caller's own sessions (as coach) of the store-local week holding ``day``."""
    if principal.role is not Role.COACH or principal.store_id is None:
        raise forbidden("only coaches have their own classes", "coach_only")
    week = week_sessions(coord, principal, principal.store_id, day)
    mine = [s for s in week.sessions if s.instructor == principal.username]
    ids = [s.class_session_id for s in mine]
    cb, ct = schema.class_bookings, schema.classes_taught
    counts: dict[tuple[str, str], int] = {}
    with coord.db.read() as conn:
        for sid, status, n in conn.execute(
            sa.select(cb.c.class_session_id, cb.c.status, sa.func.count())
            .where(cb.c.class_session_id.in_(ids))
            .group_by(cb.c.class_session_id, cb.c.status)
        ):
            counts[(sid, status)] = int(n)
        taught = {
            r.class_session_id: r.attendance
            for r in conn.execute(sa.select(ct).where(ct.c.class_session_id.in_(ids)))
        }
    return MyClasses(
        coach=principal.username,
        store_id=principal.store_id,
        timezone=week.timezone,
        first_day=week.first_day,
        last_day=week.last_day,
        sessions=[
            CoachSession(
                class_session_id=s.class_session_id,
                store_id=s.store_id,
                title_zh=s.title_zh,
                title_en=s.title_en,
                starts_ms=s.starts_ms,
                ends_ms=s.ends_ms,
                capacity=s.capacity,
                booked=counts.get((s.class_session_id, BookingStatus.BOOKED.value), 0),
                waitlisted=counts.get((s.class_session_id, BookingStatus.WAITLISTED.value), 0),
                taught=s.class_session_id in taught,
                attendance=taught.get(s.class_session_id),
            )
            for s in mine
        ],
    )


def _taught_out(row: sa.Row[object]) -> TaughtOut:
    return TaughtOut.model_validate(row, from_attributes=True)


def taught_row(conn: Connection, class_session_id: str) -> sa.Row[object] | None:
    """The session's taught record, if it was marked."""
    ct = schema.classes_taught
    return conn.execute(sa.select(ct).where(ct.c.class_session_id == class_session_id)).first()


def mark_taught(
    coord: Coordinator, principal: Principal, store_id: str, class_session_id: str
) -> TaughtOut:
    """Mark a session taught (once; marking again answers the first record), credited to
    its coach with the students signed in. The coach themself or a manager may mark it."""
    principal.require_store(store_id)
    if principal.role is Role.VIEWER:
        raise forbidden("the viewer role has read-only access", "read_only")
    if principal.role is Role.FRONT_DESK:
        raise forbidden("only the coach or a manager marks a class taught", "coach_only")
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        session = find_session(conn, store_id, class_session_id)
        require_own_session(principal, session)
        if now < session.starts_ms:
            raise invalid("class_not_started", "a class is marked taught once it has started")
        if not session.instructor:
            raise conflict("no_coach", "this class has no coach to credit", "class_session_id")
        existing = taught_row(conn, class_session_id)
        if existing is not None:
            return _taught_out(existing)
        attendance = len([e for e in session_signins(conn, class_session_id) if e.member_id])
        values = {
            "class_session_id": class_session_id,
            "store_id": store_id,
            "coach": session.instructor,
            "class_type": session.class_type,
            "starts_ms": session.starts_ms,
            "attendance": attendance,
            "marked_by": principal.username,
            "marked_ms": now,
        }
        conn.execute(sa.insert(schema.classes_taught).values(**values))
        audit(
            conn,
            principal.username,
            "class.taught",
            class_session_id,
            now,
            coach=session.instructor,
            attendance=attendance,
        )
        row = taught_row(conn, class_session_id)
    assert row is not None
    return _taught_out(row)
