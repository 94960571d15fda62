"""The one module that owns the MQTT topic tree: build, parse, subscribe, authorise.

::

    tapfleet/v1/kiosk/{kiosk_id}/events      kiosk -> coordinator  EventBatch       QoS 1
    tapfleet/v1/kiosk/{kiosk_id}/heartbeat   kiosk -> coordinator  Heartbeat        QoS 0
    tapfleet/v1/kiosk/{kiosk_id}/status      kiosk -> everyone     Status (retained, will)
    tapfleet/v1/kiosk/{kiosk_id}/sync        kiosk -> coordinator  SyncRequest      QoS 1
    tapfleet/v1/kiosk/{kiosk_id}/claim       kiosk -> coordinator  CouponClaim      QoS 1
    tapfleet/v1/kiosk/{kiosk_id}/ack         coordinator -> kiosk  Ack              QoS 1
    tapfleet/v1/kiosk/{kiosk_id}/down        coordinator -> kiosk  catch-up, claim results
    tapfleet/v1/store/{store_id}/down        coordinator -> store  member deltas, rules
    tapfleet/v1/fleet/down                   coordinator -> all    deny-list, chain rules

A kiosk may publish only under its own ``kiosk/{id}/`` up-channels and read only its own
down-channels, its store's and the fleet's (:func:`kiosk_acl`). The coordinator builds its
subscriptions from its handler registry with :func:`subscription`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum
from typing import NamedTuple

from shared import protocol as p
from shared.errors import TopicError

ROOT = "tapfleet/v1"
_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


class Channel(StrEnum):
    """A kind of topic in the tree."""

    EVENTS = "events"
    HEARTBEAT = "heartbeat"
    STATUS = "status"
    SYNC = "sync"
    CLAIM = "claim"
    ACK = "ack"
    DIRECT = "down"
    STORE = "store"
    FLEET = "fleet"


UP_CHANNELS = frozenset(
    {Channel.EVENTS, Channel.HEARTBEAT, Channel.STATUS, Channel.SYNC, Channel.CLAIM}
)
KIOSK_DOWN_CHANNELS = frozenset({Channel.ACK, Channel.DIRECT})

QOS: dict[Channel, int] = {
    Channel.EVENTS: 1,
    Channel.HEARTBEAT: 0,
    Channel.STATUS: 1,
    Channel.SYNC: 1,
    Channel.CLAIM: 1,
    Channel.ACK: 1,
    Channel.DIRECT: 1,
    Channel.STORE: 1,
    Channel.FLEET: 1,
}

ALLOWED: dict[Channel, tuple[type[p.Message], ...]] = {
    Channel.EVENTS: (p.EventBatch,),
    Channel.HEARTBEAT: (p.Heartbeat,),
    Channel.STATUS: (p.Status,),
    Channel.SYNC: (p.SyncRequest,),
    Channel.CLAIM: (p.CouponClaim,),
    Channel.ACK: (p.Ack,),
    Channel.DIRECT: (
        p.MemberUpdate,
        p.RuleBundleMessage,
        p.DenyListUpdate,
        p.ClaimResult,
        p.StreamNotice,
    ),
    Channel.STORE: (p.MemberUpdate, p.RuleBundleMessage),
    Channel.FLEET: (p.DenyListUpdate, p.RuleBundleMessage),
}
"""Which message types may travel on which channel; anything else is refused."""


class ParsedTopic(NamedTuple):
    """A topic taken apart."""

    channel: Channel
    kiosk_id: str | None = None
    store_id: str | None = None


def _check_id(value: str, what: str) -> str:
    if not _ID.match(value):
        raise TopicError(f"invalid {what} in topic: {value[:80]!r}")
    return value


def kiosk_topic(kiosk_id: str, channel: Channel) -> str:
    """Topic of one of a kiosk's own channels."""
    if channel not in UP_CHANNELS | KIOSK_DOWN_CHANNELS:
        raise TopicError(f"{channel} is not a kiosk channel")
    return f"{ROOT}/kiosk/{_check_id(kiosk_id, 'kiosk id')}/{channel.value}"


def store_topic(store_id: str) -> str:
    """Broadcast topic for every kiosk of a store."""
    return f"{ROOT}/store/{_check_id(store_id, 'store id')}/down"


