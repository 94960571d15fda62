"""Stores of the chain."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from fastapi import APIRouter, Path
from pydantic import Field

from coordinator import schema
from coordinator.api.deps import Body, CoordinatorDep, PrincipalDep, audit
from coordinator.errors import conflict, invalid, not_found
from shared.model import Id

router = APIRouter(prefix="/api/v1/stores", tags=["stores"])


class NewStore(Body):
    """A store to register."""

    store_id: Id
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field("Asia/Shanghai", max_length=64)


def _store(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "store_id": row.store_id,
        "name": row.name,
        "timezone": row.timezone,
        "created_ms": row.created_ms,
    }


@router.get("")
def list_stores(coord: CoordinatorDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Stores the caller may see (a store manager sees their own)."""
    s = schema.stores
    query = sa.select(s).order_by(s.c.store_id)
    if (own := principal.store_filter()) is not None:
        query = query.where(s.c.store_id == own)
    with coord.db.read() as conn:
        return [_store(r) for r in conn.execute(query)]


@router.post("", status_code=201)
def create_store(coord: CoordinatorDep, principal: PrincipalDep, body: NewStore) -> dict[str, Any]:
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
        audit(conn, principal.username, "store.create", body.store_id, now, name=body.name)
        row = conn.execute(sa.select(s).where(s.c.store_id == body.store_id)).one()
    return _store(row)


@router.get("/{store_id}")
def get_store(
    coord: CoordinatorDep, principal: PrincipalDep, store_id: Annotated[Id, Path()]
) -> dict[str, Any]:
    """One store."""
    principal.require_store(store_id)
    s = schema.stores
    with coord.db.read() as conn:
        row = conn.execute(sa.select(s).where(s.c.store_id == store_id)).first()
    if row is None:
        raise not_found("store", store_id, "store_id")
    return _store(row)
