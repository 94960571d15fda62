"""Simulated time for processes under test: real time plus an offset the test moves.

Nothing here sleeps. ``advance(ms)`` makes hours pass at once for everything that reads the
clock (decisions, offline limits, timers driven by ``monotonic()``); a per-kiosk
``wall_skew_ms`` makes one kiosk's wall clock wrong (a Pi booting years off) without moving
its monotonic clock, exactly like a bad RTC. Both implement ``device.ports.Clock`` (and the
coordinator's one-method clock), so they are injected, never patched in.
"""

from __future__ import annotations

import threading
import time


class WorldClock:
    """Real time shifted by ``offset_ms``; the offset only ever grows (time passes)."""

    def __init__(self, offset_ms: int = 0) -> None:
        self._offset_ms = offset_ms
        self._lock = threading.Lock()

    @property
    def offset_ms(self) -> int:
        """How far simulated time is ahead of real time."""
        with self._lock:
            return self._offset_ms

    def advance(self, ms: int) -> int:
        """Let ``ms`` milliseconds pass at once; returns the new offset."""
        if ms < 0:
            raise ValueError("simulated time only moves forward; skew a wall clock instead")
        with self._lock:
            self._offset_ms += ms
            return self._offset_ms

    def wall_ms(self) -> int:
        """Simulated UTC epoch milliseconds."""
        return time.time_ns() // 1_000_000 + self.offset_ms

    def monotonic(self) -> float:
        """Simulated monotonic seconds."""
        return time.monotonic() + self.offset_ms / 1000


class KioskClock:
    """One kiosk's view of the world clock: its wall clock may be off by ``wall_skew_ms``."""

    def __init__(self, world: WorldClock, wall_skew_ms: int = 0) -> None:
        self.world = world
        self.wall_skew_ms = wall_skew_ms

    def wall_ms(self) -> int:
        """The kiosk's (possibly wrong) wall clock."""
        return self.world.wall_ms() + self.wall_skew_ms

    def monotonic(self) -> float:
        """Monotonic time is never skewed: it only counts what passed."""
        return self.world.monotonic()
