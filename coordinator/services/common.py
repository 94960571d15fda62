"""Pieces every service uses: request bodies, the audit log, members, stores and paging."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.errors import not_found
from coordinator.security.auth import Principal
from coordinator.services.cross_store import check_home_access

MAX_ROW_ID = 2**63 - 1
"""The largest id a database row can have (query parameters are bounded by it)."""


class Body(BaseModel):
    """Base of request bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """Base of response models (what the API documents and sends)."""

    model_config = ConfigDict(extra="forbid")


def audit(
    conn: Connection, actor: str, action: str, target: str, now_ms: int, **detail: Any
) -> None:
    """Append to the audit log (inside the caller's transaction)."""
    conn.execute(
        sa.insert(schema.audit_log).values(
            at_ms=now_ms,
            actor=actor,
            action=action,
            target=target[:200],
            detail=json.dumps(detail, default=str, ensure_ascii=False, sort_keys=True),
        )
    )


def member_row(conn: Connection, member_id: str) -> sa.Row[Any]:
    """The member's registry row (404 when unknown)."""
    row = conn.execute(
        sa.select(schema.members).where(schema.members.c.member_id == member_id)
    ).first()
    if row is None:
        raise not_found("member", member_id, "member_id")
    return row


def check_member_access(principal: Principal, row: sa.Row[Any]) -> None:
    """Store staff may only open and change members of their own store (serving another
    store's member is :func:`coordinator.services.cross_store.check_serve_access`)."""
    check_home_access(principal, row)


def store_exists(conn: Connection, store_id: str, field: str = "store_id") -> None:
    """404 unless the store is registered."""
    found = conn.execute(
        sa.select(schema.stores.c.store_id).where(schema.stores.c.store_id == store_id)
    ).first()
    if found is None:
        raise not_found("store", store_id, field)


def scoped_store(principal: Principal, store_id: str | None) -> str | None:
    """The store a listing is limited to: a store manager's own (403 for another), else the
    one asked for (None: every store)."""
    own = principal.store_filter()
    if own is None:
        return store_id
    if store_id is not None:
        principal.require_store(store_id)
    return own
