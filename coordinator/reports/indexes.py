"""Why the report index (``ix_events_kind_hlc_ms_report`` on ``events``, declared in
:mod:`coordinator.schema`; migration ``0002``, ``points`` added by ``0004``,
``class_session_id`` and ``sessions`` by ``0006``, ``staff_id`` by ``0024``) holds the
columns it holds, and the columns written with each row for it.

Every report filters ``events`` by ``kind`` and a time range of ``hlc_ms`` (the ledger's
time) and groups by store, source or member; with the trailing columns the index covers
those queries, so they read the index alone (SQLite: ``USING COVERING INDEX``), never the
event bodies, except for the few kinds whose body fields they need. The body fields read
for every check-in or class sign-in of the period are columns written with the row
(:func:`report_columns`): ``points``, and a class sign-in's ``class_session_id`` and
``sessions``; and for every kind ``staff_id``, the staff member who performed the fact
(:func:`staff_of`), so redemptions per staff member are counted from the index alone.
"""

from __future__ import annotations

from shared.events import ClassSignIn, Event

REPORT_COLUMNS = ("points", "class_session_id", "sessions", "staff_id")
"""``events`` columns copied from the body when the row is written (:func:`report_columns`)."""
POINTS_KINDS = ("checkin", "points_redeem", "reversal")
"""The kinds whose body has a ``points`` field; the ``points`` column is NULL for others."""


def stored_points(event: Event) -> int | None:
    """The ``points`` column of ``event``'s row: ``body.points`` for :data:`POINTS_KINDS`."""
    if event.kind not in POINTS_KINDS:
        return None
    return int(getattr(event.body, "points", 0))


def staff_of(event: Event) -> str | None:
    """The staff member who performed ``event``: the body's ``staff_id`` (a reversal, a
    stored-value spend) or ``staff_user`` (a desk or HQ action), else the staff id of the
    credential a kiosk recorded (staff signed in with their own PIN or staff card); None
    for a member's own tap and for facts nobody performed (expiries, campaigns).

    Migration 0024 fills older rows with the same precedence, read from the JSON."""
    body = event.body
    acting = getattr(body, "staff_id", None) or getattr(body, "staff_user", None)
    if acting:
        return str(acting)
    if event.credential is not None and event.credential.staff_id:
        return event.credential.staff_id
    return None


def report_columns(event: Event) -> dict[str, object]:
    """The ``events`` columns copied from ``event``'s body for the reports."""
    body = event.body
    if isinstance(body, ClassSignIn):
        return {
            "points": None,
            "class_session_id": body.class_session_id,
            "sessions": body.sessions,
            "staff_id": staff_of(event),
        }
    return {
        "points": stored_points(event),
        "class_session_id": None,
        "sessions": None,
        "staff_id": staff_of(event),
    }
