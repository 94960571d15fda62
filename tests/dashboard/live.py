"""A real coordinator served by uvicorn on a free port, and a driver for its HTTP API.

The dashboard pages are tested the way ops staff use them: a real coordinator process
(in this test process, on its own thread) with its real database, its MQTT link to a real
Mosquitto, the fleet monitor, and uvicorn serving pages, assets and event streams on a
free port that headless Chromium opens.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from coordinator.runtime import Coordinator
from coordinator.settings import CoordinatorSettings
from simulators.broker import Broker
from tests.support.api import ApiCalls
from tests.support.mini_kiosk import MiniKiosk

FAST_DASHBOARD: dict[str, Any] = {
    "monitor_interval_s": 0.2,
    "offline_alert_after_s": 1,
    "alert_clear_after_s": 1,
    "rejection_refresh_s": 0.5,
}


@dataclass
class Live(ApiCalls):
    """A running coordinator: its URL, the object graph, and an admin API client."""

    url: str
    coord: Coordinator
    broker: Broker | None
    http: httpx.Client
    admin: dict[str, str] = field(default_factory=dict)
    kiosks: list[MiniKiosk] = field(default_factory=list)

    # -- HTTP -------------------------------------------------------------------------------

    @property
    def api_client(self) -> Any:
        """Requests of :class:`~tests.support.api.ApiCalls` go through this client."""
        return self.http

    def add_store(self, store_id: str, name: str, timezone: str = "Asia/Shanghai") -> None:
        """Register a store."""
        body = {"store_id": store_id, "name": name, "timezone": timezone}
        self.call("POST", "/api/v1/stores", json=body, expect=201)

    def add_user(self, username: str, role: str, store_id: str | None = None) -> str:
        """Create an ops user; returns the password."""
        password = "pw-" + username + "-123"
        body = {"username": username, "password": password, "role": role, "store_id": store_id}
        self.call("POST", "/api/v1/users", json=body, expect=201)
        return password

    def add_member(self, member_id: str, name: str, home_store_id: str | None) -> None:
        """Register a member."""
        body = {"member_id": member_id, "display_name": name, "home_store_id": home_store_id}
        self.call("POST", "/api/v1/members", json=body, expect=201)

    def kiosk(self, kiosk_id: str, store_id: str, *, connect: bool = True, **kw: Any) -> MiniKiosk:
        """Provision a kiosk and (by default) connect a mini kiosk that has its rules."""
        assert self.broker is not None
        self.call("POST", "/api/v1/kiosks", json={"kiosk_id": kiosk_id, "store_id": store_id},
                  expect=201)  # fmt: skip
        kiosk = MiniKiosk(kiosk_id, store_id, self.broker.host, self.broker.port, **kw)
        self.kiosks.append(kiosk)
        if connect:
            kiosk.connect()
            assert kiosk.wait_for(lambda: kiosk.bundle is not None), f"{kiosk_id} got no rules"
        return kiosk

    def fleet(self, headers: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
        """The fleet JSON."""
        return self.call("GET", "/api/v1/fleet", headers=headers, **params)

    def kiosk_facts(self, kiosk_id: str) -> dict[str, Any]:
        """One kiosk's facts from the fleet JSON."""
        return next(k for k in self.fleet()["kiosks"] if k["kiosk_id"] == kiosk_id)


class Heartbeats:
    """Each connected kiosk's heartbeat timer, as a real kiosk has one (pausable per kiosk)."""

    def __init__(self, kiosks: Iterable[MiniKiosk], interval_s: int = 1):
        self.kiosks = list(kiosks)
        self.interval_s = interval_s
        self.paused: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-heartbeats", daemon=True)

    def __enter__(self) -> Heartbeats:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            for kiosk in self.kiosks:
                if kiosk.online and kiosk.kiosk_id not in self.paused:
                    kiosk.heartbeat(self.interval_s)
            self._stop.wait(self.interval_s)


def settings_for(
    tmp_path: Path, broker: Broker | None, database_url: str | None = None, **dashboard: Any
) -> CoordinatorSettings:
    """Dev-mode settings: temp SQLite, the test broker, a fast fleet monitor."""
    return CoordinatorSettings(
        dev_mode=True,
        database_url=database_url or f"sqlite:///{tmp_path / 'coordinator.db'}",
        mqtt_enabled=broker is not None,
        mqtt_port=broker.port if broker else 1883,
        mqtt_client_id=f"coord-{uuid.uuid4().hex[:8]}",
        member_push_interval_ms=30,
        housekeeping_interval_s=3600,
        dashboard={**FAST_DASHBOARD, **dashboard},
    )
