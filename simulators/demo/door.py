"""The studio's door station in the demo: the real firmware under MicroPython, by the door.

The studio kiosk enrols it (a fresh key in its config). Once the kiosks are up the demo
starts it as a supervised child (``simulators.station.host``: the firmware built with
mpy-cross, a PN532 simulator on a pty, the MicroPython unix port), and in the class burst
some students tap at the door instead of the kiosk: the kiosk decides, its roster shows the
station, the board's light answers.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from simulators.demo.errors import DemoError
from simulators.demo.processes import Child, Supervisor
from simulators.ports import LOCALHOST, free_tcp_port
from simulators.waiting import wait_until

TIER_DOOR = 3
"""Stopped before the kiosks (a station is an input of its kiosk)."""


@dataclass
class DoorStation:
    """One demo door station: its enrolment at the kiosk and its process."""

    station_id: str
    port: int
    workdir: Path
    key: str = field(default_factory=lambda: secrets.token_hex(32))
    control_port: int = field(default_factory=free_tcp_port)
    child: Child | None = None

    def enrollment(self) -> dict[str, Any]:
        """The kiosk config's ``stations`` section for this station."""
        return {
            "host": LOCALHOST,
            "port": self.port,
            "enrolled": [{"station_id": self.station_id, "key": self.key}],
        }

    @property
    def control_url(self) -> str:
        """Where the demo places cards on it."""
        return f"http://{LOCALHOST}:{self.control_port}"

    def start(self, supervisor: Supervisor, check: Callable[[], None]) -> None:
        """Start it (main thread) and wait until it has reached its kiosk."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "host.json"
        config.write_text(
            json.dumps(
                {
                    "workdir": str(self.workdir),
                    "control_port": self.control_port,
                    "board": {
                        "station_id": self.station_id,
                        "key": self.key,
                        "kiosk": {"host": LOCALHOST, "port": self.port},
                        "wifi": {"ssid": "studio-staff"},
                    },
                }
            ),
            encoding="utf-8",
        )
        config.chmod(0o600)
        self.child = supervisor.start(
            self.station_id,
            [sys.executable, "-m", "simulators.station.host", str(config)],
            log_path=self.workdir / "host.log",
            tier=TIER_DOOR,
        )

        def ready() -> bool:
            try:
                return httpx.get(f"{self.control_url}/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(
            ready,
            timeout_s=60,
            what=f"door station {self.station_id} to reach its kiosk",
            check=check,
            interval_s=0.1,
            error=DemoError,
        )

    def tap(self, uid: str, timeout_s: float = 15.0) -> dict[str, str] | None:
        """Hold a type A card at the door until the station shows the kiosk's answer."""
        try:
            answer = httpx.post(f"{self.control_url}/tap", json={"uid": uid}, timeout=timeout_s + 5)
        except httpx.HTTPError:
            return None
        if answer.status_code != 200:
            return None
        data: dict[str, str] = answer.json()
        return data
