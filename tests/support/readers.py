"""Helpers for tests that drive the card reader and QR scanner (also for end-to-end tests).

port = free_udp_port()  # simulators.ports
taps: Collector[CardRead] = Collector()
reader = NfcReader(NfcReaderConfig(path=f"udp:127.0.0.1:{port}", targets=("106A",)))
reader.start(taps)
try:
    with present_card("04A1B2C3D4E5F6", "ntag215", port=port):
        assert taps.wait_for(1)
finally:
    reader.stop()
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Collector(Generic[T]):
    """Callback target that records values and lets a test wait for the n-th one."""

    def __init__(self) -> None:
        self.items: list[T] = []
        self._changed = threading.Condition()

    def __call__(self, item: T) -> None:
        with self._changed:
            self.items.append(item)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """True once ``count`` values arrived; False after ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.items) >= count, timeout)
