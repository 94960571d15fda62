"""Ops users, password hashes, bearer tokens and roles.

Roles: ``hq_admin`` (everything), ``store_manager`` (limited to their own store on every
route), ``front_desk`` (members of their own store: serve, register, edit; never settings),
``coach`` (their own store, reads members without personal data), ``viewer`` (read-only).
Tokens are HMAC-signed (``secret_key``) so that every replica accepts them; they carry the
user, role, store, issue time and expiry. A signature alone is not enough: every request also
checks the user's row (:func:`still_allowed`), so disabling a user revokes their tokens and
dashboard sessions at once, not at expiry.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.db import Database
from coordinator.errors import ApiError, forbidden
from coordinator.settings import CoordinatorSettings
from shared import password_hash
from shared.password_hash import HashFormatError, ScryptCost

log = logging.getLogger(__name__)


class Role(StrEnum):
    """What an ops user may do."""

    HQ_ADMIN = "hq_admin"
    STORE_MANAGER = "store_manager"
    FRONT_DESK = "front_desk"
    COACH = "coach"
    VIEWER = "viewer"


STORE_ROLES = frozenset({Role.STORE_MANAGER, Role.FRONT_DESK, Role.COACH})
"""Roles bound to one store: every listing and action is limited to it."""

PERSONAL_DATA_ROLES = frozenset({Role.HQ_ADMIN, Role.STORE_MANAGER, Role.FRONT_DESK})
"""Roles that need a member's full name and phone number (the others see them masked)."""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    username: str
    role: Role
    store_id: str | None

    @property
    def is_admin(self) -> bool:
        """HQ admin."""
        return self.role is Role.HQ_ADMIN

    @property
    def sees_personal_data(self) -> bool:
        """True for roles that need members' full names and phone numbers."""
        return self.role in PERSONAL_DATA_ROLES

    def require_write(self) -> None:
        """Refuse viewers and coaches (they read)."""
        if self.role in (Role.VIEWER, Role.COACH):
            raise forbidden(f"the {self.role.value} role has read-only access", "read_only")

    def require_manager(self) -> None:
        """Refuse everyone below a store manager (settings, rules, kiosks, conflicts)."""
        self.require_write()
        if self.role is Role.FRONT_DESK:
            raise forbidden("front-desk staff may not change settings", "manager_only")

    def require_admin(self) -> None:
        """Refuse everyone but HQ admins."""
        if not self.is_admin:
            raise forbidden("only HQ admins may do this", "admin_only")

    def require_store(self, store_id: str | None) -> None:
        """Refuse store staff (a manager, front desk, coach) acting outside their own store."""
        if self.role in STORE_ROLES and store_id != self.store_id:
            raise forbidden(
                f"store staff may only act on their own store ({self.store_id})",
                "store_forbidden",
            )

    def store_filter(self) -> str | None:
        """The store a listing must be limited to (None: no limit)."""
        return self.store_id if self.role in STORE_ROLES else None


def hash_password(password: str, cost: ScryptCost) -> str:
    """A new stored hash of ``password`` (:mod:`shared.password_hash`, at ``cost``)."""
    return password_hash.hash_password(password, cost)


