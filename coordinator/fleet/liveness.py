"""Kiosk liveness kept honestly: the evidence per kiosk, and the kiosk API's view of it.

What alive, connected, in sync and last good tap mean is :func:`shared.liveness.judge`
(the fleet view asks the same function); this module records the evidence (retained
status, heartbeats, sync requests) and reads it back for one kiosk or many.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.db import read_counter
from coordinator.ledger.jsonrows import loads_list
from shared.liveness import Liveness, judge
from shared.protocol import Heartbeat, Status, SyncRequest

BUNDLE_SCAN = 500
"""Published bundles looked at for a store's current one (as
:mod:`coordinator.downstream.rule_bundles`)."""


def record_status(conn: Connection, status: Status, received_ms: int) -> None:
    """Store the kiosk's retained status (birth or last will); a change goes on its timeline."""
    from coordinator.fleet.timeline import record_connection

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
    record_heartbeats(conn, [(beat, received_ms)])


def record_heartbeats(conn: Connection, beats: list[tuple[Heartbeat, int]]) -> None:
    """Store a batch of (heartbeat, received_ms) in arrival order: per kiosk the newest
    beat, and the latest good tap any of them (or the stored row) reports. Two statements
    for the whole batch: at 10,000 kiosks heartbeats are most of what the coordinator
    receives."""
    if not beats:
        return
    kh = schema.kiosk_health
    newest: dict[str, tuple[Heartbeat, int]] = {}
    last_tap: dict[str, int] = {}
    for beat, received_ms in beats:
        newest[beat.kiosk_id] = (beat, received_ms)
        if beat.last_good_tap_ms:
            last_tap[beat.kiosk_id] = max(last_tap.get(beat.kiosk_id, 0), beat.last_good_tap_ms)
    for kiosk_id, stored in conn.execute(
        sa.select(kh.c.kiosk_id, kh.c.last_good_tap_ms).where(kh.c.kiosk_id.in_(sorted(newest)))
    ):
        if stored:
            last_tap[kiosk_id] = max(last_tap.get(kiosk_id, 0), int(stored))
    conn.execute(
        sa.update(kh)
        .where(kh.c.kiosk_id == sa.bindparam("k"))
        .values(
            heartbeat=sa.bindparam("beat"),
            heartbeat_received_ms=sa.bindparam("received"),
            heartbeat_interval_s=sa.bindparam("interval"),
            reported_versions=sa.bindparam("versions"),
            reported_last_seq=sa.bindparam("last_seq"),
            last_good_tap_ms=sa.bindparam("tap"),
        ),
        [
            {
                "k": kiosk_id,
                "beat": beat.model_dump_json(),
                "received": received_ms,
                "interval": beat.interval_s,
                "versions": beat.versions.model_dump_json(),
                "last_seq": beat.last_seq,
                "tap": last_tap.get(kiosk_id) or None,
            }
            for kiosk_id, (beat, received_ms) in sorted(newest.items())
        ],
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


@dataclass(frozen=True)
class Bundle:
    """A published rule bundle without its content."""

    version: int
    store_ids: tuple[str, ...]
    published_ms: int

    def applies_to(self, store_id: str) -> bool:
        """True when kiosks of ``store_id`` run this bundle (empty scope: every store)."""
        return not self.store_ids or store_id in self.store_ids


def published_bundles(conn: Connection) -> tuple[Bundle, ...]:
    """Published rule bundles, newest first (the last ``BUNDLE_SCAN``; no content parsed)."""
    rb = schema.rule_bundles
    columns = (rb.c.version, rb.c.store_scope, rb.c.published_ms)
    rows = list(
        conn.execute(
            sa.select(*columns)
            .where(rb.c.status == "published")
            .order_by(rb.c.version.desc())
            .limit(BUNDLE_SCAN)
        )
    )
    # Stores' own bundles (a timetable edit or a booking each) may outnumber the window:
    # the chain-wide bundle every other store runs is always listed.
    chain = conn.execute(
        sa.select(*columns)
        .where(rb.c.status == "published", rb.c.store_scope == "[]")
        .order_by(rb.c.version.desc())
        .limit(1)
    ).first()
    if chain is not None and all(r.version != chain.version for r in rows):
        rows.append(chain)
    return tuple(
        Bundle(int(r.version), tuple(loads_list(r.store_scope)), int(r.published_ms or 0))
        for r in rows
    )


@dataclass(frozen=True)
class CurrentVersions:
    """What "current" means for every store at one instant: read once per request."""

    bundles: tuple[Bundle, ...]
    """Published rule bundles, newest first."""
    deny: int
    members: int

    def for_store(self, store_id: str) -> dict[str, int]:
        """Current rules, deny-list and members versions for kiosks of ``store_id``."""
        rules = next((b.version for b in self.bundles if b.applies_to(store_id)), 0)
        return {"rules": rules, "deny": self.deny, "members": self.members}


def current_versions(conn: Connection) -> CurrentVersions:
    """The published bundles and the deny/members counters (three small queries, no bundle
    content parsed): what :func:`bundle_for_store` would pick."""
    return CurrentVersions(
        bundles=published_bundles(conn),
        deny=read_counter(conn, "deny_version"),
        members=read_counter(conn, "members_version"),
    )


def kiosks_health(
    conn: Connection,
    now_ms: int,
    *,
    store_id: str | None = None,
    kiosk_id: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The liveness facts of many kiosks in kiosk id order, from a constant number of
    queries whatever the fleet size: one store's, one kiosk's, or a page of them
    (``after`` a kiosk id, at most ``limit``)."""
    rows = _rows(conn, store_id=store_id, kiosk_id=kiosk_id, after=after, limit=limit)
    if not rows:
        return []
    current = current_versions(conn)
    return [_health(row, current.for_store(row.store_id), now_ms) for row in rows]


class _Row(NamedTuple):
    """A kiosk's registry and health columns (plain tuple access: SQLAlchemy's named row
    attributes cost about a microsecond each, which a fleet-wide list notices)."""

    kiosk_id: str
    store_id: str
    revoked: bool
    applied_seq: int
    poisoned_count: int
    status_state: str | None
    status_at_ms: int | None
    status_received_ms: int | None
    heartbeat: str | None
    heartbeat_received_ms: int | None
    heartbeat_interval_s: int | None
    reported_versions: str | None
    reported_last_seq: int | None
    last_good_tap_ms: int | None


def _rows(
    conn: Connection,
    *,
    store_id: str | None,
    kiosk_id: str | None,
    after: str | None,
    limit: int | None,
) -> list[_Row]:
    """Registry and health rows of the kiosks asked for, in kiosk id order (one query)."""
    k = schema.kiosks
    kh = schema.kiosk_health
    query = (
        sa.select(
            k.c.kiosk_id,
            k.c.store_id,
            k.c.revoked,
            k.c.applied_seq,
            k.c.poisoned_count,
            kh.c.status_state,
            kh.c.status_at_ms,
            kh.c.status_received_ms,
            kh.c.heartbeat,
            kh.c.heartbeat_received_ms,
            kh.c.heartbeat_interval_s,
            kh.c.reported_versions,
            kh.c.reported_last_seq,
            kh.c.last_good_tap_ms,
        )
        .select_from(k.join(kh, kh.c.kiosk_id == k.c.kiosk_id))
        .order_by(k.c.kiosk_id)
    )
    if store_id is not None:
        query = query.where(k.c.store_id == store_id)
    if kiosk_id is not None:
        query = query.where(k.c.kiosk_id == kiosk_id)
    if after is not None:
        query = query.where(k.c.kiosk_id > after)
    if limit is not None:
        query = query.limit(limit)
    return [_Row._make(row) for row in conn.execute(query).all()]


def kiosks_health_json(
    conn: Connection,
    now_ms: int,
    *,
    store_id: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> bytes:
    """:func:`kiosks_health` as a JSON array, ready to send (the same JSON, key for key).

    The stored heartbeat and reported versions (JSON the coordinator wrote itself from
    validated messages) go into the answer as they are, as ``orjson.Fragment``s, neither
    parsed nor serialised again: a fleet-wide list spent most of its time parsing and
    re-encoding heartbeats.
    """
    rows = _rows(conn, store_id=store_id, kiosk_id=None, after=after, limit=limit)
    if not rows:
        return b"[]"
    current = current_versions(conn)
    per_store: dict[str, dict[str, int]] = {}
    parsed: dict[str, Any] = {}  # the fleet mostly reports the same few version sets
    items: list[dict[str, Any]] = []
    for row in rows:
        versions = per_store.get(row.store_id)
        if versions is None:
            versions = per_store[row.store_id] = current.for_store(row.store_id)
        reported = None
        if row.reported_versions:
            reported = parsed.get(row.reported_versions)
            if reported is None:
                reported = parsed[row.reported_versions] = json.loads(row.reported_versions)
        facts = _judge(row, versions, reported, now_ms)
        items.append(
            {
                "kiosk_id": row.kiosk_id,
                "store_id": row.store_id,
                "revoked": bool(row.revoked),
                "alive": facts.alive,
                "connected": facts.connected,
                "in_sync": facts.in_sync,
                "last_good_tap_ms": facts.last_good_tap_ms,
                "evidence": {
                    "status": row.status_state,
                    "status_at_ms": row.status_at_ms,
                    "status_received_ms": row.status_received_ms,
                    "heartbeat_received_ms": row.heartbeat_received_ms,
                    "heartbeat_interval_s": row.heartbeat_interval_s,
                    "applied_seq": row.applied_seq,
                    "reported_last_seq": row.reported_last_seq,
                    "reported_versions": (
                        orjson.Fragment(row.reported_versions) if reported is not None else None
                    ),
                    "current_versions": versions,
                    "events_caught_up": facts.events_caught_up,
                    "versions_current": facts.versions_current,
                    "poisoned_count": row.poisoned_count,
                    "heartbeat": orjson.Fragment(row.heartbeat) if row.heartbeat else None,
                },
            }
        )
    return orjson.dumps(items)


def kiosk_health(conn: Connection, kiosk_id: str, now_ms: int) -> dict[str, Any] | None:
    """The four liveness facts of a kiosk plus the evidence behind them."""
    found = kiosks_health(conn, now_ms, kiosk_id=kiosk_id)
    return found[0] if found else None


def _judge(row: _Row, current: dict[str, int], reported: Any, now_ms: int) -> Liveness:
    """The liveness facts of a kiosk (:func:`shared.liveness.judge`)."""
    return judge(
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


def _health(row: _Row, current: dict[str, int], now_ms: int) -> dict[str, Any]:
    """One kiosk's facts and evidence from its joined registry and health row."""
    versions = json.loads(row.reported_versions) if row.reported_versions else None
    facts = _judge(row, current, versions, now_ms)
    return {
        "kiosk_id": row.kiosk_id,
        "store_id": row.store_id,
        "revoked": bool(row.revoked),
        "alive": facts.alive,
        "connected": facts.connected,
        "in_sync": facts.in_sync,
        "last_good_tap_ms": facts.last_good_tap_ms,
        "evidence": {
            "status": row.status_state,
            "status_at_ms": row.status_at_ms,
            "status_received_ms": row.status_received_ms,
            "heartbeat_received_ms": row.heartbeat_received_ms,
            "heartbeat_interval_s": row.heartbeat_interval_s,
            "applied_seq": row.applied_seq,
            "reported_last_seq": row.reported_last_seq,
            "reported_versions": versions,
            "current_versions": current,
            "events_caught_up": facts.events_caught_up,
            "versions_current": facts.versions_current,
            "poisoned_count": row.poisoned_count,
            "heartbeat": json.loads(row.heartbeat) if row.heartbeat else None,
        },
    }
