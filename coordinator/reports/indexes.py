"""The index report queries and the fleet's rejection-rate count run on (migration ``0002``,
``points`` added by ``0004``).

Every report filters ``events`` by ``kind`` and a time range of ``hlc_ms`` (the ledger's
time) and groups by store, source or member; with the trailing columns the index covers
those queries, so they read the index alone (SQLite: ``USING COVERING INDEX``), never the
event bodies, except for the few kinds whose body fields they need. Points, summed over
every check-in of the period, are the ``points`` column (:func:`stored_points`).
"""

from __future__ import annotations

import sqlalchemy as sa

from coordinator.schema import events
from shared.events import Event

REPORT_INDEX = "ix_events_kind_hlc_ms_report"
REPORT_INDEX_COLUMNS = (
    "kind",
    "hlc_ms",
    "store_id",
    "source",
    "member_id",
    "quarantined",
    "points",
)
POINTS_KINDS = ("checkin", "points_redeem", "reversal")
"""The kinds whose body has a ``points`` field; the ``points`` column is NULL for others."""

events_report_index = sa.Index(REPORT_INDEX, *(events.c[name] for name in REPORT_INDEX_COLUMNS))


def stored_points(event: Event) -> int | None:
    """The ``points`` column of ``event``'s row: ``body.points`` for :data:`POINTS_KINDS`."""
    if event.kind not in POINTS_KINDS:
        return None
    return int(getattr(event.body, "points", 0))
