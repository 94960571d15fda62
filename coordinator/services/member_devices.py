"""Members' phones that sign their own QR codes: register, list, revoke.

A phone registers its public key with the member's personal link (the link is the
credential, as for the page itself); staff list and revoke a member's phones from the front
desk. Every change marks the member's record changed, so kiosks get the new device list
with the next push (``MemberRecord.devices``), and is written to the audit log.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import Field, StringConstraints

from coordinator import schema
from coordinator.errors import ApiError, conflict, invalid, not_found
from coordinator.ledger.member_fold import mark_changed
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services.common import Body, Out, audit, check_member_access, member_row
from shared import phonecode, qrtoken


class RegisterDevice(Body):
    """A phone's new public key (the private key never leaves the phone)."""

    link: Annotated[str, StringConstraints(min_length=10, max_length=600)]
    public_key: Annotated[str, StringConstraints(min_length=43, max_length=44)]
    """Raw Ed25519 public key, urlsafe base64 (as WebCrypto exports it, re-encoded)."""
    user_agent: Annotated[str, StringConstraints(max_length=200)] = ""


class DeviceRegistered(Out):
    """The device id the phone signs with, and how its codes should be made."""

    device_id: str
    member_id: str
    code_ttl_s: int
    refresh_s: int


class DeviceRecord(Out):
    """One of a member's phones."""

    device_id: str
    member_id: str
    created_ms: int
    last_seen_ms: int
    user_agent: str
    revoked_ms: int | None = None
    revoked_by: str | None = None


class DeviceList(Out):
    """A member's phones, newest first, and how many more may be added."""

    items: list[DeviceRecord]
    active: Annotated[int, Field(ge=0)]
    max_devices: int


def _record(row: sa.Row[Any]) -> DeviceRecord:
    return DeviceRecord(
        device_id=row.device_id,
        member_id=row.member_id,
        created_ms=row.created_ms,
        last_seen_ms=row.last_seen_ms,
        user_agent=row.user_agent,
        revoked_ms=row.revoked_ms,
        revoked_by=row.revoked_by,
    )


def _registered(row: sa.Row[Any]) -> DeviceRegistered:
    return DeviceRegistered(
        device_id=row.device_id,
        member_id=row.member_id,
        code_ttl_s=phonecode.CODE_TTL_S,
        refresh_s=phonecode.REFRESH_S,
    )


def register(coord: Coordinator, member_id: str, body: RegisterDevice) -> DeviceRegistered:
    """Register a phone's public key for the member whose link it showed.

    The same key again is the same device (a page reloaded before it stored the answer).
    A key held by another member is refused; so is a fourth active device (409,
    ``too_many_devices``: a phone must be removed at the front desk first).
    """
    if not qrtoken.is_public_key(body.public_key):
        raise invalid("bad_public_key", "not a raw Ed25519 public key", "public_key")
    d = schema.member_devices
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        row = member_row(conn, member_id)
        if row.status != "active":
            raise ApiError(403, "member_suspended", "this membership is on hold")
        existing = conn.execute(sa.select(d).where(d.c.public_key == body.public_key)).first()
        if existing is not None:
            if existing.member_id != member_id or existing.revoked_ms is not None:
                raise conflict(
                    "device_key_in_use",
                    "this key cannot be registered; make a new one",
                    "public_key",
                )
            conn.execute(
                sa.update(d).where(d.c.device_id == existing.device_id).values(last_seen_ms=now)
            )
            return _registered(existing)
        active = conn.execute(
            sa.select(sa.func.count())
            .select_from(d)
            .where(d.c.member_id == member_id, d.c.revoked_ms.is_(None))
        ).scalar_one()
        if active >= phonecode.MAX_DEVICES:
            raise conflict(
                "too_many_devices",
                f"this membership already has {active} phones; remove one at the front desk",
            )
        device_id = "d" + secrets.token_hex(4)
        conn.execute(
            sa.insert(d).values(
                device_id=device_id,
                member_id=member_id,
                public_key=body.public_key,
                created_ms=now,
                last_seen_ms=now,
                user_agent=body.user_agent,
            )
        )
        mark_changed(conn, [member_id], now)
        audit(conn, f"member:{member_id}", "device.register", device_id, now, member=member_id)
        created = conn.execute(sa.select(d).where(d.c.device_id == device_id)).one()
    coord.pusher.wake()
    return _registered(created)


def list_devices(coord: Coordinator, principal: Principal, member_id: str) -> DeviceList:
    """A member's phones, newest first (staff who may see the member)."""
    d = schema.member_devices
    with coord.db.read() as conn:
        check_member_access(principal, member_row(conn, member_id))
        rows = conn.execute(
            sa.select(d)
            .where(d.c.member_id == member_id)
            .order_by(d.c.created_ms.desc(), d.c.device_id)
        ).all()
    items = [_record(row) for row in rows]
    active = sum(1 for item in items if item.revoked_ms is None)
    return DeviceList(items=items, active=active, max_devices=phonecode.MAX_DEVICES)


def revoke(
    coord: Coordinator, principal: Principal, member_id: str, device_id: str
) -> DeviceRecord:
    """Remove a lost or replaced phone: kiosks refuse its codes from the next push on.

    One action for the front desk's member page (HQ and store staff with write access).
    """
    principal.require_write()
    d = schema.member_devices
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        check_member_access(principal, member_row(conn, member_id))
        row = conn.execute(
            sa.select(d).where(d.c.device_id == device_id, d.c.member_id == member_id)
        ).first()
        if row is None:
            raise not_found("device", device_id, "device_id")
        if row.revoked_ms is not None:
            raise conflict("device_revoked", f"device {device_id} is already removed", "device_id")
        conn.execute(
            sa.update(d)
            .where(d.c.device_id == device_id)
            .values(revoked_ms=now, revoked_by=principal.username)
        )
        mark_changed(conn, [member_id], now)
        audit(conn, principal.username, "device.revoke", device_id, now, member=member_id)
        row = conn.execute(sa.select(d).where(d.c.device_id == device_id)).one()
    coord.pusher.wake()
    return _record(row)
