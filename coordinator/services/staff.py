"""Staff accounts of a store: front-desk staff and coaches with their own dashboard login and
their own kiosk PIN.

A PIN is stored as a hash (:mod:`shared.password_hash`, the ops users' cost) and reaches the
kiosks of the staff member's store in the rule bundle (the bundle in force for that store is
republished at once); a PIN login at a kiosk then records that person, not a shared kiosk
staff id. A PIN is 4 to 12 digits and must differ from every other PIN of the same store
(a kiosk finds who logs in by the PIN alone); a refused PIN changes nothing.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from pydantic import Field

from coordinator import schema
from coordinator.downstream import rule_bundles
from coordinator.errors import conflict, invalid, not_found
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal, Role, check_password, hash_password
from coordinator.services.common import Body, Out, audit
from coordinator.services.rules import push_bundle
from coordinator.services.users import NewUser, UserOut, create_user
from shared.model import RuleBundle

PIN_MIN = 4
PIN_MAX = 12
STAFF_ROLES = (Role.FRONT_DESK, Role.COACH)
"""Roles a store manager may create in their own store."""


class PinChange(Body):
    """A new kiosk PIN for a staff member."""

    pin: str = Field(max_length=40)


class StaffOut(UserOut):
    """A staff account (never a password or PIN hash)."""

    has_pin: bool


class PinSet(Out):
    """The PIN was set; the rule bundle versions that carry it to the store's kiosks."""

    username: str
    store_id: str
    bundle_versions: list[int]


def _can_manage(principal: Principal, store_id: str | None) -> None:
    principal.require_manager()
    if not principal.is_admin:
        principal.require_store(store_id)


def list_staff(coord: Coordinator, principal: Principal) -> list[StaffOut]:
    """Users of the caller's store (HQ admins: every user); managers only."""
    principal.require_manager()
    u = schema.users
    query = sa.select(u).order_by(u.c.store_id, u.c.username)
    own = principal.store_filter()
    if own is not None:
        query = query.where(u.c.store_id == own)
    with coord.db.read() as conn:
        rows = list(conn.execute(query))
    return [
        StaffOut(
            username=r.username,
            role=Role(r.role),
            store_id=r.store_id,
            disabled=r.disabled,
            has_pin=r.pin_hash is not None,
        )
        for r in rows
    ]


def create_staff(coord: Coordinator, principal: Principal, body: NewUser) -> UserOut:
    """Create a staff account: HQ admins any role; a store manager front desk or coach in
    their own store."""
    if principal.is_admin:
        return create_user(coord, principal, body)
    _can_manage(principal, body.store_id)
    if body.role not in STAFF_ROLES:
        raise invalid("role_not_allowed", "store managers create front-desk and coach accounts",
                      "role")  # fmt: skip
    # The user service is the one place that writes users; it wants an admin.
    admin_view = Principal(principal.username, Role.HQ_ADMIN, None)
    return create_user(coord, admin_view, body)


def check_pin_text(pin: str) -> str:
    """The PIN if it is 4 to 12 digits; else a 422 saying so."""
    if not re.fullmatch(r"[0-9]+", pin):
        raise invalid("pin_digits", "a kiosk PIN is digits only", "pin")
    if len(pin) < PIN_MIN:
        raise invalid("pin_too_short", f"a kiosk PIN has at least {PIN_MIN} digits", "pin")
    if len(pin) > PIN_MAX:
        raise invalid("pin_too_long", f"a kiosk PIN has at most {PIN_MAX} digits", "pin")
    return pin


def set_pin(coord: Coordinator, principal: Principal, username: str, body: PinChange) -> PinSet:
    """Set a staff member's kiosk PIN (the person themself, or a manager of their store) and
    republish the store's rule bundle so its kiosks accept it."""
    pin = check_pin_text(body.pin)
    u = schema.users
    with coord.db.read() as conn:
        row = conn.execute(sa.select(u).where(u.c.username == username)).first()
        if row is None:
            raise not_found("user", username, "username")
        others = list(
            conn.execute(
                sa.select(u.c.username, u.c.pin_hash).where(
                    u.c.store_id == row.store_id,
                    u.c.username != username,
                    u.c.pin_hash.is_not(None),
                )
            )
        )
    if principal.username != username:
        _can_manage(principal, row.store_id)
    if row.store_id is None:
        raise invalid("store_required", "kiosk PINs belong to staff of a store", "username")
    # Slow on purpose (one scrypt per colleague): outside any transaction.
    if any(check_password(pin, other.pin_hash) for other in others):
        raise conflict("pin_taken", "another staff member of this store has this PIN; "
                       "choose a different one", "pin")  # fmt: skip
    new_hash = hash_password(pin, coord.settings.password_hash)
    now = coord.clock.wall_ms()
    republished: list[RuleBundle] = []
    with coord.db.write() as conn:
        conn.execute(sa.update(u).where(u.c.username == username).values(pin_hash=new_hash))
        audit(conn, principal.username, "staff.pin", username, now, store_id=row.store_id)
        current = rule_bundles.bundle_for_store(conn, row.store_id)
        if current is not None:
            republished.append(
                rule_bundles.republish(
                    conn,
                    current,
                    user=principal.username,
                    now_ms=now,
                    note=f"kiosk PIN of {username}",
                )
            )
    for bundle in republished:
        push_bundle(coord, bundle)
    return PinSet(
        username=username,
        store_id=row.store_id,
        bundle_versions=[b.version for b in republished],
    )
