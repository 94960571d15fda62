"""Ops views: refused messages per reason and kiosk, ingest state, health."""

from __future__ import annotations

import sqlalchemy as sa
from pydantic import Field

from coordinator import schema
from coordinator.db import read_counter
from coordinator.ledger import refused_messages
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services.common import Out


class RefusedCount(Out):
    """Refused MQTT messages and events of one kiosk for one reason."""

    kiosk_key: str = Field(description="The kiosk id, or ``_unknown`` for unregistered ones.")
    reason: str
    count: int
    first_ms: int
    last_ms: int
    last_topic: str
    last_detail: str


class Rejections(Out):
    """Refused messages per kiosk and reason, and totals per reason."""

    items: list[RefusedCount]
    totals_by_reason: dict[str, int]


class Held(Out):
    """Events of one kiosk held back until the gap before them is filled."""

    held: int
    lowest_seq: int


class IngestState(Out):
    """Queue depth, held events per kiosk, broker connection and downstream versions."""

    queue_depth: int
    processed_messages: int
    mqtt_connected: bool
    held_events: dict[str, Held]
    versions: dict[str, int]
    hq_seq: int
    member_push_cycles: int


class Health(Out):
    """Is this coordinator serving: database and broker (when MQTT is on)."""

    status: str = Field(description="ok, or degraded (the answer is then a 503).")
    database: bool
    mqtt: bool | None = Field(description="None when MQTT is switched off.")
    ingest_queue: int


def _store_kiosks(conn: sa.Connection, store_id: str) -> set[str]:
    k = schema.kiosks
    return set(conn.execute(sa.select(k.c.kiosk_id).where(k.c.store_id == store_id)).scalars())


def rejections(coord: Coordinator, principal: Principal, kiosk_id: str | None) -> Rejections:
    """Refused MQTT messages and events, counted per kiosk and reason, with the last detail."""
    own = principal.store_filter()
    with coord.db.read() as conn:
        keys: list[str] | None = None
        if own is not None:
            keys = sorted(_store_kiosks(conn, own))
        if kiosk_id is not None:
            keys = [kiosk_id] if keys is None or kiosk_id in keys else []
        items = [RefusedCount.model_validate(row) for row in refused_messages.listing(conn, keys)]
    totals: dict[str, int] = {}
    for item in items:
        totals[item.reason] = totals.get(item.reason, 0) + item.count
    return Rejections(items=items, totals_by_reason=totals)


def ingest_state(coord: Coordinator, principal: Principal) -> IngestState:
    """Queue depth, held events per kiosk, broker connection and downstream versions."""
    held = schema.held_events
    own = principal.store_filter()
    with coord.db.read() as conn:
        waiting = {
            row.source: Held(held=row.n, lowest_seq=row.low)
            for row in conn.execute(
                sa.select(
                    held.c.source, sa.func.count().label("n"), sa.func.min(held.c.seq).label("low")
                ).group_by(held.c.source)
            )
        }
        versions = {
            name: read_counter(conn, f"{name}_version") for name in ("members", "deny", "rules")
        }
        hq_seq = read_counter(conn, "hq_seq")
        if own is not None:
            mine = _store_kiosks(conn, own)
            waiting = {k: v for k, v in waiting.items() if k in mine}
    return IngestState(
        queue_depth=coord.ingest.depth(),
        processed_messages=coord.ingest.processed,
        mqtt_connected=coord.mqtt_connected(),
        held_events=waiting,
        versions=versions,
        hq_seq=hq_seq,
        member_push_cycles=coord.pusher.cycles,
    )


def health(coord: Coordinator) -> Health:
    """The database answers, and the broker (if MQTT is enabled)."""
    database = coord.db.ping()
    mqtt = coord.mqtt_connected() if coord.settings.mqtt_enabled else None
    ok = database and mqtt is not False
    return Health(
        status="ok" if ok else "degraded",
        database=database,
        mqtt=mqtt,
        ingest_queue=coord.ingest.depth(),
    )
