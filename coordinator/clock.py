"""Time for the coordinator: a wall clock port and the coordinator's hybrid logical clock."""

from __future__ import annotations

import threading
import time
from typing import Protocol

from shared.hlc import HLC, ZERO, merge, tick


class Clock(Protocol):
    """Wall-clock source; tests inject their own instead of patching ``time``."""

    def wall_ms(self) -> int:
        """UTC epoch milliseconds."""
        ...


class SystemClock:
    """The real clock."""

    def wall_ms(self) -> int:
        """UTC epoch milliseconds."""
        return time.time_ns() // 1_000_000


class HlcSource:
    """The coordinator's HLC: ticks for its own events, absorbs every kiosk timestamp it sees.

    Replicas each keep their own; events from ``hq`` are still totally ordered because the
    fold's sort key ends in (source, seq) and the hq seq comes from the database.
    """

    def __init__(self, clock: Clock):
        self._clock = clock
        self._last = ZERO
        self._lock = threading.Lock()

    def now(self) -> HLC:
        """A fresh timestamp for a local event or an outgoing message."""
        with self._lock:
            self._last = tick(self._last, self._clock.wall_ms())
            return self._last

    def observe(self, remote: HLC, *, max_ahead_ms: int) -> None:
        """Absorb a remote timestamp unless it is implausibly far ahead of our wall clock.

        A kiosk whose clock is a year in the future must not drag the whole ledger's
        timeline with it; such events are flagged as conflicts instead.
        """
        with self._lock:
            physical = self._clock.wall_ms()
            if remote.wall_ms > physical + max_ahead_ms:
                return
            self._last = merge(self._last, remote, physical)
