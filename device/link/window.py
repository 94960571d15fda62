"""The outbox send window: which seqs are in flight, where to send from, when to resend.

Pure bookkeeping, no IO and no locking (the link holds its lock around every call). Seqs are
gapless per kiosk, so "events in flight" is simply ``cursor - acked``.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_SILENT_DOUBLINGS = 5


@dataclass(frozen=True)
class FetchPlan:
    """What the drainer should read from the outbox next."""

    after_seq: int
    limit: int
    generation: int


class SendWindow:
    """At most ``size`` events sent but not acknowledged by the coordinator.

    ``cursor`` is the highest seq handed to MQTT in the current pass; a rewind (resend
    request, reconnect, silence) moves it back and bumps ``generation`` so that a batch read
    before the rewind is not counted against the new pass.
    """

    def __init__(self, acked_seq: int, size: int, resend_after_s: float) -> None:
        if size < 1:
            raise ValueError("window size must be at least 1")
        self.size = size
        self.resend_after_s = resend_after_s
        self.acked = acked_seq
        self.cursor = acked_seq
        self.generation = 0
        self._sent_at: dict[int, float] = {}
        self._progress_at: float | None = None
        self._silent_rounds = 0

    @property
    def in_flight(self) -> int:
        """Events sent in this pass and not yet acknowledged."""
        return max(0, self.cursor - self.acked)

    def plan(self, batch_events: int) -> FetchPlan | None:
        """Next outbox read, or None when the window is full."""
        room = self.size - self.in_flight
        if room <= 0:
            return None
        return FetchPlan(self.cursor, min(batch_events, room), self.generation)

    def sent(self, plan: FetchPlan, last_seq: int, now: float) -> bool:
        """Record that events up to ``last_seq`` read under ``plan`` are being published.

        Returns False (and records nothing) when a rewind happened since the plan was made;
        the caller then drops the batch and plans again.
        """
        if plan.generation != self.generation or last_seq <= self.cursor:
            return False
        if self.in_flight == 0:
            self._progress_at = now
        self.cursor = last_seq
        self._sent_at[last_seq] = now
        return True

    def acked_to(self, acked_seq: int, now: float) -> float | None:
        """Apply an Ack; returns the round trip of the batch it closes, when known exactly."""
        rtt: float | None = None
        sent_at = self._sent_at.get(acked_seq)
        if sent_at is not None and acked_seq > self.acked:
            rtt = max(0.0, now - sent_at)
        if acked_seq > self.acked:
            self.acked = acked_seq
            self._progress_at = now
            self._silent_rounds = 0
            for seq in [s for s in self._sent_at if s <= acked_seq]:
                del self._sent_at[seq]
        if self.cursor < self.acked:
            # The coordinator has more than this pass sent (e.g. after a kiosk restart).
            self.cursor = self.acked
            self.generation += 1
        return rtt

    def restart_from(self, acked_seq: int) -> None:
        """The coordinator holds only up to ``acked_seq`` (restored from a backup): send
        everything after it again, acknowledged rows included."""
        self.acked = acked_seq
        self.cursor = acked_seq
        self.generation += 1
        self._sent_at.clear()
        self._progress_at = None
        self._silent_rounds = 0

    def rewind(self, after_seq: int) -> None:
        """Send again everything after ``after_seq`` (never below what is acknowledged)."""
        self.cursor = max(self.acked, min(self.cursor, after_seq))
        self.generation += 1

    def resend_due(self, now: float) -> bool:
        """True (and rewinds) when events are in flight and the coordinator has been silent."""
        if self.in_flight == 0 or self._progress_at is None:
            return False
        if now - self._progress_at < self._timeout():
            return False
        self.rewind(self.acked)
        self._silent_rounds = min(self._silent_rounds + 1, MAX_SILENT_DOUBLINGS)
        self._progress_at = now
        return True

    def seconds_until_resend(self, now: float) -> float | None:
        """How long until :meth:`resend_due` may fire, or None when nothing is in flight."""
        if self.in_flight == 0 or self._progress_at is None:
            return None
        return max(0.0, self._progress_at + self._timeout() - now)

    def _timeout(self) -> float:
        return float(self.resend_after_s * (2**self._silent_rounds))
