"""The index report queries and the fleet's rejection-rate count run on (migration ``0002``).

Every report filters ``events`` by ``kind`` and a time range of ``hlc_ms`` (the ledger's
time) and groups by store, source or member; with the trailing columns the index covers
those queries, so they read the index alone (SQLite: ``USING COVERING INDEX``), never the
event bodies, except for the few kinds whose body fields they need.
"""

from __future__ import annotations

import sqlalchemy as sa

from coordinator.schema import events

REPORT_INDEX = "ix_events_kind_hlc_ms_report"
REPORT_INDEX_COLUMNS = ("kind", "hlc_ms", "store_id", "source", "member_id", "quarantined")

events_report_index = sa.Index(REPORT_INDEX, *(events.c[name] for name in REPORT_INDEX_COLUMNS))
