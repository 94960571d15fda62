"""Reconnect delays: exponential with jitter, so a fleet does not reconnect in lockstep."""

from __future__ import annotations

import random


class Backoff:
    """Exponential backoff with "equal jitter": half the delay fixed, half random.

    After a broker restart every kiosk of the chain loses its connection at the same instant;
    without jitter they would all knock again at 1, 2, 4 ... seconds together. The fixed half
    keeps a lower bound so a flapping network is not hammered.
    """

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        if min_s <= 0 or max_s < min_s:
            raise ValueError(f"need 0 < min_s <= max_s, got {min_s} and {max_s}")
        self.min_s = min_s
        self.max_s = max_s
        self._rng = rng or random.Random()
        self.failures = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        base = min(self.max_s, self.min_s * (2 ** min(self.failures, 32)))
        self.failures += 1
        return float(base / 2 + self._rng.uniform(0, base / 2))

    def reset(self) -> None:
        """Forget past failures (after a successful connection)."""
        self.failures = 0
