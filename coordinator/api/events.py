"""Events: the ledger's facts, queried with keyset paging."""

from __future__ import annotations

import json
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query

from coordinator import schema
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from shared.model import Id

router = APIRouter(prefix="/api/v1/events", tags=["events"])


def event_view(row: sa.Row[Any]) -> dict[str, Any]:
    """A stored event: ledger identity, where and when it was received, the event itself."""
    return {
        "id": row.id,
        "event_id": row.event_id,
        "source": row.source,
        "seq": row.seq,
        "store_id": row.store_id,
        "member_id": row.member_id,
        "kind": row.kind,
        "hlc_ms": row.hlc_ms,
        "hlc_c": row.hlc_c,
        "wall_ms": row.wall_ms,
        "received_ms": row.received_ms,
        "offline": row.offline,
        "quarantined": row.quarantined,
        "event": json.loads(row.body),
    }


@router.get("")
def list_events(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    member_id: Annotated[Id | None, Query()] = None,
    source: Annotated[Id | None, Query(description="kiosk id, or 'hq'")] = None,
    store_id: Annotated[Id | None, Query()] = None,
    kind: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,
    after_id: Annotated[int, Query(ge=0, description="continue after this id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Events in arrival order (``id``); pass ``next_after_id`` back as ``after_id``."""
    own = principal.store_filter()
    if own is not None:
        if store_id is not None:
            principal.require_store(store_id)
        store_id = own
    ev = schema.events
    query = sa.select(ev).where(ev.c.id > after_id).order_by(ev.c.id).limit(limit)
    if member_id:
        query = query.where(ev.c.member_id == member_id)
    if source:
        query = query.where(ev.c.source == source)
    if store_id:
        query = query.where(ev.c.store_id == store_id)
    if kind:
        query = query.where(ev.c.kind == kind)
    with coord.db.read() as conn:
        items = [event_view(r) for r in conn.execute(query)]
    return {"items": items, "next_after_id": items[-1]["id"] if len(items) == limit else None}
