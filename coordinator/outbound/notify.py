"""The notifications outbox: services record what a member should be told; delivery is apart.

A service that decides something a member should hear about (a waitlist seat, a one-time
sign-in code, a birthday greeting) calls :func:`enqueue` inside its own transaction, so the
notification exists exactly when the decision does. ``dedupe_key`` says what occasion the
notification is for (``"waitlist-seat:<session>:<member>"``): enqueueing the same occasion
twice, from a retry or from another replica, keeps the first one. The notification is
fanned out to the chain's webhook endpoints (``notification.<kind>``) in the same
transaction; :mod:`coordinator.outbound.delivery` sends them to the chain's own SMS, WeChat or
e-mail gateway; nothing here sends.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.outbound import webhooks

MAX_PAYLOAD_BYTES = 16_384


class NotificationTooLarge(ValueError):
    """A payload larger than :data:`MAX_PAYLOAD_BYTES` (a programming error, not input)."""


def enqueue(
    conn: Connection,
    *,
    kind: str,
    dedupe_key: str,
    payload: Mapping[str, Any],
    now_ms: int,
    member_id: str | None = None,
    store_id: str | None = None,
) -> str:
    """Record a notification (inside the caller's transaction); returns its id.

    The same ``dedupe_key`` twice returns the first notification's id and records nothing.
    """
    n = schema.notifications
    found = conn.execute(
        sa.select(n.c.notification_id).where(n.c.dedupe_key == dedupe_key)
    ).scalar()
    if found is not None:
        return str(found)
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    if len(body.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        raise NotificationTooLarge(f"{kind} notification payload is over {MAX_PAYLOAD_BYTES} B")
    notification_id = uuid.uuid4().hex
    conn.execute(
        sa.insert(n).values(
            notification_id=notification_id,
            dedupe_key=dedupe_key[:200],
            kind=kind[:60],
            member_id=member_id,
            store_id=store_id,
            payload=body,
            created_ms=now_ms,
        )
    )
    # Fanned out to the chain's webhook endpoints in the same transaction (the outbox).
    webhooks.publish(
        conn,
        event_type=f"notification.{kind[:60]}",
        message_id=f"msg_{notification_id}",
        data={
            "notification_id": notification_id,
            "kind": kind[:60],
            "member_id": member_id,
            "store_id": store_id,
            "payload": json.loads(body),
        },
        store_id=store_id,
        now_ms=now_ms,
    )
    return notification_id


def recent(
    conn: Connection, *, member_id: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The newest notifications (of one member, if given), newest first."""
    n = schema.notifications
    query = sa.select(n).order_by(n.c.id.desc()).limit(limit)
    if member_id is not None:
        query = query.where(n.c.member_id == member_id)
    return [
        {
            "notification_id": row.notification_id,
            "kind": row.kind,
            "member_id": row.member_id,
            "store_id": row.store_id,
            "payload": json.loads(row.payload),
            "created_ms": row.created_ms,
        }
        for row in conn.execute(query)
    ]
