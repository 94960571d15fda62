"""Simulated ``network`` for the station firmware under the MicroPython unix port (CI only).

The station's HTTP requests go over the host's real sockets; this module only plays the
Wi-Fi association: up unless the file named by ``TAPFLEET_SIM_WIFI`` holds ``down``.
"""

import os

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010


def _up() -> bool:
    path = os.getenv("TAPFLEET_SIM_WIFI")
    if not path:
        return True
    try:
        with open(path) as fh:
            return fh.read().strip() != "down"
    except OSError:
        return True


class WLAN:
    """A station interface that associates when the simulated network is up."""

    def __init__(self, interface: int = STA_IF) -> None:
        self._active = False
        self._ssid = ""
        self.connects = 0

    def active(self, is_active: bool | None = None) -> bool:
        """Switch the radio on or off, or say whether it is on."""
        if is_active is not None:
            self._active = bool(is_active)
        return self._active

    def connect(self, ssid: str, key: str = "") -> None:
        """Start associating (returns at once, as on the ESP32)."""
        self._ssid = ssid
        self.connects += 1
        print("board: wifi_connect", ssid)

    def isconnected(self) -> bool:
        """True when associated and the simulated network is up."""
        return self._active and bool(self._ssid) and _up()

    def status(self) -> int:
        """STAT_GOT_IP when connected."""
        return STAT_GOT_IP if self.isconnected() else STAT_IDLE

    def ifconfig(self) -> tuple[str, str, str, str]:
        """Loopback: the kiosk runs on this machine in CI."""
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
