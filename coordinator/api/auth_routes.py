"""Logging in (OAuth2 password flow) and managing ops users."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import Field

from coordinator import schema
from coordinator.api.deps import Body, CoordinatorDep, PrincipalDep, audit, store_exists
from coordinator.errors import ApiError, conflict, invalid
from coordinator.security.auth import Role, authenticate, hash_password, issue_token
from coordinator.security.login_limit import client_address
from shared.model import Id

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post(
    "/auth/token",
    responses={429: {"description": "Too many failed logins; see the Retry-After header."}},
)
def login(
    request: Request,
    coord: CoordinatorDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> dict[str, Any]:
    """Exchange a username and password for a bearer token (failed attempts are limited)."""
    now = coord.clock.wall_ms()
    address = client_address(request)
    coord.login_limiter.check(form.username, address, now)
    try:
        with coord.db.read() as conn:
            principal = authenticate(conn, form.username, form.password)
    except ApiError:
        coord.login_limiter.failed(form.username, address, now)
        raise
    coord.login_limiter.succeeded(form.username, address)
    token = issue_token(coord.settings.secret_key, principal, now, coord.settings.token_ttl_s)
    return {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": coord.settings.token_ttl_s,
        "role": principal.role.value,
        "store_id": principal.store_id,
    }


@router.get("/auth/me")
def me(principal: PrincipalDep) -> dict[str, Any]:
    """Who the token belongs to."""
    return {
        "username": principal.username,
        "role": principal.role.value,
        "store_id": principal.store_id,
    }


class NewUser(Body):
    """An ops user to create."""

    username: Id
    password: str = Field(min_length=8, max_length=200)
    role: Role
    store_id: Id | None = None


@router.post("/users", status_code=201)
def create_user(coord: CoordinatorDep, principal: PrincipalDep, body: NewUser) -> dict[str, Any]:
    """Create an ops user (HQ admins only). Store managers need their store."""
    principal.require_admin()
    if body.role is Role.STORE_MANAGER and body.store_id is None:
        raise invalid("store_required", "a store manager needs a store_id", "store_id")
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        if body.store_id is not None:
            store_exists(conn, body.store_id)
        u = schema.users
        if conn.execute(sa.select(u.c.username).where(u.c.username == body.username)).first():
            raise conflict("user_exists", f"user {body.username!r} already exists", "username")
        conn.execute(
            sa.insert(u).values(
                username=body.username,
                password_hash=hash_password(body.password),
                role=body.role.value,
                store_id=body.store_id,
                disabled=False,
                created_ms=now,
            )
        )
        audit(conn, principal.username, "user.create", body.username, now, role=body.role.value)
    return {"username": body.username, "role": body.role.value, "store_id": body.store_id}


@router.get("/users")
def list_users(coord: CoordinatorDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Every ops user (HQ admins only)."""
    principal.require_admin()
    u = schema.users
    with coord.db.read() as conn:
        rows = conn.execute(
            sa.select(u.c.username, u.c.role, u.c.store_id, u.c.disabled).order_by(u.c.username)
        ).all()
    return [dict(r._mapping) for r in rows]
