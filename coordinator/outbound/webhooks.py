"""The webhook outbox: fan-out of messages to endpoints, taking due deliveries with row
locks, recording each attempt, retry scheduling, disabling dead endpoints, resends.

A message (a notification, later a ledger event for integrators) is fanned out inside the
transaction that decided it: one ``webhook_deliveries`` row per subscribed endpoint, unique
on ``(endpoint, message id)``, so a retry of the decision or another replica adds nothing.
A replica takes due rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite's
writers are serialised) and leases them, sends outside any transaction, then records every
attempt and the row's new state if its lease still holds. A replica that dies mid-batch
leaves leased rows that come back when the lease ends: delivery is at least once, and
receivers deduplicate by ``webhook-id``.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.security.key_sealing import KeySealer
from shared.backoff import Backoff
from shared.webhook_signature import PREFIX as SECRET_PREFIX
from shared.webhook_signature import secret_key

RETRY_WINDOW_MS = 3 * 86_400_000
"""How long a message is retried before its delivery is marked failed (about 3 days)."""

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True)
class Secret:
    """One endpoint secret; during a rotation the old one lives until ``expires_ms``."""

    secret: str
    expires_ms: int | None = None

    def live_at(self, now_ms: int) -> bool:
        """True while the secret still signs."""
        return self.expires_ms is None or now_ms < self.expires_ms


def load_secrets(text: str) -> list[Secret]:
    """The secrets column as values."""
    return [Secret(d["secret"], d.get("expires_ms")) for d in json.loads(text)]


def dump_secrets(secrets: Iterable[Secret]) -> str:
    """Values as the secrets column."""
    return json.dumps([{"secret": s.secret, "expires_ms": s.expires_ms} for s in secrets])


def seal_secret(sealer: KeySealer, endpoint_id: str, secret: str) -> str:
    """A ``whsec_`` secret sealed for the database (AES-GCM under the coordinator's key
    encryption key, bound to the endpoint): a dump of the database alone cannot sign."""
    return sealer.seal(f"webhook:{endpoint_id}", secret_key(secret))


def open_secret(sealer: KeySealer, endpoint_id: str, text: str) -> str:
    """The ``whsec_`` secret of a stored one (sealed, or plain as tests write them)."""
    if not KeySealer.is_sealed(text):
        return text
    raw = sealer.unseal(f"webhook:{endpoint_id}", text)
    return SECRET_PREFIX + base64.b64encode(raw).decode("ascii")


def subscribed(patterns: Sequence[str], event_type: str) -> bool:
    """True when ``event_type`` matches one pattern (``a.b``, ``a.*``, ``*``).

    No patterns means every *notification*: ledger events for integrators
    (``ledger.checkin``...) go only to endpoints that ask for them by name or ``ledger.*``,
    so a gateway that sends SMS never gets every check-in of the chain.
    """
    if not patterns:
        return event_type.startswith("notification.")
    for pattern in patterns:
        if pattern == event_type or pattern == "*":
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


@dataclass(frozen=True)
class Message:
    """One message to fan out: its type, id (``webhook-id``), data and store."""

    event_type: str
    message_id: str
    data: Mapping[str, Any]
    store_id: str | None


def message_body(event_type: str, data: Mapping[str, Any], now_ms: int) -> str:
    """The Standard Webhooks payload: ``{"type", "timestamp", "data"}`` (compact JSON)."""
    stamp = datetime.fromtimestamp(now_ms / 1000, UTC).isoformat().replace("+00:00", "Z")
    return json.dumps(
        {"type": event_type, "timestamp": stamp, "data": dict(data)},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )


def publish(
    conn: Connection,
    *,
    event_type: str,
    message_id: str,
    data: Mapping[str, Any],
    store_id: str | None,
    now_ms: int,
    retry_window_ms: int = RETRY_WINDOW_MS,
) -> int:
    """Fan a message out to every enabled endpoint that subscribes to it (inside the
    caller's transaction); returns the number of deliveries added.

    A chain-wide endpoint gets every message; a store's endpoint gets its store's. The same
    ``message_id`` twice adds nothing.
    """
    message = Message(event_type, message_id, data, store_id)
    return publish_many(conn, [message], now_ms=now_ms, retry_window_ms=retry_window_ms)


def publish_many(
    conn: Connection,
    messages: Sequence[Message],
    *,
    now_ms: int,
    retry_window_ms: int = RETRY_WINDOW_MS,
) -> int:
    """:func:`publish` for several messages with one read of the endpoints (the ingest's
    path: one query per transaction when nobody subscribes)."""
    if not messages:
        return 0
    e, d = schema.webhook_endpoints, schema.webhook_deliveries
    endpoints = [
        (row.endpoint_id, row.store_id, json.loads(row.event_types))
        for row in conn.execute(
            sa.select(e.c.endpoint_id, e.c.store_id, e.c.event_types).where(e.c.enabled.is_(True))
        )
    ]
    if not endpoints:
        return 0
    wanted: list[tuple[str, Message]] = [
        (endpoint_id, m)
        for m in messages
        for endpoint_id, store_id, patterns in endpoints
        if (store_id is None or store_id == m.store_id) and subscribed(patterns, m.event_type)
    ]
    if not wanted:
        return 0
    have: set[tuple[str, str]] = set()
    ids = sorted({m.message_id for _, m in wanted})
    for start in range(0, len(ids), 500):
        have.update(
            (row.endpoint_id, row.message_id)
            for row in conn.execute(
                sa.select(d.c.endpoint_id, d.c.message_id).where(
                    d.c.message_id.in_(ids[start : start + 500])
                )
            )
        )
    bodies: dict[str, str] = {}
    rows = []
    for endpoint_id, m in wanted:
        if (endpoint_id, m.message_id) in have:
            continue
        have.add((endpoint_id, m.message_id))
        if m.message_id not in bodies:
            bodies[m.message_id] = message_body(m.event_type, m.data, now_ms)
        rows.append(
            {
                "endpoint_id": endpoint_id,
                "message_id": m.message_id,
                "event_type": m.event_type[:80],
                "body": bodies[m.message_id],
                "status": PENDING,
                "attempts": 0,
                "next_attempt_ms": now_ms,
                "give_up_ms": now_ms + retry_window_ms,
                "lease_ms": 0,
                "lease_token": "",
                "created_ms": now_ms,
            }
        )
    if rows:
        conn.execute(sa.insert(d), rows)
    return len(rows)


@dataclass(frozen=True)
class Due:
    """A delivery taken by this replica: everything needed to send it."""

    delivery_id: int
    endpoint_id: str
    url: str
    secrets: tuple[str, ...]
    message_id: str
    body: str
    attempts: int


def take_due(conn: Connection, *, now_ms: int, limit: int, lease_ms: int, token: str) -> list[Due]:
    """Lock and lease up to ``limit`` due deliveries of enabled endpoints (oldest first)."""
    e, d = schema.webhook_endpoints, schema.webhook_deliveries
    rows = list(
        conn.execute(
            sa.select(
                d.c.id,
                d.c.endpoint_id,
                d.c.message_id,
                d.c.body,
                d.c.attempts,
                e.c.url,
                e.c.secrets,
            )
            .join(e, e.c.endpoint_id == d.c.endpoint_id)
            .where(
                d.c.status == PENDING,
                d.c.next_attempt_ms <= now_ms,
                d.c.lease_ms <= now_ms,
                e.c.enabled.is_(True),
            )
            .order_by(d.c.next_attempt_ms, d.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=d)
        )
    )
    if not rows:
        return []
    conn.execute(
        sa.update(d)
        .where(d.c.id.in_([r.id for r in rows]))
        .values(lease_ms=now_ms + lease_ms, lease_token=token)
    )
    return [
        Due(
            delivery_id=r.id,
            endpoint_id=r.endpoint_id,
            url=r.url,
            secrets=tuple(s.secret for s in load_secrets(r.secrets) if s.live_at(now_ms)),
            message_id=r.message_id,
            body=r.body,
            attempts=r.attempts,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Attempt:
    """What one HTTP request of a delivery came to."""

    delivery_id: int
    endpoint_id: str
    at_ms: int
    outcome: str
    """ok | http_error | timeout | connect_error | refused_target"""
    status_code: int | None
    duration_ms: int
    detail: str = ""

    @property
    def ok(self) -> bool:
        """The endpoint took the message (a 2xx)."""
        return self.outcome == "ok"


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again after a failure, and when to give up on an endpoint."""

    min_s: float
    max_s: float
    disable_after_failing_ms: int

    def delay_ms(self, failures: int, rng: random.Random) -> int:
        """The wait after the ``failures``-th failure in a row (jittered, capped)."""
        backoff = Backoff(self.min_s, self.max_s, rng)
        backoff.failures = max(0, failures - 1)
        return int(backoff.next_delay() * 1000)


def record_attempts(
    conn: Connection,
    attempts: Sequence[Attempt],
    *,
    token: str,
    now_ms: int,
    policy: RetryPolicy,
    rng: random.Random,
) -> None:
    """Log every attempt and move its delivery on, if this replica's lease still holds.

    A success marks the delivery delivered and clears the endpoint's failing streak; a 410
    disables the endpoint; any other failure schedules a retry, or marks the delivery failed
    once the next try would fall after its give-up time; an endpoint failing every attempt
    for ``disable_after_failing_ms`` is disabled.
    """
    d, a = schema.webhook_deliveries, schema.webhook_attempts
    if not attempts:
        return
    ids = [att.delivery_id for att in attempts]
    rows = {
        r.id: r
        for r in conn.execute(
            sa.select(d.c.id, d.c.attempts, d.c.give_up_ms, d.c.lease_token, d.c.status)
            .where(d.c.id.in_(ids))
            .with_for_update()
        )
    }
    log_rows = []
    for att in attempts:
        row = rows.get(att.delivery_id)
        if row is None:
            continue
        number = row.attempts + 1
        log_rows.append(
            {
                "delivery_id": att.delivery_id,
                "attempt_no": number,
                "at_ms": att.at_ms,
                "outcome": att.outcome,
                "status_code": att.status_code,
                "duration_ms": att.duration_ms,
                "detail": att.detail[:500],
            }
        )
        values: dict[str, Any] = {"attempts": number, "last_status_code": att.status_code}
        if row.lease_token == token and row.status == PENDING:
            values.update(lease_ms=0, lease_token="")
            if att.ok:
                values.update(status=DELIVERED, done_ms=now_ms)
            else:
                next_ms = now_ms + policy.delay_ms(number, rng)
                if next_ms > row.give_up_ms:
                    values.update(status=FAILED, done_ms=now_ms)
                else:
                    values.update(next_attempt_ms=next_ms)
        conn.execute(sa.update(d).where(d.c.id == att.delivery_id).values(**values))
    if log_rows:
        conn.execute(sa.insert(a), log_rows)
    _judge_endpoints(conn, attempts, now_ms, policy)


def _judge_endpoints(
    conn: Connection, attempts: Sequence[Attempt], now_ms: int, policy: RetryPolicy
) -> None:
    e = schema.webhook_endpoints
    last: dict[str, Attempt] = {}
    gone: set[str] = set()
    succeeded: set[str] = set()
    for att in attempts:
        last[att.endpoint_id] = att
        if att.status_code == 410:
            gone.add(att.endpoint_id)
        if att.ok:
            succeeded.add(att.endpoint_id)
    for endpoint_id in sorted(last):
        row = conn.execute(
            sa.select(e.c.failing_since_ms, e.c.enabled)
            .where(e.c.endpoint_id == endpoint_id)
            .with_for_update()
        ).first()
        if row is None:
            continue
        if endpoint_id in gone:
            disable(conn, endpoint_id, "answered 410 Gone", now_ms)
        elif endpoint_id in succeeded:
            if row.failing_since_ms is not None:
                conn.execute(
                    sa.update(e)
                    .where(e.c.endpoint_id == endpoint_id)
                    .values(failing_since_ms=None, updated_ms=now_ms)
                )
        elif row.failing_since_ms is None:
            conn.execute(
                sa.update(e)
                .where(e.c.endpoint_id == endpoint_id)
                .values(failing_since_ms=last[endpoint_id].at_ms, updated_ms=now_ms)
            )
        elif row.enabled and now_ms - row.failing_since_ms >= policy.disable_after_failing_ms:
            days = (now_ms - row.failing_since_ms) / 86_400_000
            disable(conn, endpoint_id, f"every attempt failed for {days:.1f} days", now_ms)


def disable(conn: Connection, endpoint_id: str, reason: str, now_ms: int) -> None:
    """Stop delivering to an endpoint (its pending deliveries wait until it is enabled)."""
    e = schema.webhook_endpoints
    conn.execute(
        sa.update(e)
        .where(e.c.endpoint_id == endpoint_id)
        .values(enabled=False, disabled_reason=reason[:200], updated_ms=now_ms)
    )


def resend(conn: Connection, delivery_id: int, now_ms: int) -> bool:
    """Queue a delivery again now, whatever its state (at least one more attempt);
    False when there is no such delivery."""
    d = schema.webhook_deliveries
    row = conn.execute(
        sa.select(d.c.give_up_ms).where(d.c.id == delivery_id).with_for_update()
    ).first()
    if row is None:
        return False
    conn.execute(
        sa.update(d)
        .where(d.c.id == delivery_id)
        .values(
            status=PENDING,
            next_attempt_ms=now_ms,
            give_up_ms=max(row.give_up_ms, now_ms),
            lease_ms=0,
            lease_token="",
            done_ms=None,
        )
    )
    return True


def new_token() -> str:
    """A lease token (one per batch a replica takes)."""
    return uuid.uuid4().hex
