"""Counting refused messages, per reason and per kiosk, where ops can see them.

Counts go to Prometheus at once and to the ``reject_counters`` table with the ingest
transaction that refused them, so the API shows the same numbers on every replica and
after restarts. Unregistered kiosk ids are pooled under ``_unknown`` (a stranger must not
be able to create unbounded rows or label values); the id itself is kept in the detail.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.metrics import Metrics

log = logging.getLogger(__name__)

UNKNOWN = "_unknown"


@dataclass(frozen=True)
class Rejection:
    """One refused message or event."""

    kiosk_key: str
    reason: str
    topic: str
    detail: str


def record(conn: Connection, rejections: Iterable[Rejection], now_ms: int) -> None:
    """Add rejections to the persistent counters (inside the caller's transaction)."""
    rc = schema.reject_counters
    grouped: dict[tuple[str, str], list[Rejection]] = {}
    for item in rejections:
        grouped.setdefault((item.kiosk_key, item.reason), []).append(item)
    for (kiosk_key, reason), items in sorted(grouped.items()):
        last = items[-1]
        values = {
            "last_ms": now_ms,
            "last_topic": last.topic[:300],
            "last_detail": last.detail[:1000],
        }
        updated = conn.execute(
            sa.update(rc)
            .where(rc.c.kiosk_key == kiosk_key, rc.c.reason == reason)
            .values(count=rc.c.count + len(items), **values)
        )
        if updated.rowcount:
            continue
        try:
            with conn.begin_nested():
                conn.execute(
                    sa.insert(rc).values(
                        kiosk_key=kiosk_key,
                        reason=reason,
                        count=len(items),
                        first_ms=now_ms,
                        **values,
                    )
                )
        except sa.exc.IntegrityError:
            conn.execute(
                sa.update(rc)
                .where(rc.c.kiosk_key == kiosk_key, rc.c.reason == reason)
                .values(count=rc.c.count + len(items), **values)
            )


def count_metrics(metrics: Metrics, rejections: Iterable[Rejection]) -> None:
    """Count committed rejections in Prometheus."""
    for item in rejections:
        metrics.rejected.labels(reason=item.reason, kiosk=item.kiosk_key).inc()


def listing(conn: Connection, kiosk_keys: Iterable[str] | None = None) -> list[dict[str, object]]:
    """Counters for the ops API (optionally only some kiosks)."""
    rc = schema.reject_counters
    query = sa.select(rc).order_by(rc.c.kiosk_key, rc.c.reason)
    if kiosk_keys is not None:
        query = query.where(rc.c.kiosk_key.in_(sorted(set(kiosk_keys))))
    return [dict(row._mapping) for row in conn.execute(query)]
