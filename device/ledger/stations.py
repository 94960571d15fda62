"""Door stations in the kiosk ledger: request numbers heard, and each station tap's verdict.

A station's request is refused unless its number is above every number heard from that
station (``accept_number``, durable before anything in the request is looked at). Each tap
is recorded with its verdict in the same transaction as the decision's events
(``record_tap``), so a tap handed over again (its answer was lost) is answered from the
record and never decided twice (``recorded_tap``). Rows older than ``KEEP_MS`` go: a
station can hand a tap over for at most ``shared.station_wire.MAX_AGE_MS``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Literal

from shared.decide import Accepted, Decision, Refused
from shared.reasons import RejectReason
from shared.station_wire import MAX_AGE_MS

KEEP_MS = MAX_AGE_MS + 86_400_000
ALREADY = frozenset({RejectReason.ALREADY_SIGNED_IN, RejectReason.ALREADY_CHECKED_IN})


@dataclass(frozen=True)
class StationVerdict:
    """What a station is told about one tap."""

    verdict: Literal["accepted", "already", "refused"]
    reason: str | None = None
    action: Literal["class_signin", "checkin"] | None = None


def verdict_of(decision: Decision) -> StationVerdict:
    """The station's view of a decision (``already`` for a tap that changed nothing)."""
    if isinstance(decision, Accepted):
        action = decision.result.action
        return StationVerdict(
            "accepted", None, action if action in ("class_signin", "checkin") else None
        )
    if isinstance(decision, Refused):
        if decision.reason in ALREADY:
            return StationVerdict("already", decision.reason.value)
        return StationVerdict("refused", decision.reason.value)
    return StationVerdict("refused", RejectReason.NOT_READY.value, None)


def hwm(conn: sqlite3.Connection, station_id: str) -> int:
    """The highest request number heard from the station (0: none)."""
    row = conn.execute(
        "SELECT hwm FROM station_counters WHERE station_id = ?", (station_id,)
    ).fetchone()
    return int(row[0]) if row else 0


def accept_number(conn: sqlite3.Connection, station_id: str, number: int) -> int | None:
    """Record ``number`` if above the station's highest; else return that highest (refused)."""
    seen = hwm(conn, station_id)
    if number <= seen:
        return seen
    conn.execute(
        "INSERT INTO station_counters (station_id, hwm) VALUES (?, ?)"
        " ON CONFLICT (station_id) DO UPDATE SET hwm = excluded.hwm",
        (station_id, number),
    )
    return None


def recorded_tap(conn: sqlite3.Connection, station_id: str, tap_no: int) -> StationVerdict | None:
    """The verdict already given for this tap, if it was decided before."""
    row = conn.execute(
        "SELECT verdict, reason, action FROM station_taps WHERE station_id = ? AND tap_no = ?",
        (station_id, tap_no),
    ).fetchone()
    if row is None:
        return None
    return StationVerdict(row[0], row[1], row[2])


def record_tap(
    conn: sqlite3.Connection, station_id: str, tap_no: int, verdict: StationVerdict, now_ms: int
) -> None:
    """Remember the tap's verdict (inside the decision's transaction); drop expired rows."""
    conn.execute("DELETE FROM station_taps WHERE decided_ms < ?", (now_ms - KEEP_MS,))
    conn.execute(
        "INSERT INTO station_taps (station_id, tap_no, verdict, reason, action, decided_ms)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (station_id, tap_no, verdict.verdict, verdict.reason, verdict.action, now_ms),
    )
