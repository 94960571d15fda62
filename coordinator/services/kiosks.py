"""Kiosks: registration (provisioning or enrollment), liveness, revocation.

Two ways for a kiosk to get its broker credentials:

* provisioning (:func:`provision`): staff register the kiosk and copy the password into its
  config by hand;
* enrollment: staff ask for a one-time code (:func:`create_enrollment_code`) and the new
  kiosk trades it for its credentials itself (:func:`enroll`, called by ``tapfleet kiosk
  enroll``).

Either way, and on revocation, the broker's users and ACL follow at once when the
coordinator manages the broker files (``broker_dir``; :mod:`coordinator.mqtt.broker_sync`).
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.downstream import timetables
from coordinator.errors import ApiError, conflict, invalid, not_found
from coordinator.fleet.liveness import kiosk_health, kiosks_health_json
from coordinator.ledger import streams
from coordinator.mqtt.broker_config import mosquitto_password_hash
from coordinator.mqtt.broker_sync import SyncResult
from coordinator.runtime import Coordinator
from coordinator.security import enrollment
from coordinator.security.auth import Principal
from coordinator.services.common import Body, Out, audit, scoped_store, store_exists
from coordinator.services.rules import push_bundle
from shared import topics
from shared.model import Id
from shared.protocol import Heartbeat, Versions
from shared.topics import Channel


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


class BrokerState(Out):
    """Whether the coordinator rewrote the broker's users and ACL and made it reload."""

    enabled: bool
    changed: bool
    reloaded: bool
    detail: str


class MqttCredentials(Out):
    """Where and as whom the kiosk connects to the broker (the password is shown once)."""

    host: str
    port: int
    username: str
    password: str
    tls: bool
    ca_pem: str | None


class KioskTopics(Out):
    """The topics the kiosk publishes to and subscribes to, and its ACL lines."""

    publish: dict[str, str]
    subscribe: list[str]
    acl: list[str]


class KioskCredentials(Out):
    """A registered kiosk's broker credentials and topics."""

    kiosk_id: str
    store_id: str
    name: str | None = None
    mqtt: MqttCredentials
    topics: KioskTopics
    broker: BrokerState
    note: str | None = None


class EnrollmentCode(Out):
    """A one-time code (shown once) and how to use it."""

    kiosk_id: str
    store_id: str
    code: str
    expires_ms: int
    enroll: str


class PendingCode(Out):
    """A code waiting to be used (never the code itself)."""

    kiosk_id: str
    store_id: str
    name: str
    created_by: str
    created_ms: int
    expires_ms: int


class Evidence(Out):
    """What the liveness facts were judged from."""

    status: str | None
    status_at_ms: int | None
    status_received_ms: int | None
    heartbeat_received_ms: int | None
    heartbeat_interval_s: int | None
    applied_seq: int
    reported_last_seq: int | None
    reported_versions: Versions | None
    current_versions: Versions
    events_caught_up: bool
    versions_current: bool
    poisoned_count: int
    heartbeat: Heartbeat | None


class KioskHealth(Out):
    """Alive, connected, in sync and last good tap of a kiosk: separate facts."""

    kiosk_id: str
    store_id: str
    revoked: bool
    alive: bool = Field(description="A heartbeat arrived within 1.5x its stated interval.")
    connected: bool = Field(description="The retained status says online (not the will).")
    in_sync: bool = Field(description="Every event applied here; current versions applied.")
    last_good_tap_ms: int | None
    evidence: Evidence


class Revoked(Out):
    """A revoked kiosk: its messages are refused from now on."""

    kiosk_id: str
    revoked: bool
    ack_topic: str
    broker: BrokerState


class LostRangeOut(Out):
    """Seqs of a closed stream epoch that the old ledger held but never delivered."""

    epoch: int
    first_seq: int
    last_seq: int
    count: int
    recorded_ms: int
    recorded_by: str
    note: str


class StreamEpochOut(Out):
    """One stream epoch of a kiosk id."""

    epoch: int
    start_seq: int
    heard_seq: int
    opened_ms: int
    opened_by: str
    closed_ms: int | None
    closed_applied_seq: int | None
    claimed: bool
    refused_reason: str | None
    refused_detail: str | None
    refused_ms: int | None


