"""Ops views: refused messages per reason and kiosk, ingest state, versions."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query

from coordinator import schema
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.db import read_counter
from coordinator.ledger import refused_messages as rejects
from shared.model import Id

router = APIRouter(prefix="/api/v1/ops", tags=["ops"])


@router.get("/rejections")
def rejections(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    kiosk_id: Annotated[Id | None, Query()] = None,
) -> dict[str, Any]:
    """Refused MQTT messages and events, counted per kiosk and reason, with the last detail."""
    own = principal.store_filter()
    with coord.db.read() as conn:
        keys: list[str] | None = None
        if own is not None:
            k = schema.kiosks
            keys = list(conn.execute(sa.select(k.c.kiosk_id).where(k.c.store_id == own)).scalars())
        if kiosk_id is not None:
            keys = [kiosk_id] if keys is None or kiosk_id in keys else []
        items = rejects.listing(conn, keys)
    totals: dict[str, int] = {}
    for item in items:
        totals[str(item["reason"])] = totals.get(str(item["reason"]), 0) + int(str(item["count"]))
    return {"items": items, "totals_by_reason": totals}


@router.get("/ingest")
def ingest_state(coord: CoordinatorDep, principal: PrincipalDep) -> dict[str, Any]:
    """Queue depth, held events per kiosk, broker connection and downstream versions."""
    held = schema.held_events
    with coord.db.read() as conn:
        waiting = {
            row.source: {"held": row.n, "lowest_seq": row.low}
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
    own = principal.store_filter()
    if own is not None:
        with coord.db.read() as conn:
            mine = set(
                conn.execute(
                    sa.select(schema.kiosks.c.kiosk_id).where(schema.kiosks.c.store_id == own)
                ).scalars()
            )
        waiting = {k: v for k, v in waiting.items() if k in mine}
    return {
        "queue_depth": coord.ingest.depth(),
        "processed_messages": coord.ingest.processed,
        "mqtt_connected": coord.mqtt_connected(),
        "held_events": waiting,
        "versions": versions,
        "hq_seq": hq_seq,
        "member_push_cycles": coord.pusher.cycles,
    }
