"""Counting each kiosk's taps and refusals over a time range (for the rejection-rate alert).

Refusals are ``rejected`` events: facts the kiosks recorded, so the count is the same on
every replica and after restarts. The query reads only the report index.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator.fleet.alerts import RejectionStats
from coordinator.schema import events

TAP_KINDS = ("checkin", "class_signin", "points_redeem", "coupon_redeem", "rejected")


def counts(conn: Connection, start_ms: int, end_ms: int) -> dict[str, tuple[int, int]]:
    """source -> (refused, all taps) with ``start_ms <= hlc_ms < end_ms``."""
    ev = events
    rows = conn.execute(
        sa.select(ev.c.source, ev.c.kind, sa.func.count())
        .where(ev.c.kind.in_(TAP_KINDS), ev.c.hlc_ms >= start_ms, ev.c.hlc_ms < end_ms)
        .group_by(ev.c.source, ev.c.kind)
    ).all()
    out: dict[str, tuple[int, int]] = {}
    for source, kind, n in rows:
        refused, taps = out.get(source, (0, 0))
        out[source] = (refused + (int(n) if kind == "rejected" else 0), taps + int(n))
    return out


def stats(
    conn: Connection, now_ms: int, window_s: int, baseline_s: int
) -> dict[str, RejectionStats]:
    """Per kiosk: the last ``window_s`` and the ``baseline_s`` before it."""
    window_start = now_ms - window_s * 1000
    window = counts(conn, window_start, now_ms + 1)
    baseline = counts(conn, window_start - baseline_s * 1000, window_start)
    return {
        source: RejectionStats(
            window_rejected=window.get(source, (0, 0))[0],
            window_taps=window.get(source, (0, 0))[1],
            baseline_rejected=baseline.get(source, (0, 0))[0],
            baseline_taps=baseline.get(source, (0, 0))[1],
        )
        for source in sorted(set(window) | set(baseline))
    }
