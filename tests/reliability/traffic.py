"""Members tapping at kiosks while faults happen: a background stream of real taps.

The stream pipelines commands into the kiosk hosts (each answers once the tap is committed)
and never stops for a fault: a host that is down simply gets no taps until it is back.
Pacing between taps is traffic shape, not synchronisation.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence

from tests.reliability.fleet import Fleet


class Traffic:
    """Random members tapping cards (and sometimes redeeming points) at random kiosks."""

    def __init__(
        self,
        fleet: Fleet,
        kiosk_ids: Sequence[str],
        *,
        rate_per_s: float = 100.0,
        redeem_share: float = 0.1,
        seed: int = 7,
    ) -> None:
        assert fleet.chain is not None
        self.fleet = fleet
        self.kiosk_ids = list(kiosk_ids)
        self.members = fleet.chain.member_ids()
        self.rate_per_s = rate_per_s
        self.redeem_share = redeem_share
        self.rng = random.Random(seed)
        self.sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Traffic:
        """Start tapping in the background."""
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> int:
        """Stop; returns how many commands were sent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        return self.sent

    def one(self) -> bool:
        """Send one random tap or redemption; False when its kiosk's host is down."""
        chain = self.fleet.chain
        assert chain is not None
        kiosk_id = self.rng.choice(self.kiosk_ids)
        member_id = self.rng.choice(self.members)
        host = self.fleet.host_of[kiosk_id]
        if self.rng.random() < self.redeem_share:
            sent = host.send("redeem", k=kiosk_id, member=member_id, reward="water")
        else:
            sent = host.send("tap", k=kiosk_id, uid=chain.uid(member_id))
        if sent is not None:
            self.sent += 1
        return sent is not None

    def _run(self) -> None:
        pause = 1.0 / self.rate_per_s
        while not self._stop.is_set():
            self.one()
            time.sleep(pause)
