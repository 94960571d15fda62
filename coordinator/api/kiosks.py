"""Kiosks: registration (provisioning or enrollment), status and health, revocation.

Two ways for a kiosk to get its broker credentials:

* provisioning (``POST /api/v1/kiosks``): staff register the kiosk and copy the password
  into its config by hand;
* enrollment: staff ask for a one-time code (``POST /api/v1/enrollment-codes``) and the new
  kiosk trades it for its credentials itself (``POST /api/v1/enroll``, called by
  ``tapfleet kiosk enroll``).

Either way, and on revocation, the broker's users and ACL follow at once when the
coordinator manages the broker files (``broker_dir``; :mod:`coordinator.mqtt.broker_sync`).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.api.deps import Body, CoordinatorDep, PrincipalDep, audit, store_exists
from coordinator.errors import ApiError, conflict, invalid, not_found
from coordinator.fleet.liveness import kiosk_health, kiosks_health_json
from coordinator.mqtt.broker_config import mosquitto_password_hash
from coordinator.runtime import Coordinator
from coordinator.security import enrollment
from coordinator.security.login_limit import client_address
from shared import topics
from shared.model import Id
from shared.topics import Channel

router = APIRouter(prefix="/api/v1/kiosks", tags=["kiosks"])
enroll_router = APIRouter(prefix="/api/v1", tags=["kiosks"])


class NewKiosk(Body):
    """A kiosk to provision."""

    kiosk_id: Id
    store_id: Id
    name: str = Field("", max_length=200)


class NewEnrollmentCode(Body):
    """A kiosk that is to enroll itself with a one-time code."""

    kiosk_id: Id
    store_id: Id
    name: str = Field("", max_length=200)
    ttl_s: int | None = Field(
        None, ge=60, le=7 * 86_400, description="Lifetime of the code (default: settings)."
    )


class Enrollment(Body):
    """What a new kiosk sends: the one-time code it was given."""

    code: str = Field(min_length=1, max_length=64)


def _topics(kiosk_id: str, store_id: str) -> dict[str, Any]:
    return {
        "publish": {c.value: topics.kiosk_topic(kiosk_id, c) for c in sorted(topics.UP_CHANNELS)},
        "subscribe": [t for t, _ in topics.kiosk_subscriptions(kiosk_id, store_id)],
        "acl": [f"{access} {topic}" for access, topic in topics.kiosk_acl(kiosk_id, store_id)],
    }


def _check_new_kiosk(coord: Coordinator, conn: Connection, kiosk_id: str, store_id: str) -> None:
    """404 for an unknown store, 409 for a taken kiosk id, 422 for a reserved broker user."""
    store_exists(conn, store_id)
    if kiosk_id in coord.broker_sync.reserved_users():
        raise invalid(
            "kiosk_id_reserved",
            f"{kiosk_id!r} is a coordinator's broker user; choose another kiosk id",
            "kiosk_id",
        )
    k = schema.kiosks
    if conn.execute(sa.select(k.c.kiosk_id).where(k.c.kiosk_id == kiosk_id)).first():
        raise conflict(
            "kiosk_exists",
            f"kiosk {kiosk_id!r} already exists (a replacement device gets a new kiosk id)",
            "kiosk_id",
        )


def _register(
    coord: Coordinator, conn: Connection, kiosk_id: str, store_id: str, name: str, now: int
) -> str:
    """Insert the kiosk with a fresh broker password; returns the password (shown once)."""
    _check_new_kiosk(coord, conn, kiosk_id, store_id)
    password = secrets.token_urlsafe(18)
    conn.execute(
        sa.insert(schema.kiosks).values(
            kiosk_id=kiosk_id,
            store_id=store_id,
            name=name or kiosk_id,
            revoked=False,
            created_ms=now,
            mqtt_password_hash=mosquitto_password_hash(password),
            applied_seq=0,
            poisoned_count=0,
        )
    )
    conn.execute(sa.insert(schema.kiosk_health).values(kiosk_id=kiosk_id))
    return password


def _credentials(coord: Coordinator, kiosk_id: str, store_id: str, password: str) -> dict[str, Any]:
    settings = coord.settings
    ca_pem: str | None = None
    if settings.kiosk_mqtt_ca_file is not None:
        try:
            ca_pem = settings.kiosk_mqtt_ca_file.read_text(encoding="ascii")
        except OSError as exc:
            raise ApiError(
                503,
                "broker_ca_unreadable",
                f"the coordinator cannot read kiosk_mqtt_ca_file: {exc}",
            ) from exc
    return {
        "kiosk_id": kiosk_id,
        "store_id": store_id,
        "mqtt": {
            "host": settings.kiosk_mqtt_host or settings.mqtt_host,
            "port": settings.kiosk_mqtt_port or settings.mqtt_port,
            "username": kiosk_id,
            "password": password,
            "tls": ca_pem is not None,
            "ca_pem": ca_pem,
        },
        "topics": _topics(kiosk_id, store_id),
    }


@router.post("", status_code=201)
def provision(coord: CoordinatorDep, principal: PrincipalDep, body: NewKiosk) -> dict[str, Any]:
    """Register a kiosk; returns its broker credentials (the password is shown only once)."""
    principal.require_write()
    principal.require_store(body.store_id)
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        password = _register(coord, conn, body.kiosk_id, body.store_id, body.name, now)
        audit(conn, principal.username, "kiosk.provision", body.kiosk_id, now, store=body.store_id)
    answer = _credentials(coord, body.kiosk_id, body.store_id, password)
    sync = coord.broker_sync.sync()
    answer["broker"] = sync.as_dict()
    if not sync.reloaded:
        answer["note"] = (
            "Regenerate the broker's password and ACL files (tapfleet broker-config) "
            "so the broker accepts this kiosk."
        )
    return answer


@enroll_router.post("/enrollment-codes", status_code=201)
def create_enrollment_code(
    coord: CoordinatorDep, principal: PrincipalDep, body: NewEnrollmentCode
) -> dict[str, Any]:
    """A one-time code a new kiosk trades for its own credentials (shown only once)."""
    principal.require_write()
    principal.require_store(body.store_id)
    now = coord.clock.wall_ms()
    ttl_s = body.ttl_s or coord.settings.enrollment_code_ttl_s
    with coord.db.write() as conn:
        _check_new_kiosk(coord, conn, body.kiosk_id, body.store_id)
        code, expires_ms = enrollment.create(
            conn,
            kiosk_id=body.kiosk_id,
            store_id=body.store_id,
            name=body.name,
            created_by=principal.username,
            now_ms=now,
            ttl_s=ttl_s,
        )
        audit(
            conn,
            principal.username,
            "kiosk.enrollment_code",
            body.kiosk_id,
            now,
            store=body.store_id,
            expires_ms=expires_ms,
        )
    return {
        "kiosk_id": body.kiosk_id,
        "store_id": body.store_id,
        "code": code,
        "expires_ms": expires_ms,
        "enroll": "on the kiosk: tapfleet kiosk enroll --coordinator <URL> --code <code> "
        "--out /etc/tapfleet/kiosk.toml",
    }


@enroll_router.get("/enrollment-codes")
def list_enrollment_codes(coord: CoordinatorDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Codes waiting to be used (a store manager sees their own store's); never the codes."""
    principal.require_write()
    with coord.db.read() as conn:
        return enrollment.pending(conn, coord.clock.wall_ms(), principal.store_filter())


