"""A real kiosk process (``tapfleet kiosk --config``) with door stations enrolled, for tests.

The ledger is seeded as after a sync (tests/kiosk/seed.py: members, passes, a yoga class
whose sign-in is open now, held in ``ROOM``); the link talks to a real Mosquitto when one
is given. The process prints ``TAPFLEET_KIOSK_READY ... stations=URL`` when it is up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device.kiosk_cli import READY_MARKER
from device.ledger import KioskLedger
from device.ports import SystemClock
from device.staff_pin import hash_pin
from simulators.broker import Broker
from simulators.ports import free_tcp_port
from tests.kiosk.seed import seed_ledger

ROOM = "studio-a"
STAFF_PIN = "2468"
STATION = "st-studio-a"
KEY = "6b" * 8 + "0f1e2d3c4b5a6978" * 3
"""A fixed key for the tests' station (the enrolment command makes random ones)."""


@dataclass
class KioskProcess:
    """A running ``tapfleet kiosk`` process."""

    config: Path
    ledger_path: Path
    kiosk_id: str
    store_id: str
    station_port: int
    broker: Broker | None
    proc: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    stations_url: str = ""
    ui_url: str = ""

    def start(self, timeout: float = 30.0) -> KioskProcess:
        """Start it and wait for its ready line."""
        self.lines = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "kiosk", "--config", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        ready = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                if line.startswith(READY_MARKER):
                    self.stations_url = line.split("stations=", 1)[1].strip()
                    self.ui_url = line.split("ui=", 1)[1].split()[0]
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError("kiosk did not start:\n" + "\n".join(self.lines[-40:]))
        return self

    def stop(self) -> None:
        """SIGTERM (a clean stop), SIGKILL if it hangs."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def ledger(self) -> KioskLedger:
        """The kiosk's ledger file, opened read-side from the test (close it after use)."""
        return KioskLedger.open(
            self.ledger_path, kiosk_id=self.kiosk_id, store_id=self.store_id, clock=SystemClock()
        )

    def log(self) -> str:
        """The kiosk's output so far."""
        return "\n".join(self.lines)


def write_kiosk(
    folder: Path,
    *,
    broker: Broker | None,
    stations: list[dict[str, Any]],
    nfc_path: str | None = None,
    kiosk_id: str = "k-s1-1",
    store_id: str = "s1",
    heartbeat_s: int = 1,
) -> KioskProcess:
    """Seed a ledger and write a kiosk config (JSON) with ``stations`` enrolled."""
    folder.mkdir(parents=True, exist_ok=True)
    ledger_path = folder / "ledger.sqlite"
    seed_ledger(ledger_path, kiosk_id=kiosk_id, store_id=store_id, with_class=True, class_room=ROOM)
    port = free_tcp_port()
    config = {
        "kiosk_id": kiosk_id,
        "store_id": store_id,
        "ledger_path": str(ledger_path),
        "log_level": "INFO",
        "nfc": {"path": nfc_path, "targets": ["106A"]},
        "link": {
            "host": "127.0.0.1",
            "port": broker.port if broker else free_tcp_port(),
            "keepalive_s": 5,
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.5,
            "heartbeat_interval_s": heartbeat_s,
        },
        "ui": {"host": "127.0.0.1", "port": 0},
        "staff": {"pin_hash": hash_pin(STAFF_PIN)},
        "stations": {"host": "127.0.0.1", "port": port, "enrolled": stations},
    }
    path = folder / "kiosk.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return KioskProcess(path, ledger_path, kiosk_id, store_id, port, broker)
