"""Reading what the coordinator pushes down: topic, codec and authorisation in one place."""

from __future__ import annotations

from device.link.errors import DownstreamRefused
from shared import protocol as p
from shared import topics
from shared.errors import ProtocolError, TopicError
from shared.topics import Channel

DOWN_CHANNELS = (Channel.ACK, Channel.DIRECT, Channel.STORE, Channel.FLEET)
"""Channels a kiosk subscribes to (see ``topics.kiosk_subscriptions``)."""


def downstream_types() -> frozenset[type[p.Message]]:
    """Every message type that may reach a kiosk; the link needs a handler for each."""
    return frozenset(kind for channel in DOWN_CHANNELS for kind in topics.ALLOWED[channel])


def read_downstream(
    topic: str, payload: bytes, kiosk_id: str, store_id: str
) -> tuple[Channel, p.Message]:
    """Parse, decode and authorise one downstream message for this kiosk.

    Raises :class:`DownstreamRefused` naming the counter to bump: ``messages_foreign`` for
    a topic meant for someone else, ``messages_malformed`` for bytes that are not a valid
    message, ``messages_disallowed`` for a valid message on the wrong channel or addressed
    to another kiosk or store.
    """
    try:
        parsed = topics.parse(topic)
    except TopicError as exc:
        raise DownstreamRefused("messages_foreign", str(exc)) from exc
    mine = (
        (parsed.channel in (Channel.ACK, Channel.DIRECT) and parsed.kiosk_id == kiosk_id)
        or (parsed.channel is Channel.STORE and parsed.store_id == store_id)
        or parsed.channel is Channel.FLEET
    )
    if not mine:
        raise DownstreamRefused("messages_foreign", f"topic {topic!r} is not for this kiosk")
    try:
        message = p.decode(payload)
    except ProtocolError as exc:
        raise DownstreamRefused("messages_malformed", f"{exc} ({len(payload)} bytes)") from exc
    if not topics.allowed(parsed.channel, message):
        raise DownstreamRefused(
            "messages_disallowed",
            f"{type(message).__name__} may not travel on the {parsed.channel.value} channel",
        )
    if isinstance(message, p.Ack) and message.kiosk_id != kiosk_id:
        raise DownstreamRefused("messages_disallowed", f"Ack is for kiosk {message.kiosk_id!r}")
    if isinstance(message, p.MemberUpdate) and message.store_id != store_id:
        raise DownstreamRefused(
            "messages_disallowed", f"MemberUpdate is for store {message.store_id!r}"
        )
    return parsed.channel, message
