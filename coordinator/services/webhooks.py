"""Webhook endpoints the chain registers, their delivery log, resends and secret rotation.

An endpoint is chain-wide (HQ admins) or one store's (its manager may manage it too). Its
secret is shown once, when it is created or rotated; a rotation keeps the old secret
signing for a grace period, so the receiver can switch without losing a message (every
live secret signs: several ``v1,`` signatures in one header).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.errors import ApiError, forbidden, invalid, not_found
from coordinator.outbound import webhooks
from coordinator.outbound.targets import TargetRefused, check_target
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services.common import Body, Out, audit, scoped_store, store_exists
from shared.model import Id
from shared.webhook_signature import new_secret

EVENT_PATTERN = re.compile(r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$")
"""An event type or a subscription pattern: ``notification.birthday``, ``notification.*``."""
DeliveryStatus = Literal["pending", "delivered", "failed"]


class NewEndpoint(Body):
    """A webhook endpoint to register."""

    url: str = Field(min_length=8, max_length=2000, description="http(s) URL receiving POSTs.")
    store_id: Id | None = Field(None, description="Only this store's messages; None: all.")
    event_types: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Subscribed types (``notification.*`` style); empty: every type.",
    )
    description: str = Field("", max_length=200)


class EndpointChange(Body):
    """Fields of an endpoint to change (absent ones stay)."""

    url: str | None = Field(None, min_length=8, max_length=2000)
    event_types: list[str] | None = Field(None, max_length=50)
    description: str | None = Field(None, max_length=200)
    enabled: bool | None = Field(None, description="Enabling clears the failing streak.")


class Rotation(Body):
    """A secret rotation."""

    grace_s: int = Field(
        86_400, ge=0, le=30 * 86_400, description="How long the old secrets keep signing."
    )


class EndpointOut(Out):
    """An endpoint as the API shows it (never its secrets)."""

    endpoint_id: str
    url: str
    store_id: str | None
    event_types: list[str]
    description: str
    enabled: bool
    disabled_reason: str
    failing_since_ms: int | None
    live_secrets: int = Field(description="Secrets that sign now (2 during a rotation).")
    created_ms: int
    updated_ms: int


class EndpointSecret(Out):
    """An endpoint with its new secret: shown this once, keep it in the receiver."""

    endpoint: EndpointOut
    secret: str = Field(description="``whsec_`` + base64 key; the receiver verifies with it.")


class AttemptOut(Out):
    """One HTTP request of a delivery."""

    attempt_no: int
    at_ms: int
    outcome: str = Field(description="ok, http_error, timeout, connect_error, refused_target.")
    status_code: int | None
    duration_ms: int
    detail: str


class DeliveryOut(Out):
    """One message for one endpoint, and where it stands."""

    delivery_id: int
    endpoint_id: str
    message_id: str = Field(description="The ``webhook-id`` header (receivers dedupe on it).")
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_ms: int
    give_up_ms: int
    last_status_code: int | None
    created_ms: int
    done_ms: int | None


class DeliveryDetail(DeliveryOut):
    """A delivery with its body and every attempt."""

    body: str
    attempt_log: list[AttemptOut]


def _endpoint_out(row: sa.Row[Any], now_ms: int) -> EndpointOut:
    return EndpointOut(
        endpoint_id=row.endpoint_id,
        url=row.url,
        store_id=row.store_id,
        event_types=json.loads(row.event_types),
        description=row.description,
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        failing_since_ms=row.failing_since_ms,
        live_secrets=sum(1 for s in webhooks.load_secrets(row.secrets) if s.live_at(now_ms)),
        created_ms=row.created_ms,
        updated_ms=row.updated_ms,
    )


def _delivery_fields(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "delivery_id": row.id,
        "endpoint_id": row.endpoint_id,
        "message_id": row.message_id,
        "event_type": row.event_type,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_ms": row.next_attempt_ms,
        "give_up_ms": row.give_up_ms,
        "last_status_code": row.last_status_code,
        "created_ms": row.created_ms,
        "done_ms": row.done_ms,
    }


def _check_url(coord: Coordinator, url: str) -> None:
    try:
        check_target(url, allow_private=coord.webhooks.sender.allow_private)
    except TargetRefused as exc:
        raise invalid(exc.code, str(exc), "url") from exc


def _check_patterns(patterns: list[str]) -> list[str]:
    for i, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or not EVENT_PATTERN.match(pattern):
            raise invalid(
                "webhook_event_type",
                f"{pattern!r} is not an event type (e.g. notification.birthday or notification.*)",
                f"event_types.{i}",
            )
    return sorted(set(patterns))


def _may_manage(principal: Principal, store_id: str | None) -> None:
    principal.require_write()
    if store_id is None:
        if not principal.is_admin:
            raise forbidden("only HQ admins manage chain-wide webhook endpoints", "admin_only")
    else:
        principal.require_store(store_id)


def _endpoint_row(conn: Connection, principal: Principal, endpoint_id: str) -> sa.Row[Any]:
    e = schema.webhook_endpoints
    row = conn.execute(sa.select(e).where(e.c.endpoint_id == endpoint_id)).first()
    if row is None or ((own := principal.store_filter()) is not None and row.store_id != own):
        raise not_found("webhook_endpoint", endpoint_id, "endpoint_id")
    return row


def list_endpoints(
    coord: Coordinator, principal: Principal, store_id: str | None = None
) -> list[EndpointOut]:
    """Endpoints the caller may see (a store manager: their store's)."""
    e = schema.webhook_endpoints
    query = sa.select(e).order_by(e.c.created_ms, e.c.endpoint_id)
    if (scope := scoped_store(principal, store_id)) is not None:
        query = query.where(e.c.store_id == scope)
    now = coord.clock.wall_ms()
    with coord.db.read() as conn:
        return [_endpoint_out(r, now) for r in conn.execute(query)]


def create_endpoint(coord: Coordinator, principal: Principal, body: NewEndpoint) -> EndpointSecret:
    """Register an endpoint; its secret is in the answer (this once)."""
    _may_manage(principal, body.store_id)
    _check_url(coord, body.url)
    patterns = _check_patterns(body.event_types)
    now = coord.clock.wall_ms()
    secret = new_secret()
    endpoint_id = "ep_" + webhooks.new_token()[:24]
    e = schema.webhook_endpoints
    with coord.db.write() as conn:
        if body.store_id is not None:
            store_exists(conn, body.store_id)
        conn.execute(
            sa.insert(e).values(
                endpoint_id=endpoint_id,
                url=body.url,
                store_id=body.store_id,
                event_types=json.dumps(patterns),
                secrets=webhooks.dump_secrets(
                    [webhooks.Secret(webhooks.seal_secret(coord.sealer, endpoint_id, secret))]
                ),
                description=body.description,
                enabled=True,
                disabled_reason="",
                failing_since_ms=None,
                created_ms=now,
                updated_ms=now,
            )
        )
        audit(
            conn,
            principal.username,
            "webhook.create",
            endpoint_id,
            now,
            url=body.url,
            store_id=body.store_id,
            event_types=patterns,
        )
        row = _endpoint_row(conn, principal, endpoint_id)
    return EndpointSecret(endpoint=_endpoint_out(row, now), secret=secret)


def get_endpoint(coord: Coordinator, principal: Principal, endpoint_id: str) -> EndpointOut:
    """One endpoint."""
    with coord.db.read() as conn:
        row = _endpoint_row(conn, principal, endpoint_id)
    return _endpoint_out(row, coord.clock.wall_ms())


def change_endpoint(
    coord: Coordinator, principal: Principal, endpoint_id: str, body: EndpointChange
) -> EndpointOut:
    """Change an endpoint's URL, subscriptions, description, or enable/disable it."""
    now = coord.clock.wall_ms()
    if body.url is not None:
        _check_url(coord, body.url)
    values: dict[str, Any] = {"updated_ms": now}
    if body.url is not None:
        values["url"] = body.url
    if body.event_types is not None:
        values["event_types"] = json.dumps(_check_patterns(body.event_types))
    if body.description is not None:
        values["description"] = body.description
    if body.enabled is not None:
        values["enabled"] = body.enabled
        values["disabled_reason"] = "" if body.enabled else f"disabled by {principal.username}"
        values["failing_since_ms"] = None
    e = schema.webhook_endpoints
    with coord.db.write() as conn:
        row = _endpoint_row(conn, principal, endpoint_id)
        _may_manage(principal, row.store_id)
        conn.execute(sa.update(e).where(e.c.endpoint_id == endpoint_id).values(**values))
        audit(
            conn,
            principal.username,
            "webhook.change",
            endpoint_id,
            now,
            **{k: v for k, v in values.items() if k != "updated_ms"},
        )
        row = _endpoint_row(conn, principal, endpoint_id)
    return _endpoint_out(row, now)


def rotate_secret(
    coord: Coordinator, principal: Principal, endpoint_id: str, body: Rotation
) -> EndpointSecret:
    """A new secret; the live old ones keep signing for ``grace_s`` (several signatures)."""
    now = coord.clock.wall_ms()
    e = schema.webhook_endpoints
    secret = new_secret()
    with coord.db.write() as conn:
        row = _endpoint_row(conn, principal, endpoint_id)
        _may_manage(principal, row.store_id)
        until = now + body.grace_s * 1000
        old = [
            webhooks.Secret(s.secret, until if s.expires_ms is None else min(s.expires_ms, until))
            for s in webhooks.load_secrets(row.secrets)
        ]
        kept = [s for s in old if s.live_at(now)]
        conn.execute(
            sa.update(e)
            .where(e.c.endpoint_id == endpoint_id)
            .values(
                secrets=webhooks.dump_secrets(
                    [
                        *kept,
                        webhooks.Secret(webhooks.seal_secret(coord.sealer, endpoint_id, secret)),
                    ]
                ),
                updated_ms=now,
            )
        )
        audit(conn, principal.username, "webhook.rotate", endpoint_id, now, grace_s=body.grace_s)
        row = _endpoint_row(conn, principal, endpoint_id)
    return EndpointSecret(endpoint=_endpoint_out(row, now), secret=secret)


def list_deliveries(
    coord: Coordinator,
    principal: Principal,
    endpoint_id: str,
    status: DeliveryStatus | None = None,
    limit: int = 100,
) -> list[DeliveryOut]:
    """An endpoint's deliveries, newest first."""
    d = schema.webhook_deliveries
    query = sa.select(d).where(d.c.endpoint_id == endpoint_id).order_by(d.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(d.c.status == status)
    with coord.db.read() as conn:
        _endpoint_row(conn, principal, endpoint_id)
        return [DeliveryOut(**_delivery_fields(r)) for r in conn.execute(query)]


def _delivery_row(conn: Connection, principal: Principal, delivery_id: int) -> sa.Row[Any]:
    d = schema.webhook_deliveries
    row = conn.execute(sa.select(d).where(d.c.id == delivery_id)).first()
    if row is None:
        raise not_found("webhook_delivery", str(delivery_id), "delivery_id")
    try:
        _endpoint_row(conn, principal, row.endpoint_id)
    except ApiError as exc:  # another store's endpoint: as if it did not exist
        raise not_found("webhook_delivery", str(delivery_id), "delivery_id") from exc
    return row


def get_delivery(coord: Coordinator, principal: Principal, delivery_id: int) -> DeliveryDetail:
    """A delivery with its body and its attempt log."""
    a = schema.webhook_attempts
    with coord.db.read() as conn:
        row = _delivery_row(conn, principal, delivery_id)
        attempts = [
            AttemptOut(
                attempt_no=r.attempt_no,
                at_ms=r.at_ms,
                outcome=r.outcome,
                status_code=r.status_code,
                duration_ms=r.duration_ms,
                detail=r.detail,
            )
            for r in conn.execute(
                sa.select(a).where(a.c.delivery_id == delivery_id).order_by(a.c.attempt_no, a.c.id)
            )
        ]
    return DeliveryDetail(**_delivery_fields(row), body=row.body, attempt_log=attempts)


def resend_delivery(coord: Coordinator, principal: Principal, delivery_id: int) -> DeliveryOut:
    """Send a delivery again now (whatever its state), audited."""
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        row = _delivery_row(conn, principal, delivery_id)
        e = schema.webhook_endpoints
        store_id = conn.execute(
            sa.select(e.c.store_id).where(e.c.endpoint_id == row.endpoint_id)
        ).scalar()
        _may_manage(principal, store_id)
        webhooks.resend(conn, delivery_id, now)
        audit(
            conn,
            principal.username,
            "webhook.resend",
            str(delivery_id),
            now,
            message_id=row.message_id,
            endpoint_id=row.endpoint_id,
        )
        row = _delivery_row(conn, principal, delivery_id)
    coord.webhooks.wake()
    return DeliveryOut(**_delivery_fields(row))
