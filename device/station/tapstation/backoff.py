"""Exponential backoff with jitter, in ``ticks_ms`` (reconnects to Wi-Fi and the kiosk)."""

import random
import time


class Backoff:
    """Waits that double from ``first_ms`` up to ``max_ms``; ``reset`` after a success."""

    def __init__(self, first_ms: int = 500, max_ms: int = 30000) -> None:
        self.first_ms = first_ms
        self.max_ms = max_ms
        self._wait = first_ms
        self._due = time.ticks_ms()
        self.failures = 0

    def due(self, now: int) -> bool:
        """True when the next attempt may start."""
        return time.ticks_diff(now, self._due) >= 0

    def failed(self, now: int) -> int:
        """Record a failure; returns the wait before the next attempt (ms)."""
        self.failures += 1
        wait = self._wait + random.getrandbits(8) * self._wait // 1024  # up to +25 %
        self._due = time.ticks_add(now, wait)
        self._wait = min(self._wait * 2, self.max_ms)
        return wait

    def reset(self, now: int) -> None:
        """A success: the next failure waits ``first_ms`` again."""
        self.failures = 0
        self._wait = self.first_ms
        self._due = now
