"""Retry delays: exponential with jitter and a cap, the one backoff every retry loop uses.

Used by the kiosk's MQTT link (reconnects), its card reader and camera (reopening a device
that failed), the coordinator's MQTT link (reconnects) and its ingest and member-push
transactions (retries after a busy database or a concurrent replica). Pure: it hands out
delays and never sleeps, so callers wait on their own stop event and tests need no clock.
"""

from __future__ import annotations

import random


class Backoff:
    """Exponential backoff with "equal jitter": half the delay fixed, half random.

    The delay before attempt *n* (counting failures since the last success) is drawn from
    ``[base/2, base]`` with ``base = min(max_s, min_s * 2**n)``. After a broker restart every
    kiosk of the chain loses its connection at the same instant; without jitter they would
    all knock again at 1, 2, 4 ... seconds together. The fixed half keeps a lower bound so a
    flapping network or a dead USB reader is not hammered.
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
        """Forget past failures (after a success)."""
        self.failures = 0
