"""An in-memory OutboxPort for link tests (used only where the real ledger is not needed).

Thread-safe like the real one. It records what the link did to it so tests can assert on
calls (set_online transitions, largest pending_events limit, applied messages).
"""

from __future__ import annotations

import threading
import uuid

from device.ports import ApplyOutcome, OutboxStats
from shared.events import CheckIn, Event
from shared.hlc import HLC, ZERO, merge
from shared.protocol import DenyListUpdate, MemberUpdate, RuleBundleMessage, Versions

T0 = 1_767_240_000_000


class MemoryLedger:
    """Append events, hand them to the link, remember acks and downstream messages."""

    def __init__(self, kiosk_id: str = "k1", store_id: str = "s1") -> None:
        self.kiosk_id = kiosk_id
        self.store_id = store_id
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self.acked_seq = 0
        self.online_calls: list[bool] = []
        self.max_limit_asked = 0
        self.applied: list[object] = []
        self.outcome = ApplyOutcome.APPLIED
        self.fail_on_apply = False
        self.hlc: HLC = ZERO
        self.version = Versions()

    def append(self, n: int = 1) -> list[Event]:
        """Record ``n`` check-ins (like n taps) and return them."""
        with self._lock:
            out = []
            for _ in range(n):
                seq = len(self._events) + 1
                event = Event(
                    event_id=uuid.uuid4().hex,
                    kiosk_id=self.kiosk_id,
                    store_id=self.store_id,
                    seq=seq,
                    hlc_ms=T0 + seq,
                    wall_ms=T0 + seq,
                    member_id=f"m{seq % 50}",
                    body=CheckIn(points=10),
                )
                self._events.append(event)
                out.append(event)
            return out

    @property
    def last_seq(self) -> int:
        """Highest seq recorded."""
        with self._lock:
            return len(self._events)

    # --- OutboxPort -------------------------------------------------------------------------

    def pending_events(self, after_seq: int, limit: int) -> list[Event]:
        """Unacked events with seq > after_seq, in order, at most limit."""
        with self._lock:
            self.max_limit_asked = max(self.max_limit_asked, limit)
            start = max(after_seq, self.acked_seq)
            return self._events[start : start + limit]

    def mark_acked(self, acked_seq: int) -> None:
        """Remember the highest acked seq."""
        with self._lock:
            self.acked_seq = max(self.acked_seq, min(acked_seq, len(self._events)))

    def outbox_stats(self) -> OutboxStats:
        """Depth for heartbeats."""
        with self._lock:
            depth = len(self._events) - self.acked_seq
            return OutboxStats(len(self._events), self.acked_seq, depth, 0 if depth else None)

    def versions(self) -> Versions:
        """Applied versions."""
        return self.version

    def _apply(self, message: object) -> ApplyOutcome:
        if self.fail_on_apply:
            raise RuntimeError("ledger exploded on purpose")
        with self._lock:
            self.applied.append(message)
        return self.outcome

    def apply_member_update(self, message: MemberUpdate) -> ApplyOutcome:
        """Record the update."""
        return self._apply(message)

    def apply_rule_bundle(self, message: RuleBundleMessage) -> ApplyOutcome:
        """Record the bundle."""
        return self._apply(message)

    def apply_deny_update(self, message: DenyListUpdate) -> ApplyOutcome:
        """Record the deny update."""
        return self._apply(message)

    def observe_hlc(self, remote: HLC) -> None:
        """Merge the coordinator's clock."""
        with self._lock:
            self.hlc = merge(self.hlc, remote, T0)

    def set_online(self, online: bool) -> None:
        """Record the transition."""
        with self._lock:
            self.online_calls.append(online)
