"""The studio's door station in the demo: the real firmware under MicroPython, by the door.

The studio kiosk enrols it (a fresh key in its config); once the kiosks are up the demo builds
the firmware with mpy-cross, gives the board a PN532 simulator on a pty and runs it under the
MicroPython unix port. In the class burst some students tap at the door instead of the kiosk:
the kiosk decides, its roster shows the station, the board's light answers.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REARM_S = 0.6
"""A card away from the reader longer than the firmware's rearm window (0.5 s)."""


@dataclass
class DoorStation:
    """One demo door station: its enrolment at the kiosk and, once started, its board."""

    station_id: str
    port: int
    workdir: Path
    key: str = field(default_factory=lambda: secrets.token_hex(32))
    chip: Any = None
    board: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enrollment(self) -> dict[str, Any]:
        """The kiosk config's ``stations`` section for this station."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "enrolled": [{"station_id": self.station_id, "key": self.key}],
        }

    def start(self, timeout_s: float = 30.0) -> None:
        """Build the firmware, power the board up and wait until it reaches the kiosk."""
        from device.station_tools.build import build
        from simulators.pn532 import PtyChip
        from simulators.station import StationBoard

        firmware = self.workdir / "firmware"
        build(firmware)
        self.chip = PtyChip()
        self.board = StationBoard(
            self.workdir / "board",
            {
                "station_id": self.station_id,
                "key": self.key,
                "kiosk": {"host": "127.0.0.1", "port": self.port},
                "wifi": {"ssid": "studio-staff"},
            },
            chip_path=self.chip.path,
            firmware=firmware,
        ).start()
        self.board.wait_for("kiosk_reachable", timeout=timeout_s)

    def tap(self, uid: str, timeout_s: float = 15.0) -> dict[str, str] | None:
        """Hold a type A card at the door until the station shows the kiosk's answer."""
        if self.board is None or self.chip is None:
            return None
        with self._lock:
            mark = self.board.mark()
            self.chip.place_uid(uid)
            try:
                found = self.board.wait_for("signal", after=mark, timeout=timeout_s)
                answers = self.board.find("answer", after=mark)
            except AssertionError:
                return None
            finally:
                self.chip.lift()
            time.sleep(REARM_S)
        fields = dict(answers[0].fields) if answers else {}
        fields["signal"] = found[0].fields.get("name", "")
        return fields

    def stop(self) -> None:
        """Power the board off and close the chip."""
        if self.board is not None:
            self.board.stop()
        if self.chip is not None:
            self.chip.close()
