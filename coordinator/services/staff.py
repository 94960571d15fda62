"""Staff accounts of a store: front-desk staff and coaches with their own dashboard login and
their own kiosk PIN and/or NFC staff card.

A PIN is stored as a hash (:mod:`shared.password_hash`, the ops users' cost) and reaches the
kiosks of the staff member's store in the rule bundle (the bundle in force for that store is
republished at once); a PIN login at a kiosk then records that person, not a shared kiosk
staff id. A PIN is 4 to 12 digits and must differ from every other PIN of the same store
(a kiosk finds who logs in by the PIN alone); a refused PIN changes nothing.

A staff card is stored as a keyed hash of its UID (:mod:`shared.staff_cards`: the UID is not
secret, but the bundle then does not list the staff's card numbers) and reaches the store's
kiosks the same way; tapping it where the kiosk expects staff signs that person in. A UID is
either a member's card or one staff member's card, never both (refused either way); binding,
unbinding and disabling a user (``users.set_disabled``) republish the store's bundle at once.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from pydantic import Field

from coordinator import schema
from coordinator.downstream import rule_bundles
from coordinator.errors import conflict, invalid, not_found
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal, Role, check_password, hash_password
from coordinator.services.cards import staff_card_owner
from coordinator.services.common import Body, Out, audit
from coordinator.services.front_desk import card_tapped_at
from coordinator.services.rules import push_bundle
from coordinator.services.users import NewUser, UserOut, create_user
from shared.model import RuleBundle, Uid
from shared.staff_cards import hash_card_uid, normalise_uid

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
    has_card: bool = False


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
            has_card=r.card_hash is not None,
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
    with coord.db.write() as conn:
        republished = _save_credential(
            conn,
            principal,
            row,
            now,
            {"pin_hash": new_hash},
            "staff.pin",
            f"kiosk PIN of {username}",
        )
    _push(coord, republished)
    return PinSet(
        username=username,
        store_id=row.store_id,
        bundle_versions=[b.version for b in republished],
    )


def _save_credential(
    conn: sa.Connection,
    principal: Principal,
    row: Any,
    now: int,
    values: dict[str, str | None],
    action: str,
    note: str,
    **detail: Any,
) -> list[RuleBundle]:
    """Write a staff member's kiosk credential (PIN or card hash), audit it and republish
    their store's bundle, in the caller's transaction; push the result after the commit."""
    u = schema.users
    conn.execute(sa.update(u).where(u.c.username == row.username).values(**values))
    audit(conn, principal.username, action, row.username, now, store_id=row.store_id, **detail)
    return _republish_store(conn, row.store_id, principal, now, note)


def _push(coord: Coordinator, republished: list[RuleBundle]) -> None:
    for bundle in republished:
        push_bundle(coord, bundle)


def _republish_store(
    conn: sa.Connection, store_id: str, principal: Principal, now: int, note: str
) -> list[RuleBundle]:
    """Republish the bundle in force for ``store_id`` so it carries the staff's current
    PIN and card hashes (none when the store has no bundle yet: its first one will)."""
    current = rule_bundles.bundle_for_store(conn, store_id)
    if current is None:
        return []
    return [rule_bundles.republish(conn, current, user=principal.username, now_ms=now, note=note)]


class StaffCardBind(Body):
    """A staff card's UID (typed, or read by a desk reader)."""

    uid: Uid


class StaffCardSet(Out):
    """The staff card was bound or unbound; the rule bundle versions that carry the change
    to the store's kiosks."""

    username: str
    store_id: str
    has_card: bool
    bundle_versions: list[int]


def _staff_row(coord: Coordinator, principal: Principal, username: str) -> sa.Row[Any]:
    """The staff member's row, after checking the caller manages their store."""
    u = schema.users
    with coord.db.read() as conn:
        row = conn.execute(sa.select(u).where(u.c.username == username)).first()
    if row is None:
        raise not_found("user", username, "username")
    _can_manage(principal, row.store_id)
    if row.store_id is None:
        raise invalid("store_required", "staff cards belong to staff of a store", "username")
    return row


def bind_card(
    coord: Coordinator, principal: Principal, username: str, body: StaffCardBind
) -> StaffCardSet:
    """Bind an NFC staff card to a staff member (replacing the one they had) and republish
    the store's bundle. Refused, changing nothing, when the UID is a member's card or
    another staff member's."""
    row = _staff_row(coord, principal, username)
    uid = normalise_uid(body.uid)
    c = schema.cards
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        if conn.execute(sa.select(c.c.uid).where(c.c.uid == uid)).first() is not None:
            raise conflict(
                "card_is_member_card",
                f"card {uid} is a member's card; give the staff member a card of their own",
                "uid",
            )
        owner = staff_card_owner(conn, uid)
        if owner == username:
            raise conflict(
                "card_already_bound", f"card {uid} is already {username}'s staff card", "uid"
            )
        if owner is not None:
            raise conflict(
                "card_is_staff_card",
                f"card {uid} is already the staff card of "
                f"{owner}; unbind it there first, or use another card",
                "uid",
            )
        # The UID is not kept, not even in the audit log: its last 4 digits tell cards apart.
        republished = _save_credential(
            conn,
            principal,
            row,
            now,
            {"card_hash": hash_card_uid(uid)},
            "staff.card_bind",
            f"staff card of {username}",
            card_tail=uid[-4:],
        )
    _push(coord, republished)
    return StaffCardSet(
        username=username,
        store_id=row.store_id,
        has_card=True,
        bundle_versions=[b.version for b in republished],
    )


def bind_tapped_card(
    coord: Coordinator, principal: Principal, username: str, kiosk_id: str, since_ms: int
) -> StaffCardSet:
    """Bind the card just tapped at ``kiosk_id``, a kiosk of the staff member's store (the
    kiosk refused it as an unknown card and reported its UID)."""
    row = _staff_row(coord, principal, username)
    k = schema.kiosks
    with coord.db.read() as conn:
        store = conn.execute(sa.select(k.c.store_id).where(k.c.kiosk_id == kiosk_id)).scalar()
    if store != row.store_id:
        raise invalid(
            "kiosk_not_in_store",
            f"kiosk {kiosk_id} is not a kiosk of "
            f"{username}'s store {row.store_id}; pick one of that store",
            "kiosk_id",
        )
    tapped = card_tapped_at(coord, principal, kiosk_id, since_ms)
    return bind_card(coord, principal, username, StaffCardBind(uid=tapped.uid))


def unbind_card(coord: Coordinator, principal: Principal, username: str) -> StaffCardSet:
    """Take a staff member's card away (lost, or they left): one action; the store's kiosks
    stop accepting it with the bundle republished now."""
    row = _staff_row(coord, principal, username)
    if row.card_hash is None:
        raise conflict("no_staff_card", f"{username} has no staff card to unbind", "username")
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        republished = _save_credential(
            conn, principal, row, now, {"card_hash": None}, "staff.card_unbind",
            f"staff card of {username} unbound",
        )  # fmt: skip
    _push(coord, republished)
    return StaffCardSet(
        username=username,
        store_id=row.store_id,
        has_card=False,
        bundle_versions=[b.version for b in republished],
    )
