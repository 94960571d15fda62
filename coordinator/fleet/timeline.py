"""A kiosk's history of status changes: what changed, from what, to what, and when.

Rows are written only on a change, never per message: the connection state by the ingest
(:func:`record_connection`, in the same transaction that stores the retained status, so
even a drop and reconnect between two monitor ticks is counted), everything else by the
fleet monitor after it won the compare-and-set on the kiosk's recorded facts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator.schema import kiosk_timeline

log = logging.getLogger(__name__)

CONNECTED = "connected"


@dataclass(frozen=True)
class Change:
    """One change of one fact of a kiosk."""

    kiosk_id: str
    fact: str
    value: str
    previous: str | None
    at_ms: int
    detail: dict[str, Any] = field(default_factory=dict)


def insert(conn: Connection, changes: Sequence[Change]) -> None:
    """Append changes to the timeline (inside the caller's transaction)."""
    if not changes:
        return
    conn.execute(
        sa.insert(kiosk_timeline),
        [
            {
                "kiosk_id": c.kiosk_id,
                "at_ms": c.at_ms,
                "fact": c.fact[:40],
                "value": c.value[:200],
                "previous": None if c.previous is None else c.previous[:200],
                "detail": json.dumps(c.detail, separators=(",", ":"), sort_keys=True),
            }
            for c in changes
        ],
    )


def record_connection(
    conn: Connection, kiosk_id: str, state: str, previous: str | None, at_ms: int
) -> None:
    """Record a change of the retained status (online/offline), if it is one.

    Runs inside the ingest's transaction under a savepoint: a failure here is logged and
    never costs the ingest its status update.
    """
    if state == previous:
        return
    try:
        with conn.begin_nested():
            insert(conn, [Change(kiosk_id, CONNECTED, state, previous, at_ms)])
    except sa.exc.SQLAlchemyError as exc:
        log.warning("could not record status change of kiosk %s: %s", kiosk_id, exc)


def read(conn: Connection, kiosk_id: str, limit: int = 200) -> list[dict[str, Any]]:
    """The newest changes of a kiosk, newest first."""
    t = kiosk_timeline
    rows = conn.execute(
        sa.select(t)
        .where(t.c.kiosk_id == kiosk_id)
        .order_by(t.c.at_ms.desc(), t.c.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "at_ms": r.at_ms,
            "fact": r.fact,
            "value": r.value,
            "previous": r.previous,
            "detail": json.loads(r.detail or "{}"),
        }
        for r in rows
    ]


def drops_since(conn: Connection, since_ms: int) -> dict[str, int]:
    """Connection drops (changes to ``offline``) per kiosk since ``since_ms``."""
    t = kiosk_timeline
    rows = conn.execute(
        sa.select(t.c.kiosk_id, sa.func.count())
        .where(t.c.at_ms >= since_ms, t.c.fact == CONNECTED, t.c.value == "offline")
        .group_by(t.c.kiosk_id)
    ).all()
    return {r[0]: int(r[1]) for r in rows}


def prune(conn: Connection, before_ms: int) -> int:
    """Delete changes older than ``before_ms``; returns how many."""
    result = conn.execute(sa.delete(kiosk_timeline).where(kiosk_timeline.c.at_ms < before_ms))
    return int(result.rowcount or 0)