@enroll_router.post(
    "/enroll",
    status_code=201,
    responses={
        403: {"description": "Unknown, used, superseded or expired code."},
        429: {"description": "Too many failed attempts from this address; see Retry-After."},
    },
)
def enroll(request: Request, coord: CoordinatorDep, body: Enrollment) -> dict[str, Any]:
    """Trade a one-time enrollment code for this kiosk's broker credentials (no login: the
    code is the credential). The broker accepts the kiosk as soon as this answers."""
    now = coord.clock.wall_ms()
    address = client_address(request)
    coord.enroll_limiter.check(None, address, now)
    try:
        with coord.db.write() as conn:
            row = enrollment.redeem(conn, body.code, now, address)
            password = _register(coord, conn, row.kiosk_id, row.store_id, row.name, now)
            audit(
                conn,
                f"enroll:{row.created_by}",
                "kiosk.enroll",
                row.kiosk_id,
                now,
                store=row.store_id,
                address=address,
            )
    except ApiError as exc:
        if exc.status == 403:
            coord.enroll_limiter.failed(None, address, now)
        raise
    answer = _credentials(coord, row.kiosk_id, row.store_id, password)
    answer["name"] = row.name or row.kiosk_id
    answer["broker"] = coord.broker_sync.sync().as_dict()
    return answer


@router.get("", response_model=list[dict[str, Any]])
def list_kiosks(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    store_id: Annotated[Id | None, Query()] = None,
    after: Annotated[
        Id | None, Query(description="page: only kiosks whose id sorts after this one")
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=10_000, description="page size (default: every kiosk)")
    ] = None,
) -> Response:
    """Kiosks with their liveness facts in kiosk id order (a store manager sees their own
    store's). Without ``limit`` every kiosk; page on with ``after`` = the last id seen."""
    own = principal.store_filter()
    if own is not None:
        if store_id is not None:
            principal.require_store(store_id)
        store_id = own
    now = coord.clock.wall_ms()
    with coord.db.read() as conn:
        body = kiosks_health_json(conn, now, store_id=store_id, after=after, limit=limit)
    return Response(body, media_type="application/json")


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
    # From the commit on, ingest refuses the kiosk's messages (kiosk_revoked); the broker
    # drops its login and disconnects it once it has reloaded the files.
    return {
        "kiosk_id": kiosk_id,
        "revoked": True,
        "ack_topic": topics.kiosk_topic(kiosk_id, Channel.ACK),
        "broker": coord.broker_sync.sync().as_dict(),
    }