def check_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the stored hash (today's format or an older one)."""
    try:
        return password_hash.verify_password(password, stored)
    except HashFormatError as exc:
        log.error("a stored ops user password hash is unusable (%s); reset that password", exc)
        return False


@functools.lru_cache(maxsize=4)
def _decoy_hash(cost: ScryptCost) -> str:
    return password_hash.hash_password("decoy password of no user", cost)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: str, payload: dict[str, object]) -> str:
    """``<payload>.<signature>`` with an HMAC-SHA256 over the payload text."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(secret: str, token: str) -> dict[str, object]:
    """The payload of a token signed by :func:`sign`; raises ValueError when tampered."""
    try:
        body, mac = token.split(".")
        expected = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            raise ValueError("bad signature")
        value = json.loads(_unb64(body))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"malformed token: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError("malformed token")
    return value


def issue_token(secret: str, principal: Principal, now_ms: int, ttl_s: int) -> str:
    """A bearer token for ``principal``."""
    return sign(
        secret,
        {
            "sub": principal.username,
            "role": principal.role.value,
            "store": principal.store_id,
            "iat": now_ms,
            "exp": now_ms + ttl_s * 1000,
            "typ": "api",
        },
    )


def issued_ms(payload: dict[str, object]) -> int:
    """When a signed token or session was issued (0 for one signed before ``iat`` existed,
    which any revocation therefore covers)."""
    iat = payload.get("iat")
    return iat if isinstance(iat, int) else 0


def still_allowed(conn: Connection, principal: Principal, issued: int) -> bool:
    """True while the user behind a credential issued at ``issued`` (ms) still exists, is
    enabled, holds the same role and store, and was not revoked after ``issued``."""
    u = schema.users
    row = conn.execute(
        sa.select(u.c.role, u.c.store_id, u.c.disabled, u.c.tokens_after_ms).where(
            u.c.username == principal.username
        )
    ).first()
    if row is None or row.disabled:
        return False
    if row.role != principal.role.value or row.store_id != principal.store_id:
        return False
    return row.tokens_after_ms is None or issued >= row.tokens_after_ms


def principal_from_token(secret: str, token: str, now_ms: int) -> Principal:
    """The caller a bearer token names; 401 when invalid or expired (the signature only:
    :func:`active_principal` also checks that the user may still use it)."""
    return _token_claims(secret, token, now_ms)[0]


def active_principal(db: Database, secret: str, token: str, now_ms: int) -> Principal:
    """The caller a bearer token names, while their user may still use it: 401 when the token
    is invalid or expired, and 401 ``token_revoked`` once the user is disabled or changed."""
    principal, issued = _token_claims(secret, token, now_ms)
    with db.read() as conn:
        allowed = still_allowed(conn, principal, issued)
    if not allowed:
        raise ApiError(
            401, "token_revoked", "this token was revoked (user disabled or changed); log in again"
        )
    return principal


def _token_claims(secret: str, token: str, now_ms: int) -> tuple[Principal, int]:
    try:
        payload = verify(secret, token)
    except ValueError as exc:
        raise ApiError(401, "invalid_token", "the bearer token is not valid; log in again") from exc
    if payload.get("typ") != "api":
        raise ApiError(401, "invalid_token", "this token is not an API token")
    exp = payload.get("exp")
    if not isinstance(exp, int) or exp < now_ms:
        raise ApiError(401, "token_expired", "the bearer token has expired; log in again")
    try:
        role = Role(str(payload.get("role")))
    except ValueError as exc:
        raise ApiError(401, "invalid_token", "the token names an unknown role") from exc
    store = payload.get("store")
    principal = Principal(str(payload.get("sub")), role, str(store) if store else None)
    return principal, issued_ms(payload)


def log_in(db: Database, username: str, password: str, cost: ScryptCost) -> Principal:
    """Check a username and password; 401 on failure (same answer for unknown users).

    The hash is checked outside any transaction (it is slow on purpose). A hash in an older
    format or cheaper than ``cost`` is rewritten at ``cost`` once the password is known good,
    unless a concurrent change replaced it meanwhile.
    """
    u = schema.users
    with db.read() as conn:
        row = conn.execute(sa.select(u).where(u.c.username == username)).first()
    if row is None:
        check_password(password, _decoy_hash(cost))  # an unknown user takes as long
        raise ApiError(401, "bad_credentials", "unknown user or wrong password")
    if not check_password(password, row.password_hash) or row.disabled:
        raise ApiError(401, "bad_credentials", "unknown user or wrong password")
    if password_hash.needs_upgrade(row.password_hash, cost):
        new_hash = hash_password(password, cost)
        with db.write() as conn:
            changed = conn.execute(
                sa.update(u)
                .where(u.c.username == username, u.c.password_hash == row.password_hash)
                .values(password_hash=new_hash)
            ).rowcount
        if changed:
            log.info(
                "upgraded the password hash of ops user %s from %s to %s",
                username,
                password_hash.describe(row.password_hash),
                cost.describe(),
            )
    return Principal(row.username, Role(row.role), row.store_id)


def ensure_admin(conn: Connection, settings: CoordinatorSettings, now_ms: int) -> None:
    """Create the first HQ admin from the settings when there are no users at all."""
    u = schema.users
    if conn.execute(sa.select(sa.func.count()).select_from(u)).scalar_one():
        return
    conn.execute(
        sa.insert(u).values(
            username=settings.admin_username,
            password_hash=hash_password(
                settings.admin_password.get_secret_value(), settings.password_hash
            ),
            role=Role.HQ_ADMIN.value,
            store_id=None,
            disabled=False,
            created_ms=now_ms,
        )
    )


def member_page_token(secret: str, member_id: str, now_ms: int, ttl_s: int) -> str:
    """A link token that lets a member's phone fetch their own QR code."""
    return sign(secret, {"sub": member_id, "exp": now_ms + ttl_s * 1000, "typ": "member"})


def member_from_page_token(secret: str, token: str, now_ms: int) -> str:
    """The member a page token belongs to; 401 when invalid or expired."""
    try:
        payload = verify(secret, token)
    except ValueError as exc:
        raise ApiError(401, "invalid_token", "this member link is not valid") from exc
    exp = payload.get("exp")
    if payload.get("typ") != "member" or not isinstance(exp, int) or exp < now_ms:
        raise ApiError(401, "token_expired", "this member link has expired; ask for a new one")
    return str(payload.get("sub"))
