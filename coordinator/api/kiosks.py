"""Kiosks: registration (provisioning), status and health, revocation."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query
from pydantic import Field

from coordinator import schema
from coordinator.api.deps import Body, CoordinatorDep, PrincipalDep, audit, store_exists
from coordinator.broker_config import mosquitto_password_hash
from coordinator.errors import conflict, not_found
from coordinator.liveness import kiosk_health
from shared import topics
from shared.model import Id
from shared.topics import Channel

router = APIRouter(prefix="/api/v1/kiosks", tags=["kiosks"])


class NewKiosk(Body):
    """A kiosk to provision."""

    kiosk_id: Id
    store_id: Id
    name: str = Field("", max_length=200)


def _topics(kiosk_id: str, store_id: str) -> dict[str, Any]:
    return {
        "publish": {c.value: topics.kiosk_topic(kiosk_id, c) for c in sorted(topics.UP_CHANNELS)},
        "subscribe": [t for t, _ in topics.kiosk_subscriptions(kiosk_id, store_id)],
        "acl": [f"{access} {topic}" for access, topic in topics.kiosk_acl(kiosk_id, store_id)],
    }


@router.post("", status_code=201)
def provision(coord: CoordinatorDep, principal: PrincipalDep, body: NewKiosk) -> dict[str, Any]:
    """Register a kiosk; returns its broker credentials (the password is shown only once)."""
    principal.require_write()
    principal.require_store(body.store_id)
    now = coord.clock.wall_ms()
    password = secrets.token_urlsafe(18)
    k = schema.kiosks
    with coord.db.write() as conn:
        store_exists(conn, body.store_id)
        if conn.execute(sa.select(k.c.kiosk_id).where(k.c.kiosk_id == body.kiosk_id)).first():
            raise conflict("kiosk_exists", f"kiosk {body.kiosk_id!r} already exists", "kiosk_id")
        conn.execute(
            sa.insert(k).values(
                kiosk_id=body.kiosk_id,
                store_id=body.store_id,
                name=body.name or body.kiosk_id,
                revoked=False,
                created_ms=now,
                mqtt_password_hash=mosquitto_password_hash(password),
                applied_seq=0,
                poisoned_count=0,
            )
        )
        conn.execute(sa.insert(schema.kiosk_health).values(kiosk_id=body.kiosk_id))
        audit(conn, principal.username, "kiosk.provision", body.kiosk_id, now, store=body.store_id)
    return {
        "kiosk_id": body.kiosk_id,
        "store_id": body.store_id,
        "mqtt": {
            "host": coord.settings.mqtt_host,
            "port": coord.settings.mqtt_port,
            "username": body.kiosk_id,
            "password": password,
        },
        "topics": _topics(body.kiosk_id, body.store_id),
        "note": "Regenerate the broker's password and ACL files (tapfleet broker-config) "
        "so the broker accepts this kiosk.",
    }


@router.get("")
def list_kiosks(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    store_id: Annotated[Id | None, Query()] = None,
) -> list[dict[str, Any]]:
    """Kiosks with their liveness facts (a store manager sees their own store's)."""
    own = principal.store_filter()
    if own is not None:
        if store_id is not None:
            principal.require_store(store_id)
        store_id = own
    k = schema.kiosks
    query = sa.select(k.c.kiosk_id).order_by(k.c.kiosk_id)
    if store_id is not None:
        query = query.where(k.c.store_id == store_id)
    now = coord.clock.wall_ms()
    with coord.db.read() as conn:
        ids = list(conn.execute(query).scalars())
        return [h for i in ids if (h := kiosk_health(conn, i, now)) is not None]


@router.get("/{kiosk_id}")
def get_kiosk(
    coord: CoordinatorDep, principal: PrincipalDep, kiosk_id: Annotated[Id, Path()]
) -> dict[str, Any]:
    """Alive, connected, in sync and last good tap of one kiosk, with the evidence."""
    with coord.db.read() as conn:
        health = kiosk_health(conn, kiosk_id, coord.clock.wall_ms())
    if health is None:
        raise not_found("kiosk", kiosk_id, "kiosk_id")
    principal.require_store(health["store_id"])
    return health


@router.post("/{kiosk_id}/revoke")
def revoke(
    coord: CoordinatorDep, principal: PrincipalDep, kiosk_id: Annotated[Id, Path()]
) -> dict[str, Any]:
    """Stop accepting anything from a kiosk (HQ admins). Its recorded events stay."""
    principal.require_admin()
    now = coord.clock.wall_ms()
    k = schema.kiosks
    with coord.db.write() as conn:
        done = conn.execute(sa.update(k).where(k.c.kiosk_id == kiosk_id).values(revoked=True))
        if not done.rowcount:
            raise not_found("kiosk", kiosk_id, "kiosk_id")
        audit(conn, principal.username, "kiosk.revoke", kiosk_id, now)
    return {
        "kiosk_id": kiosk_id,
        "revoked": True,
        "ack_topic": topics.kiosk_topic(kiosk_id, Channel.ACK),
    }
