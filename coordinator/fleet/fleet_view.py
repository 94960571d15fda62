"""The fleet as ops see it: every kiosk's facts, read for the whole fleet at once.

The four liveness facts are :func:`shared.liveness.judge`'s (as for the kiosk API in
:mod:`coordinator.fleet.liveness`); this module computes them for every kiosk from a few
queries, adds the evidence a person needs (outbox, versions vs. current, readers, clock,
software) and the times things started (down since, behind since), and keeps them separate:

* **alive**: a heartbeat arrived within 1.5x the kiosk's stated interval; ``alive_until_ms``
  is when it stops being alive without another heartbeat, so a page can flip it on time;
* **connected**: the retained status is ``online`` (birth) rather than ``offline`` (will);
* **in sync**: every event the kiosk recorded is applied here and it runs the current rule,
  deny-list and members versions;
* **last good tap**: the newest accepted tap.

:func:`kiosk_view` is pure (rows in, a JSON-ready dict out); :func:`load_fleet` reads.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.db import read_counter
from coordinator.fleet.liveness import Bundle, published_bundles
from shared.liveness import judge

VERSION_NAMES = ("rules", "deny", "members")


@dataclass
class FleetContext:
    """What "current" means right now: versions and when each was first seen."""

    bundles: Sequence[Bundle] = ()
    """Published bundles, newest first."""
    deny_version: int = 0
    members_version: int = 0
    marks: Mapping[str, Sequence[tuple[int, int]]] = field(default_factory=dict)
    """name -> ascending (version, first_seen_ms) for ``deny`` and ``members``."""

    def current_rules(self, store_id: str) -> Bundle | None:
        """The newest bundle that applies to the store (what liveness calls current)."""
        return next((b for b in self.bundles if b.applies_to(store_id)), None)

    def behind_since(self, name: str, store_id: str, applied: int) -> int | None:
        """When the oldest version newer than ``applied`` appeared (None: not behind)."""
        if name == "rules":
            newer = [
                b.published_ms
                for b in self.bundles
                if b.version > applied and b.applies_to(store_id)
            ]
            return min(newer) if newer else None
        current = self.deny_version if name == "deny" else self.members_version
        if applied >= current:
            return None
        marks = self.marks.get(name, ())
        at = bisect.bisect_right(marks, (applied, 2**63))
        if at < len(marks):
            return marks[at][1]
        return None  # newer than every mark: seen for less than one monitor tick


@dataclass(frozen=True)
class KioskRow:
    """What the ledger stores about one kiosk (registry, health, held events, store)."""

    kiosk_id: str
    name: str
    store_id: str
    store_name: str
    timezone: str
    revoked: bool
    created_ms: int
    applied_seq: int
    poisoned_count: int = 0
    status_state: str | None = None
    status_received_ms: int | None = None
    heartbeat: str | None = None
    heartbeat_received_ms: int | None = None
    heartbeat_interval_s: int | None = None
    reported_versions: str | None = None
    reported_last_seq: int | None = None
    last_good_tap_ms: int | None = None
    held_events: int = 0


def kiosk_view(row: KioskRow, ctx: FleetContext, now_ms: int) -> dict[str, Any]:
    """Every fact the fleet view shows for one kiosk, as a JSON-ready dict."""
    beat: dict[str, Any] = json.loads(row.heartbeat) if row.heartbeat else {}
    reported = json.loads(row.reported_versions) if row.reported_versions else None
    bundle = ctx.current_rules(row.store_id)
    current = {
        "rules": bundle.version if bundle else 0,
        "deny": ctx.deny_version,
        "members": ctx.members_version,
    }
    facts = judge(
        now_ms=now_ms,
        status_state=row.status_state,
        heartbeat_received_ms=row.heartbeat_received_ms,
        heartbeat_interval_s=row.heartbeat_interval_s,
        applied_seq=row.applied_seq,
        reported_last_seq=row.reported_last_seq,
        reported_versions=reported,
        current_versions=current,
        last_good_tap_ms=row.last_good_tap_ms,
    )
    alive, alive_until, connected = facts.alive, facts.alive_until_ms, facts.connected
    versions: dict[str, dict[str, Any]] = {}
    for name in VERSION_NAMES:
        applied = int(reported.get(name, 0)) if reported is not None else None
        behind = applied is None or applied < current[name]
        versions[name] = {
            "applied": applied,
            "current": current[name],
            "behind_since_ms": (
                ctx.behind_since(name, row.store_id, applied or 0) if behind else None
            ),
        }

    down_since: int | None = None
    if not row.revoked and not (alive and connected):
        starts = []
        if not connected:
            starts.append(row.status_received_ms or row.created_ms)
        if not alive:
            starts.append(alive_until if alive_until is not None else row.created_ms)
        down_since = min(starts)

    depth = int(beat.get("outbox_depth", 0)) if beat else None
    oldest = beat.get("oldest_unacked_age_s") if beat else None
    if oldest is not None and depth and row.heartbeat_received_ms is not None:
        oldest = int(oldest) + max(0, now_ms - row.heartbeat_received_ms) // 1000
    offset = beat.get("clock_offset_ms") if beat else None
    estimated = False
    if offset is None and beat and row.heartbeat_received_ms is not None:
        # Never measured by the kiosk: sent time vs. receipt (includes transit time).
        offset = int(beat.get("sent_wall_ms", 0)) - row.heartbeat_received_ms
        estimated = True

    return {
        "kiosk_id": row.kiosk_id,
        "name": row.name,
        "store_id": row.store_id,
        "store_name": row.store_name,
        "timezone": row.timezone,
        "revoked": row.revoked,
        "alive": alive,
        "alive_until_ms": alive_until,
        "heartbeat_received_ms": row.heartbeat_received_ms,
        "heartbeat_interval_s": row.heartbeat_interval_s,
        "connected": connected,
        "status": row.status_state,
        "status_since_ms": row.status_received_ms,
        "down_since_ms": down_since,
        "in_sync": facts.in_sync,
        "events_caught_up": facts.events_caught_up,
        "versions_current": facts.versions_current,
        "applied_seq": row.applied_seq,
        "reported_last_seq": row.reported_last_seq,
        "held_events": row.held_events,
        "poisoned_count": row.poisoned_count,
        "last_good_tap_ms": facts.last_good_tap_ms,
        "outbox_depth": depth,
        "oldest_unacked_age_s": oldest,
        "versions": versions,
        "readers": {
            name: {
                "state": r.get("state"),
                "detail": r.get("detail", ""),
                "since_ms": r.get("since_ms"),
            }
            for name, r in sorted((beat.get("readers") or {}).items())
        },
        "stations": {
            station_id: {
                "room": st.get("room"),
                "last_seen_ms": st.get("last_seen_ms"),
                "fw": st.get("fw", ""),
                "reader": st.get("reader", "unknown"),
                "buffered": st.get("buffered", 0),
                "dropped": st.get("dropped", 0),
                "taps_accepted": st.get("taps_accepted", 0),
                "taps_refused": st.get("taps_refused", 0),
                "refused_requests": st.get("refused_requests", 0),
                "errors": st.get("errors") or {},
            }
            for station_id, st in sorted((beat.get("stations") or {}).items())
        },
        "clock_offset_ms": offset,
        "clock_offset_estimated": estimated,
        "software_version": beat.get("software_version") or None,
        "uptime_s": beat.get("uptime_s"),
        "disk_free_bytes": beat.get("disk_free_bytes"),
        "taps_accepted": beat.get("taps_accepted"),
        "taps_refused": beat.get("taps_refused"),
    }


def load_context(
    conn: Connection, marks: Mapping[str, Sequence[tuple[int, int]]] | None = None
) -> FleetContext:
    """Published bundles and current counters (``marks`` as the monitor keeps them)."""
    return FleetContext(
        bundles=published_bundles(conn),
        deny_version=read_counter(conn, "deny_version"),
        members_version=read_counter(conn, "members_version"),
        marks=marks or {},
    )


def load_rows(
    conn: Connection, store_id: str | None = None, kiosk_id: str | None = None
) -> list[KioskRow]:
    """Every kiosk (of one store, or just one kiosk, if given) with health and held events."""
    k = schema.kiosks
    kh = schema.kiosk_health
    s = schema.stores
    held = schema.held_events
    held_counts = (
        sa.select(held.c.source, sa.func.count().label("n")).group_by(held.c.source).subquery()
    )
    query = (
        sa.select(
            k.c.kiosk_id,
            k.c.name,
            k.c.store_id,
            k.c.revoked,
            k.c.created_ms,
            k.c.applied_seq,
            k.c.poisoned_count,
            s.c.name.label("store_name"),
            s.c.timezone,
            kh.c.status_state,
            kh.c.status_received_ms,
            kh.c.heartbeat,
            kh.c.heartbeat_received_ms,
            kh.c.heartbeat_interval_s,
            kh.c.reported_versions,
            kh.c.reported_last_seq,
            kh.c.last_good_tap_ms,
            held_counts.c.n,
        )
        .select_from(
            k.join(s, s.c.store_id == k.c.store_id)
            .outerjoin(kh, kh.c.kiosk_id == k.c.kiosk_id)
            .outerjoin(held_counts, held_counts.c.source == k.c.kiosk_id)
        )
        .order_by(k.c.store_id, k.c.kiosk_id)
    )
    if store_id is not None:
        query = query.where(k.c.store_id == store_id)
    if kiosk_id is not None:
        query = query.where(k.c.kiosk_id == kiosk_id)
    return [
        KioskRow(
            kiosk_id=r.kiosk_id,
            name=r.name,
            store_id=r.store_id,
            store_name=r.store_name,
            timezone=r.timezone,
            revoked=bool(r.revoked),
            created_ms=int(r.created_ms),
            applied_seq=int(r.applied_seq or 0),
            poisoned_count=int(r.poisoned_count or 0),
            status_state=r.status_state,
            status_received_ms=r.status_received_ms,
            heartbeat=r.heartbeat,
            heartbeat_received_ms=r.heartbeat_received_ms,
            heartbeat_interval_s=r.heartbeat_interval_s,
            reported_versions=r.reported_versions,
            reported_last_seq=r.reported_last_seq,
            last_good_tap_ms=r.last_good_tap_ms,
            held_events=int(r.n or 0),
        )
        for r in conn.execute(query)
    ]


def load_stores(conn: Connection, store_id: str | None = None) -> list[dict[str, str]]:
    """Stores (one, if given) with name and time zone."""
    s = schema.stores
    query = sa.select(s.c.store_id, s.c.name, s.c.timezone).order_by(s.c.store_id)
    if store_id is not None:
        query = query.where(s.c.store_id == store_id)
    return [dict(r._mapping) for r in conn.execute(query)]


def load_fleet(
    conn: Connection,
    now_ms: int,
    *,
    store_id: str | None = None,
    marks: Mapping[str, Sequence[tuple[int, int]]] | None = None,
) -> list[dict[str, Any]]:
    """Views of every kiosk (of one store, if given)."""
    ctx = load_context(conn, marks)
    return [kiosk_view(row, ctx, now_ms) for row in load_rows(conn, store_id)]
