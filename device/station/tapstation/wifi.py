"""Staying on the store's Wi-Fi: connect, notice a drop, reconnect with backoff.

``network.WLAN.connect`` returns at once on the ESP32 and the Pico W (the association runs in
the background), so ``tick`` never blocks; an attempt that has not reached the network
within ``connect_ms`` counts as failed and the next one waits longer.
"""

import time

from tapstation.backoff import Backoff

TYPE_CHECKING = False
if TYPE_CHECKING:
    import network


class Wifi:
    """Keeps one station interface connected."""

    def __init__(
        self, wlan: "network.WLAN", ssid: str, password: str, connect_ms: int = 15000
    ) -> None:
        self._wlan = wlan
        self._ssid = ssid
        self._password = password
        self._connect_ms = connect_ms
        self._backoff = Backoff(1000, 30000)
        self._attempt_started: int | None = None
        self.reconnects = 0
        self._was_up = False

    def tick(self, now: int) -> bool:
        """True while connected; starts or retries a connection when it is due."""
        if self._wlan.isconnected():
            if not self._was_up:
                self._was_up = True
                self._attempt_started = None
                self._backoff.reset(now)
            return True
        if self._was_up:
            self._was_up = False
            self.reconnects += 1
        if self._attempt_started is not None:
            if time.ticks_diff(now, self._attempt_started) < self._connect_ms:
                return False
            self._attempt_started = None
            self._backoff.failed(now)
        if self._backoff.due(now):
            self._wlan.active(True)
            try:
                self._wlan.connect(self._ssid, self._password)
            except OSError as exc:
                print("tapstation: wifi connect failed:", exc)
                self._backoff.failed(now)
                return False
            self._attempt_started = now
        return False
