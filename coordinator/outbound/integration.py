"""Ledger events for integrators: the same signed webhooks publish the chain's facts
(``ledger.checkin``, ``ledger.class_signin``, ``ledger.pass_issue`` = a pass sold, ...) to
endpoints that subscribe to them by name or ``ledger.*``.

Called in the transaction that applies the events (kiosk streams in the sequencer, the
coordinator's own facts in the hq recorder), so a fact and its message commit together.
The ``webhook-id`` is ``evt_<event id>``: integrators deduplicate on it; ordering is not
promised (an event's ``hlc_ms`` and per-source ``seq`` say where it belongs).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy.engine import Connection

from coordinator.outbound.webhooks import Message, publish_many
from shared.events import Event

PUBLISHED_KINDS = frozenset(
    {
        "checkin",
        "class_signin",
        "points_redeem",
        "coupon_redeem",
        "reversal",
        "adjustment",
        "pass_issue",
        "pass_update",
        "coupon_issue",
        "points_expire",
    }
)
"""Facts integrators may subscribe to (refusals stay inside: they are not facts of a member)."""


def publish_events(conn: Connection, events: Iterable[Event], now_ms: int) -> int:
    """Queue ``ledger.<kind>`` webhooks for the events (inside the caller's transaction)."""
    messages = [
        Message(
            event_type=f"ledger.{event.kind}",
            message_id=f"evt_{event.event_id}",
            data={
                "event_id": event.event_id,
                "kind": event.kind,
                "source": event.kiosk_id,
                "seq": event.seq,
                "store_id": event.store_id,
                "member_id": event.member_id,
                "wall_ms": event.wall_ms,
                "hlc_ms": event.hlc_ms,
                "offline": event.offline,
                "body": json.loads(event.body.model_dump_json()),
            },
            store_id=event.store_id,
        )
        for event in events
        if event.kind in PUBLISHED_KINDS
    ]
    return publish_many(conn, messages, now_ms=now_ms)
