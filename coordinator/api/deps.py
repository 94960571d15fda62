"""Shared pieces of every router: the coordinator, the caller, time, audit and paging."""

from __future__ import annotations

import json
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.errors import ApiError, not_found
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal, principal_from_token

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_coordinator(request: Request) -> Coordinator:
    """The coordinator this app serves."""
    coordinator: Coordinator = request.app.state.coordinator
    return coordinator


def get_principal(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    """The authenticated caller: a bearer token, else the dashboard's session cookie."""
    if not token:
        from coordinator.security.page_sessions import principal_from_session

        principal = principal_from_session(request)
        if principal is not None:
            return principal
        raise ApiError(
            401,
            "not_authenticated",
            "log in first: POST /api/v1/auth/token, then send 'Authorization: Bearer <token>'",
        )
    coordinator = get_coordinator(request)
    return principal_from_token(coordinator.settings.secret_key, token, coordinator.clock.wall_ms())


CoordinatorDep = Annotated[Coordinator, Depends(get_coordinator)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]


class Body(BaseModel):
    """Base of request bodies: unknown fields are refused."""

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
    """Store managers may only see and change members of their own store."""
    principal.require_store(row.home_store_id)


def store_exists(conn: Connection, store_id: str, field: str = "store_id") -> None:
    """404 unless the store is registered."""
    found = conn.execute(
        sa.select(schema.stores.c.store_id).where(schema.stores.c.store_id == store_id)
    ).first()
    if found is None:
        raise not_found("store", store_id, field)
