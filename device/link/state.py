"""What the link reports about itself: a snapshot for heartbeats, the UI and tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

COUNTERS = (
    "batches_sent",
    "events_sent",
    "acks",
    "resend_requests",
    "resend_timeouts",
    "heartbeats_sent",
    "syncs_sent",
    "syncs_suppressed",
    "claims_sent",
    "claims_answered",
    "claims_timed_out",
    "claims_late",
    "messages_received",
    "messages_malformed",
    "messages_disallowed",
    "messages_foreign",
    "handler_errors",
    "ledger_refusals",
    "publish_failures",
    "connect_failures",
    "applied",
    "ignored_old",
    "staged",
    "need_sync",
    "replays",
    "replay_gaps",
)
"""Every counter the link keeps; all start at zero so dashboards see them from the start."""


@dataclass(frozen=True)
class LinkState:
    """A consistent snapshot of the link.

    ``connected`` is the MQTT session to the broker; ``online`` is what the ledger is told
    (connected and the coordinator answered, or the grace after connecting passed).
    Alive, connected and synced are separate facts: a link can be connected and far behind.
    """

    connected: bool
    online: bool
    coordinator_seen_ms: int | None
    """Kiosk wall time when the coordinator last said anything to this kiosk."""
    last_ack_ms: int | None
    """Kiosk wall time of the last Ack."""
    acked_seq: int
    sent_seq: int
    """Highest seq handed to MQTT in the current pass."""
    in_flight: int
    clock_offset_ms: int | None
    """Kiosk wall clock minus the coordinator's, corrected by half the round trip."""
    reconnects: int
    """Successful connections after the first one."""
    counters: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