class KioskStreams(Out):
    """A kiosk id's stream epochs (newest first) and lost ranges."""

    kiosk_id: str
    epochs: list[StreamEpochOut]
    lost: list[LostRangeOut]


class Reprovisioned(Out):
    """A kiosk id re-provisioned: the new epoch its next fresh ledger is handed."""

    kiosk_id: str
    epoch: int
    start_seq: int
    closed_epoch: int
    applied_seq: int
    lost: list[LostRangeOut]
    next_step: str


def _broker(result: SyncResult) -> BrokerState:
    return BrokerState.model_validate(result.as_dict())


def _topics(kiosk_id: str, store_id: str) -> KioskTopics:
    return KioskTopics(
        publish={c.value: topics.kiosk_topic(kiosk_id, c) for c in sorted(topics.UP_CHANNELS)},
        subscribe=[t for t, _ in topics.kiosk_subscriptions(kiosk_id, store_id)],
        acl=[f"{access} {topic}" for access, topic in topics.kiosk_acl(kiosk_id, store_id)],
    )


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


def _mqtt(coord: Coordinator, kiosk_id: str, password: str) -> MqttCredentials:
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
    return MqttCredentials(
        host=settings.kiosk_mqtt_host or settings.mqtt_host,
        port=settings.kiosk_mqtt_port or settings.mqtt_port,
        username=kiosk_id,
        password=password,
        tls=ca_pem is not None,
        ca_pem=ca_pem,
    )


def provision(coord: Coordinator, principal: Principal, body: NewKiosk) -> KioskCredentials:
    """Register a kiosk; returns its broker credentials (the password is shown only once)."""
    principal.require_manager()
    principal.require_store(body.store_id)
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        password = _register(coord, conn, body.kiosk_id, body.store_id, body.name, now)
        audit(conn, principal.username, "kiosk.provision", body.kiosk_id, now, store=body.store_id)
        # The store's classes get seats for the new kiosk (a new layered bundle).
        layered = timetables.publish_layered(
            conn, body.store_id, user=principal.username, now_ms=now
        )
    if layered is not None:
        push_bundle(coord, layered)
    mqtt = _mqtt(coord, body.kiosk_id, password)
    sync = coord.broker_sync.sync()
    return KioskCredentials(
        kiosk_id=body.kiosk_id,
        store_id=body.store_id,
        name=body.name or body.kiosk_id,
        mqtt=mqtt,
        topics=_topics(body.kiosk_id, body.store_id),
        broker=_broker(sync),
        note=None
        if sync.reloaded
        else (
            "Regenerate the broker's password and ACL files (tapfleet broker-config) "
            "so the broker accepts this kiosk."
        ),
    )


def create_enrollment_code(
    coord: Coordinator, principal: Principal, body: NewEnrollmentCode
) -> EnrollmentCode:
    """A one-time code a new kiosk trades for its own credentials (shown only once)."""
    principal.require_manager()
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
    return EnrollmentCode(
        kiosk_id=body.kiosk_id,
        store_id=body.store_id,
        code=code,
        expires_ms=expires_ms,
        enroll="on the kiosk: tapfleet kiosk enroll --coordinator <URL> --code <code> "
        "--out /etc/tapfleet/kiosk.toml",
    )


def pending_codes(coord: Coordinator, principal: Principal) -> list[PendingCode]:
    """Codes waiting to be used (a store manager sees their own store's); never the codes."""
    principal.require_manager()
    with coord.db.read() as conn:
        rows = enrollment.pending(conn, coord.clock.wall_ms(), principal.store_filter())
    return [PendingCode.model_validate(row) for row in rows]


