"""An adversarial MQTT path for event batches: drop, duplicate, delay (and so reorder).

It sits between a :class:`~tests.support.mini_kiosk.MiniKiosk` and the real broker as the
kiosk's ``publish_hook``. Dropped batches come back the way they do in the field: the kiosk
resends unacknowledged events (its retry ``flush()`` and the coordinator's ``resend_from``).
Decisions come from a seeded RNG, so a failing run can be replayed with the same seed.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections import Counter
from collections.abc import Callable


class ChaosPath:
    """Publishes through ``send`` with drops, duplicates and random delays."""

    def __init__(
        self,
        send: Callable[[str, bytes], None],
        *,
        seed: int,
        drop: float = 0.2,
        duplicate: float = 0.2,
        delay: float = 0.35,
        max_delay_s: float = 0.4,
    ):
        self._send = send
        self._rng = random.Random(seed)
        self._p = (drop, duplicate, delay)
        self._max_delay = max_delay_s
        self._heap: list[tuple[float, int, str, bytes]] = []
        self._n = 0
        self._cond = threading.Condition()
        self._stopping = False
        self.stats: Counter[str] = Counter()
        self._thread = threading.Thread(target=self._run, name="chaos-path", daemon=True)
        self._thread.start()

    def __call__(self, topic: str, payload: bytes) -> None:
        """The kiosk's publish hook."""
        drop, duplicate, delay = self._p
        with self._cond:
            roll = self._rng.random()
            if roll < drop:
                self.stats["dropped"] += 1
                return
            copies = 2 if self._rng.random() < duplicate else 1
            self.stats["duplicated"] += copies - 1
            for _ in range(copies):
                if self._rng.random() < delay:
                    self.stats["delayed"] += 1
                    due = time.monotonic() + self._rng.uniform(0.01, self._max_delay)
                    self._n += 1
                    heapq.heappush(self._heap, (due, self._n, topic, payload))
                    self._cond.notify_all()
                else:
                    self.stats["sent"] += 1
                    self._send(topic, payload)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap and not self._stopping:
                    self._cond.wait()
                if not self._heap and self._stopping:
                    return
                due, _, topic, payload = self._heap[0]
                wait = due - time.monotonic()
                if wait > 0 and not self._stopping:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            self.stats["released"] += 1
            self._send(topic, payload)

    def drain(self, timeout: float = 10.0) -> None:
        """Release everything still delayed, then stop the release thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)
