"""The narrow interfaces the kiosk talks to the world through.

Real implementations live in their own modules (``device.ledger`` on SQLite,
``device.readers`` on nfcpy/OpenCV, ``device.link`` on paho-mqtt); the kiosk app wires them
together in one place. Simulators and tests drive the same interfaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from shared.events import Event
from shared.hlc import HLC
from shared.protocol import DenyListUpdate, MemberUpdate, RuleBundleMessage, Versions

if TYPE_CHECKING:
    from device.ledger.stream import StreamState


class Clock(Protocol):
    """Time source; tests inject a fake one instead of patching ``time``."""

    def wall_ms(self) -> int:
        """Wall-clock UTC milliseconds (may be wrong on a Pi without RTC)."""
        ...

    def monotonic(self) -> float:
        """Monotonic seconds, for intervals and timeouts."""
        ...


class SystemClock:
    """The real clock."""

    def wall_ms(self) -> int:
        """Wall-clock UTC milliseconds."""
        import time

        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        """Monotonic seconds."""
        import time

        return time.monotonic()


class ApplyOutcome(StrEnum):
    """What the ledger did with a downstream message."""

    APPLIED = "applied"
    IGNORED_OLD = "ignored_old"
    """Not newer than what is applied: versions never go backwards."""
    NEED_SYNC = "need_sync"
    """A delta whose base is not our version: ask the coordinator for a sync."""
    STAGED = "staged"
    """One chunk of a full snapshot stored; the switch happens when all chunks are in."""


@dataclass(frozen=True)
class OutboxStats:
    """Numbers the heartbeat reports about the outbox."""

    last_seq: int
    acked_seq: int
    depth: int
    oldest_unacked_age_s: int | None


class OutboxPort(Protocol):
    """What the MQTT link needs from the kiosk ledger. All methods are thread-safe."""

    kiosk_id: str
    store_id: str

    def pending_events(self, after_seq: int, limit: int) -> list[Event]:
        """Unacknowledged journal events with seq > after_seq, in seq order, at most limit."""
        ...

    def mark_acked(self, acked_seq: int) -> None:
        """Record the coordinator's highest contiguous applied seq (lower values ignored)."""
        ...

    def outbox_stats(self) -> OutboxStats:
        """Outbox depth and age for heartbeats."""
        ...

    def versions(self) -> Versions:
        """Downstream versions applied."""
        ...

    def apply_member_update(self, message: MemberUpdate) -> ApplyOutcome:
        """Apply a member delta or stage a snapshot chunk."""
        ...

    def apply_rule_bundle(self, message: RuleBundleMessage) -> ApplyOutcome:
        """Apply a rule bundle if newer and meant for this store."""
        ...

    def apply_deny_update(self, message: DenyListUpdate) -> ApplyOutcome:
        """Apply a deny-list delta or full list."""
        ...

    def observe_hlc(self, remote: HLC) -> None:
        """Merge a timestamp heard from the coordinator into the kiosk's HLC."""
        ...

    def journal_events(self, after_seq: int = 0, limit: int = 1000) -> list[Event]:
        """Journal events, acknowledged or not, with seq > after_seq (a coordinator restored
        from a backup asks for acknowledged ones again)."""
        ...

    def set_restore_epoch(self, restore_epoch: int) -> None:
        """Remember the coordinator's restore epoch last seen."""
        ...

    def stream_state(self) -> StreamState:
        """The ledger's id, stream epoch and refusal."""
        ...

    def refuse_stream(self, reason: str | None, detail: str = "") -> bool:
        """Record (None: clear) the coordinator's refusal of this ledger's stream."""
        ...

    def adopt_epoch(self, epoch: int, start_seq: int, ledger_id: str | None) -> bool:
        """Take a stream epoch handed to this (empty) ledger."""
        ...

    def check_applied(self, applied_seq: int, event_id: str | None) -> bool:
        """False (stream refused) when the coordinator's event at applied_seq is not ours."""
        ...