def enroll(coord: Coordinator, code: str, address: str) -> KioskCredentials:
    """Trade a one-time enrollment code for this kiosk's broker credentials (no login: the
    code is the credential). Failed attempts are limited per address."""
    now = coord.clock.wall_ms()
    coord.enroll_limiter.check(None, address, now)
    try:
        with coord.db.write() as conn:
            row = enrollment.redeem(conn, code, now, address)
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
            layered = timetables.publish_layered(
                conn, row.store_id, user=f"enroll:{row.created_by}", now_ms=now
            )
    except ApiError as exc:
        if exc.status == 403:
            coord.enroll_limiter.failed(None, address, now)
        raise
    if layered is not None:
        push_bundle(coord, layered)
    return KioskCredentials(
        kiosk_id=row.kiosk_id,
        store_id=row.store_id,
        name=row.name or row.kiosk_id,
        mqtt=_mqtt(coord, row.kiosk_id, password),
        topics=_topics(row.kiosk_id, row.store_id),
        broker=_broker(coord.broker_sync.sync()),
    )


def kiosks_json(
    coord: Coordinator,
    principal: Principal,
    *,
    store_id: str | None,
    after: str | None,
    limit: int | None,
) -> bytes:
    """Kiosks with their liveness facts in kiosk id order, as ``list[KioskHealth]`` JSON
    (encoded without a model round trip: a fleet-wide list is large)."""
    store_id = scoped_store(principal, store_id)
    with coord.db.read() as conn:
        return kiosks_health_json(
            conn, coord.clock.wall_ms(), store_id=store_id, after=after, limit=limit
        )


def get_kiosk(coord: Coordinator, principal: Principal, kiosk_id: str) -> KioskHealth:
    """Alive, connected, in sync and last good tap of one kiosk, with the evidence."""
    with coord.db.read() as conn:
        health = kiosk_health(conn, kiosk_id, coord.clock.wall_ms())
    if health is None:
        raise not_found("kiosk", kiosk_id, "kiosk_id")
    principal.require_store(health["store_id"])
    return KioskHealth.model_validate(health)


def revoke(coord: Coordinator, principal: Principal, kiosk_id: str) -> Revoked:
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
    return Revoked(
        kiosk_id=kiosk_id,
        revoked=True,
        ack_topic=topics.kiosk_topic(kiosk_id, Channel.ACK),
        broker=_broker(coord.broker_sync.sync()),
    )


def _store_of(conn: Connection, kiosk_id: str) -> str:
    k = schema.kiosks
    store_id = conn.execute(
        sa.select(k.c.store_id).where(k.c.kiosk_id == kiosk_id)
    ).scalar_one_or_none()
    if store_id is None:
        raise not_found("kiosk", kiosk_id, "kiosk_id")
    return str(store_id)


def stream_history(coord: Coordinator, principal: Principal, kiosk_id: str) -> KioskStreams:
    """The kiosk id's stream epochs and the lost ranges of its closed epochs."""
    with coord.db.read() as conn:
        principal.require_store(_store_of(conn, kiosk_id))
        found = streams.kiosk_streams(conn, kiosk_id)
    return KioskStreams.model_validate(found)


def reprovision(coord: Coordinator, principal: Principal, kiosk_id: str) -> Reprovisioned:
    """Re-provision a kiosk id whose ledger is gone (dead SD card, re-imaged Pi): close its
    stream epoch, record what the old ledger never delivered as lost ranges, and open the
    next epoch for the next fresh ledger that connects under this id. Audited."""
    principal.require_write()
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        store_id = _store_of(conn, kiosk_id)
        principal.require_store(store_id)
        opened = streams.open_epoch(conn, kiosk_id, by=principal.username, now_ms=now)
        audit(
            conn,
            principal.username,
            "kiosk.reprovision",
            kiosk_id,
            now,
            store=store_id,
            epoch=opened.epoch,
            start_seq=opened.start_seq,
            lost=[[r.first_seq, r.last_seq] for r in opened.lost],
        )
    return Reprovisioned(
        kiosk_id=kiosk_id,
        epoch=opened.epoch,
        start_seq=opened.start_seq,
        closed_epoch=opened.closed_epoch,
        applied_seq=opened.applied_seq,
        lost=[
            LostRangeOut(
                epoch=r.epoch,
                first_seq=r.first_seq,
                last_seq=r.last_seq,
                count=r.count,
                recorded_ms=now,
                recorded_by=principal.username,
                note="",
            )
            for r in opened.lost
        ],
        next_step="start the kiosk with an empty ledger file: it is handed epoch "
        f"{opened.epoch} at its first sync and continues from seq {opened.start_seq}",
    )
