"""Stores of the chain: register, list, read."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from pydantic import Field

from coordinator import schema
from coordinator.errors import conflict, invalid, not_found
from coordinator.reports import rollups
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services.common import Body, Out, audit
from shared.model import Id


class NewStore(Body):
    """A store to register."""

    store_id: Id
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field("Asia/Shanghai", max_length=64)


class StoreOut(Out):
    """A store as the API shows it."""

    store_id: str
    name: str
    timezone: str = Field(description="IANA time zone: store-local days and screens use it.")
    created_ms: int


def _out(row: sa.Row[Any]) -> StoreOut:
    return StoreOut(
        store_id=row.store_id, name=row.name, timezone=row.timezone, created_ms=row.created_ms
    )


def list_stores(coord: Coordinator, principal: Principal) -> list[StoreOut]:
    """Stores the caller may see (a store manager sees their own)."""
    s = schema.stores
    query = sa.select(s).order_by(s.c.store_id)
    if (own := principal.store_filter()) is not None:
        query = query.where(s.c.store_id == own)
    with coord.db.read() as conn:
        return [_out(r) for r in conn.execute(query)]


def create_store(coord: Coordinator, principal: Principal, body: NewStore) -> StoreOut:
    """Register a store (HQ admins)."""
    principal.require_admin()
    try:
        ZoneInfo(body.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise invalid(
            "unknown_timezone", f"{body.timezone!r} is not an IANA time zone", "timezone"
        ) from exc
    now = coord.clock.wall_ms()
    s = schema.stores
    with coord.db.write() as conn:
        if conn.execute(sa.select(s.c.store_id).where(s.c.store_id == body.store_id)).first():
            raise conflict("store_exists", f"store {body.store_id!r} already exists", "store_id")
        conn.execute(
            sa.insert(s).values(
                store_id=body.store_id, name=body.name, timezone=body.timezone, created_ms=now
            )
        )
        # Facts rolled up for the id before it was registered get their store-day rows.
        rollups.derive_days(conn, [body.store_id])
        audit(conn, principal.username, "store.create", body.store_id, now, name=body.name)
        row = conn.execute(sa.select(s).where(s.c.store_id == body.store_id)).one()
    return _out(row)


def get_store(coord: Coordinator, principal: Principal, store_id: str) -> StoreOut:
    """One store (a store manager: their own)."""
    principal.require_store(store_id)
    s = schema.stores
    with coord.db.read() as conn:
        row = conn.execute(sa.select(s).where(s.c.store_id == store_id)).first()
    if row is None:
        raise not_found("store", store_id, "store_id")
    return _out(row)
