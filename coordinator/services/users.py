"""Ops users: logging in (bearer tokens), who am I, creating, listing, disabling and
enabling users."""

from __future__ import annotations

import sqlalchemy as sa
from pydantic import Field

from coordinator import schema
from coordinator.downstream import rule_bundles
from coordinator.errors import ApiError, conflict, invalid, not_found
from coordinator.runtime import Coordinator
from coordinator.security.auth import (
    STORE_ROLES,
    Principal,
    Role,
    hash_password,
    issue_token,
    log_in,
)
from coordinator.services.common import Body, Out, audit, store_exists
from coordinator.services.rules import push_bundle
from shared.model import Id, RuleBundle


class TokenOut(Out):
    """A bearer token (OAuth2 password flow) and who it is for."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")
    role: Role
    store_id: str | None


class Me(Out):
    """The caller behind a token or session."""

    username: str
    role: Role
    store_id: str | None


class NewUser(Body):
    """An ops user to create."""

    username: Id
    password: str = Field(min_length=8, max_length=200)
    role: Role
    store_id: Id | None = None


class UserOut(Out):
    """An ops user (never the password hash)."""

    username: str
    role: Role
    store_id: str | None
    disabled: bool = False


def login(coord: Coordinator, username: str, password: str, address: str) -> TokenOut:
    """Exchange a username and password for a bearer token; failed attempts are limited
    per user and per address (429 with ``Retry-After`` once over the limit)."""
    now = coord.clock.wall_ms()
    coord.login_limiter.check(username, address, now)
    try:
        principal = log_in(coord.db, username, password, coord.settings.password_hash)
    except ApiError:
        coord.login_limiter.failed(username, address, now)
        raise
    coord.login_limiter.succeeded(username, address)
    ttl = coord.settings.token_ttl_s
    return TokenOut(
        access_token=issue_token(coord.settings.secret_key.get_secret_value(), principal, now, ttl),
        expires_in=ttl,
        role=principal.role,
        store_id=principal.store_id,
    )


def me(principal: Principal) -> Me:
    """Who the caller is."""
    return Me(username=principal.username, role=principal.role, store_id=principal.store_id)


def create_user(coord: Coordinator, principal: Principal, body: NewUser) -> UserOut:
    """Create an ops user (HQ admins only). Store staff (manager, front desk, coach) need
    their store."""
    principal.require_admin()
    if body.role in STORE_ROLES and body.store_id is None:
        raise invalid("store_required", f"a {body.role.value} user needs a store_id", "store_id")
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
                password_hash=hash_password(body.password, coord.settings.password_hash),
                role=body.role.value,
                store_id=body.store_id,
                disabled=False,
                created_ms=now,
            )
        )
        audit(conn, principal.username, "user.create", body.username, now, role=body.role.value)
    return UserOut(username=body.username, role=body.role, store_id=body.store_id)


def list_users(coord: Coordinator, principal: Principal) -> list[UserOut]:
    """Every ops user (HQ admins only)."""
    principal.require_admin()
    u = schema.users
    with coord.db.read() as conn:
        rows = conn.execute(
            sa.select(u.c.username, u.c.role, u.c.store_id, u.c.disabled).order_by(u.c.username)
        ).all()
    return [
        UserOut(username=r.username, role=Role(r.role), store_id=r.store_id, disabled=r.disabled)
        for r in rows
    ]


def set_disabled(
    coord: Coordinator, principal: Principal, username: str, disabled: bool
) -> UserOut:
    """Disable or enable an ops user (HQ admins only), audited.

    Disabling revokes at once every bearer token and dashboard session the user holds (they
    are refused from the next request on, not at expiry); enabling again does not bring those
    back, the user logs in anew. An admin cannot disable themselves (409), so the chain never
    loses its last way in by one click. A staff member with a kiosk PIN or staff card: their
    store's bundle is republished at once, so the store's kiosks stop (or start again)
    accepting them without waiting for the next rule change.
    """
    principal.require_admin()
    if disabled and username == principal.username:
        raise conflict("cannot_disable_self", "an admin cannot disable their own user", "username")
    now = coord.clock.wall_ms()
    u = schema.users
    with coord.db.write() as conn:
        row = conn.execute(
            sa.select(u.c.role, u.c.store_id, u.c.disabled, u.c.pin_hash, u.c.card_hash).where(
                u.c.username == username
            )
        ).first()
        if row is None:
            raise not_found("user", username, "username")
        values: dict[str, object] = {"disabled": disabled}
        if disabled:
            values["tokens_after_ms"] = now
        conn.execute(sa.update(u).where(u.c.username == username).values(**values))
        action = "user.disable" if disabled else "user.enable"
        audit(conn, principal.username, action, username, now, was_disabled=bool(row.disabled))
        republished: list[RuleBundle] = []
        kiosk_credentials = row.pin_hash is not None or row.card_hash is not None
        if row.store_id is not None and kiosk_credentials and bool(row.disabled) != disabled:
            current = rule_bundles.bundle_for_store(conn, row.store_id)
            if current is not None:
                note = f"{username} {'disabled' if disabled else 'enabled'}"
                again = rule_bundles.republish(
                    conn, current, user=principal.username, now_ms=now, note=note
                )
                republished.append(again)
    for bundle in republished:
        push_bundle(coord, bundle)
    return UserOut(username=username, role=Role(row.role), store_id=row.store_id, disabled=disabled)