def fleet_topic() -> str:
    """Broadcast topic for every kiosk of the chain."""
    return f"{ROOT}/fleet/down"


def parse(topic: str) -> ParsedTopic:
    """Take a concrete topic apart; raises TopicError for anything outside the tree."""
    parts = topic.split("/")
    if len(parts) < 3 or "/".join(parts[:2]) != ROOT:
        raise TopicError(f"not a Tapfleet topic: {topic[:120]!r}")
    rest = parts[2:]
    if rest == ["fleet", "down"]:
        return ParsedTopic(Channel.FLEET)
    if len(rest) == 3 and rest[0] == "store" and rest[2] == "down":
        return ParsedTopic(Channel.STORE, store_id=_check_id(rest[1], "store id"))
    if len(rest) == 3 and rest[0] == "kiosk":
        try:
            channel = Channel(rest[2])
        except ValueError as exc:
            raise TopicError(f"unknown kiosk channel in {topic[:120]!r}") from exc
        if channel not in UP_CHANNELS | KIOSK_DOWN_CHANNELS:
            raise TopicError(f"unknown kiosk channel in {topic[:120]!r}")
        return ParsedTopic(channel, kiosk_id=_check_id(rest[1], "kiosk id"))
    raise TopicError(f"not a Tapfleet topic: {topic[:120]!r}")


def subscription(channel: Channel, share_group: str | None = None) -> str:
    """Coordinator-side filter for an up-channel of every kiosk.

    With ``share_group`` the filter is an MQTT v5 shared subscription so that coordinator
    replicas split the load. Status is never shared: retained messages are not delivered to
    shared subscriptions, and every replica must know who is online.
    """
    if channel not in UP_CHANNELS:
        raise TopicError(f"{channel} is not an up-channel")
    base = f"{ROOT}/kiosk/+/{channel.value}"
    if share_group and channel is not Channel.STATUS:
        return f"$share/{_check_id(share_group, 'share group')}/{base}"
    return base


def kiosk_subscriptions(kiosk_id: str, store_id: str) -> list[tuple[str, int]]:
    """(filter, qos) pairs a kiosk subscribes to."""
    return [
        (kiosk_topic(kiosk_id, Channel.ACK), QOS[Channel.ACK]),
        (kiosk_topic(kiosk_id, Channel.DIRECT), QOS[Channel.DIRECT]),
        (store_topic(store_id), QOS[Channel.STORE]),
        (fleet_topic(), QOS[Channel.FLEET]),
    ]


def kiosk_acl(kiosk_id: str, store_id: str) -> list[tuple[str, str]]:
    """(access, topic) pairs for a Mosquitto ACL: what this kiosk may write and read."""
    writes = [("write", kiosk_topic(kiosk_id, c)) for c in sorted(UP_CHANNELS)]
    reads = [("read", topic) for topic, _ in kiosk_subscriptions(kiosk_id, store_id)]
    return writes + reads


def allowed(channel: Channel, message: p.Message) -> bool:
    """True when ``message`` may travel on ``channel``."""
    return isinstance(message, ALLOWED[channel])


def bridge_topics(
    store_ids: Sequence[str], kiosk_ids: Sequence[str] | None
) -> list[tuple[str, str, int]]:
    """(topic pattern, direction, QoS) lines of a store broker's bridge to the central one.

    ``out``: every up-channel of the kiosks on the store broker (all of them belong to its
    stores). ``in``: those kiosks' own down-channels, their stores' broadcasts and the
    fleet's. With ``kiosk_ids`` None the kiosk down-channels use ``+`` (every kiosk of the
    chain: fine for a few stores; a chain of thousands lists its kiosks so that a store
    broker does not receive every other store's acks).
    """
    lines = [(f"{ROOT}/kiosk/+/{c.value}", "out", QOS[c]) for c in sorted(UP_CHANNELS)]
    down = sorted(KIOSK_DOWN_CHANNELS)
    if kiosk_ids is None:
        lines += [(f"{ROOT}/kiosk/+/{c.value}", "in", QOS[c]) for c in down]
    for kiosk_id in kiosk_ids or ():
        lines += [(kiosk_topic(kiosk_id, c), "in", QOS[c]) for c in down]
    lines += [(store_topic(s), "in", QOS[Channel.STORE]) for s in store_ids]
    lines.append((fleet_topic(), "in", QOS[Channel.FLEET]))
    return lines
