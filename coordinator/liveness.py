"""Kiosk liveness kept honestly: alive, connected, in sync and last good tap are separate.

* **connected**: the kiosk's retained status says ``online`` (birth message) rather than
  ``offline`` (its last will, published by the broker when the connection dies);
* **alive**: a heartbeat arrived within 1.5x the kiosk's stated interval;
* **in sync**: everything the kiosk recorded is applied here (its last seq equals our
  applied seq) and it runs the current rule, deny-list and member versions;
* **last good tap**: the newest accepted tap, from events and heartbeats.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.db import read_counter
from coordinator.rule_bundles import bundle_for_store
from shared.protocol import Heartbeat, Status, SyncRequest

ALIVE_FACTOR = 1.5


def record_status(conn: Connection, status: Status, received_ms: int) -> None:
    """Store the kiosk's retained status (birth or last will); a change goes on its timeline."""
    from coordinator.dashboard.timeline import record_connection

    kh = schema.kiosk_health
    previous = conn.execute(
        sa.select(kh.c.status_state).where(kh.c.kiosk_id == status.kiosk_id).with_for_update()
    ).scalar()
    record_connection(conn, status.kiosk_id, status.state, previous, received_ms)
    conn.execute(
        sa.update(kh)
        .where(kh.c.kiosk_id == status.kiosk_id)
        .values(
            status_state=status.state,
            status_at_ms=status.at_ms,
            status_received_ms=received_ms,
        )
    )


def record_heartbeat(conn: Connection, beat: Heartbeat, received_ms: int) -> None:
    """Store the newest heartbeat and what it says about taps and versions."""
    kh = schema.kiosk_health
    current = conn.execute(
        sa.select(kh.c.last_good_tap_ms).where(kh.c.kiosk_id == beat.kiosk_id)
    ).scalar()
    last_tap = max(v for v in (current, beat.last_good_tap_ms, 0) if v is not None) or None
    conn.execute(
        sa.update(kh)
        .where(kh.c.kiosk_id == beat.kiosk_id)
        .values(
            heartbeat=beat.model_dump_json(),
            heartbeat_received_ms=received_ms,
            heartbeat_interval_s=beat.interval_s,
            reported_versions=beat.versions.model_dump_json(),
            reported_last_seq=beat.last_seq,
            last_good_tap_ms=last_tap,
        )
    )


def record_sync(conn: Connection, request: SyncRequest, received_ms: int) -> None:
    """Remember what a connecting kiosk said it has."""
    kh = schema.kiosk_health
    conn.execute(
        sa.update(kh)
        .where(kh.c.kiosk_id == request.kiosk_id)
        .values(
            sync_received_ms=received_ms,
            reported_versions=request.versions.model_dump_json(),
            reported_last_seq=request.last_seq,
        )
    )


def kiosk_health(conn: Connection, kiosk_id: str, now_ms: int) -> dict[str, Any] | None:
    """The four liveness facts of a kiosk plus the evidence behind them."""
    k = schema.kiosks
    kh = schema.kiosk_health
    row = conn.execute(
        sa.select(k, kh)
        .select_from(k.join(kh, kh.c.kiosk_id == k.c.kiosk_id))
        .where(k.c.kiosk_id == kiosk_id)
    ).first()
    if row is None:
        return None
    beat = json.loads(row.heartbeat) if row.heartbeat else None
    interval = row.heartbeat_interval_s or 0
    alive = (
        row.heartbeat_received_ms is not None
        and now_ms - row.heartbeat_received_ms <= ALIVE_FACTOR * interval * 1000
    )
    versions = json.loads(row.reported_versions) if row.reported_versions else None
    bundle = bundle_for_store(conn, row.store_id)
    current = {
        "rules": bundle.version if bundle else 0,
        "deny": read_counter(conn, "deny_version"),
        "members": read_counter(conn, "members_version"),
    }
    reported_last = row.reported_last_seq
    caught_up = reported_last is not None and reported_last == row.applied_seq
    versions_current = versions is not None and all(
        versions.get(name, 0) >= value for name, value in current.items()
    )
    return {
        "kiosk_id": row.kiosk_id,
        "store_id": row.store_id,
        "revoked": row.revoked,
        "alive": alive,
        "connected": row.status_state == "online",
        "in_sync": bool(caught_up and versions_current),
        "last_good_tap_ms": row.last_good_tap_ms,
        "evidence": {
            "status": row.status_state,
            "status_at_ms": row.status_at_ms,
            "status_received_ms": row.status_received_ms,
            "heartbeat_received_ms": row.heartbeat_received_ms,
            "heartbeat_interval_s": row.heartbeat_interval_s,
            "applied_seq": row.applied_seq,
            "reported_last_seq": reported_last,
            "reported_versions": versions,
            "current_versions": current,
            "events_caught_up": caught_up,
            "versions_current": versions_current,
            "poisoned_count": row.poisoned_count,
            "heartbeat": beat,
        },
    }
