"""Why the report index (``ix_events_kind_hlc_ms_report`` on ``events``, declared in
:mod:`coordinator.schema`; migration ``0002``, ``points`` added by ``0004``,
``class_session_id`` and ``sessions`` by ``0006``) holds the columns it holds, and the
columns written with each row for it.

Every report filters ``events`` by ``kind`` and a time range of ``hlc_ms`` (the ledger's
time) and groups by store, source or member; with the trailing columns the index covers
those queries, so they read the index alone (SQLite: ``USING COVERING INDEX``), never the
event bodies, except for the few kinds whose body fields they need. The body fields read
for every check-in or class sign-in of the period are columns written with the row
(:func:`report_columns`): ``points``, and a class sign-in's ``class_session_id`` and
``sessions``.
"""

from __future__ import annotations

from shared.events import ClassSignIn, Event

REPORT_COLUMNS = ("points", "class_session_id", "sessions")
"""``events`` columns copied from the body when the row is written (:func:`report_columns`)."""
POINTS_KINDS = ("checkin", "points_redeem", "reversal")
"""The kinds whose body has a ``points`` field; the ``points`` column is NULL for others."""


def stored_points(event: Event) -> int | None:
    """The ``points`` column of ``event``'s row: ``body.points`` for :data:`POINTS_KINDS`."""
    if event.kind not in POINTS_KINDS:
        return None
    return int(getattr(event.body, "points", 0))


def report_columns(event: Event) -> dict[str, object]:
    """The ``events`` columns copied from ``event``'s body for the reports."""
    body = event.body
    if isinstance(body, ClassSignIn):
        return {
            "points": None,
            "class_session_id": body.class_session_id,
            "sessions": body.sessions,
        }
    return {"points": stored_points(event), "class_session_id": None, "sessions": None}
