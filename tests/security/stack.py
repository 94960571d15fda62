"""The secured stack for security tests: Mosquitto with the shipped config and authentication
(optionally a TLS listener), a real coordinator served by uvicorn that manages the broker's
users and ACL, and helpers for real kiosks and raw MQTT probes.

    broker = start_secure_broker(tmp_path)                     # no kiosk users yet
    with live_coordinator(tmp_path, broker) as live:           # broker_dir = the broker's dir
        live.add_store("s1"); creds = live.provision("k1", "s1")
        link, ledger = live.real_kiosk(tmp_path, creds)        # KioskLedger + KioskLink
        probe = Probe.connect(broker, "k1", password)          # raw paho client, MQTT v5
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt

from coordinator.clock import Clock
from coordinator.mqtt.broker_config import BrokerTls
from coordinator.runtime import Coordinator
from coordinator.settings import CoordinatorSettings
from device.ledger import KioskLedger
from device.link import KioskLink
from device.ports import SystemClock
from simulators.broker import Broker, start_broker
from tests.link.ledgers import RecordingLedger
from tests.support.api import ApiCalls
from tests.support.links import fast_link_settings
from tests.support.live_server import LiveServer

COORDINATOR_USER = "coordinator"
COORDINATOR_PASSWORD = "coordinator-secret-pw"


class OffsetClock:
    """Real time plus an offset the test moves forward (coordinator and kiosks share one).

    Both readings jump, as when time really passes: a kiosk's trusted time is the
    coordinator's last timestamp plus elapsed monotonic time.
    """

    def __init__(self) -> None:
        self.offset_ms = 0

    def wall_ms(self) -> int:
        """Shifted wall clock."""
        return time.time_ns() // 1_000_000 + self.offset_ms

    def monotonic(self) -> float:
        """Shifted monotonic clock."""
        return time.monotonic() + self.offset_ms / 1000

    def advance(self, ms: int) -> None:
        """Jump forward."""
        self.offset_ms += ms


def start_secure_broker(tmp_path: Path, *, tls: BrokerTls | None = None) -> Broker:
    """Mosquitto with authentication on (only the coordinator user exists yet)."""
    return start_broker(
        tmp_path,
        auth=True,
        users={COORDINATOR_USER: COORDINATOR_PASSWORD},
        coordinators=[COORDINATOR_USER],
        tls=tls,
        directory_name="broker",
    )


def broker_log(broker: Broker) -> str:
    """Mosquitto's own log file."""
    with contextlib.suppress(OSError):
        return (broker.directory / "mosquitto.log").read_text(errors="replace")
    return ""


def coordinator_settings(tmp_path: Path, broker: Broker, **overrides: Any) -> CoordinatorSettings:
    """Dev-mode coordinator on the secure broker, managing its users and ACL."""
    values: dict[str, Any] = {
        "dev_mode": True,
        "database_url": f"sqlite:///{tmp_path / 'coordinator.db'}",
        "mqtt_port": broker.port,
        "mqtt_username": COORDINATOR_USER,
        "mqtt_password": COORDINATOR_PASSWORD,
        "mqtt_client_id": f"coord-{uuid.uuid4().hex[:8]}",
        "member_push_interval_ms": 30,
        "housekeeping_interval_s": 3600,
        "broker_dir": broker.directory,
    }
    values.update(overrides)
    return CoordinatorSettings(**values)


@dataclass
class Live(ApiCalls):
    """A coordinator served by uvicorn on a free port, and an admin API client."""

    url: str
    coord: Coordinator
    http: httpx.Client
    broker: Broker | None
    app: Any = None
    admin: dict[str, str] = field(default_factory=dict)
    links: list[KioskLink] = field(default_factory=list)
    ledgers: list[RecordingLedger] = field(default_factory=list)

    @property
    def api_client(self) -> Any:
        """Requests of :class:`~tests.support.api.ApiCalls` go through this client."""
        return self.http

    def add_store(self, store_id: str) -> None:
        """Register a store."""
        self.call("POST", "/api/v1/stores", json={"store_id": store_id, "name": store_id},
                  expect=201)  # fmt: skip

    def add_user(self, username: str, role: str, store_id: str | None = None) -> dict[str, str]:
        """Create an ops user; returns their bearer headers."""
        password = f"pw-{username}-12345"
        body = {"username": username, "password": password, "role": role, "store_id": store_id}
        self.call("POST", "/api/v1/users", json=body, expect=201)
        return self.login(username, password)

    def add_member(self, member_id: str, **body: Any) -> dict[str, Any]:
        """Register a member (``display_name`` defaults to a masked name)."""
        body = {"member_id": member_id, "display_name": "李*华", **body}
        return self.call("POST", "/api/v1/members", json=body, expect=201)

    def provision(self, kiosk_id: str, store_id: str) -> dict[str, Any]:
        """Provision a kiosk; the answer holds its password, and the broker already knows it."""
        answer = self.call("POST", "/api/v1/kiosks", json={"kiosk_id": kiosk_id,
                           "store_id": store_id}, expect=201)  # fmt: skip
        assert answer["broker"]["reloaded"], answer["broker"]
        return answer

    def applied_seq(self, kiosk_id: str) -> int:
        """The coordinator's applied seq for a kiosk."""
        return int(self.call("GET", f"/api/v1/kiosks/{kiosk_id}")["evidence"]["applied_seq"])

    def rejections(self) -> dict[str, int]:
        """Rejection totals by reason."""
        return dict(self.call("GET", "/api/v1/ops/rejections")["totals_by_reason"])

    def real_kiosk(
        self,
        folder: Path,
        creds: dict[str, Any],
        *,
        clock: Any = None,
        port: int | None = None,
        **link: Any,
    ) -> tuple[KioskLink, RecordingLedger]:
        """The real kiosk ledger and link with provisioned credentials, started."""
        assert self.broker is not None
        kiosk_id, store_id = creds["kiosk_id"], creds["store_id"]
        (folder / kiosk_id).mkdir(parents=True, exist_ok=True)
        ledger = RecordingLedger(
            KioskLedger.open(
                folder / kiosk_id / "ledger.db",
                kiosk_id=kiosk_id,
                store_id=store_id,
                clock=clock or SystemClock(),
            )
        )
        self.ledgers.append(ledger)
        password = creds["mqtt"]["password"]
        settings = fast_link_settings(
            port or self.broker.port, username=kiosk_id, password=password, **link
        )
        kiosk_link = KioskLink(settings, ledger, clock=clock)
        self.links.append(kiosk_link)
        kiosk_link.start()
        return kiosk_link, ledger

    def close_kiosks(self) -> None:
        """Stop every link, then close the ledgers."""
        for link in self.links:
            link.stop(timeout_s=2)
        for ledger in self.ledgers:
            ledger.close()


@contextlib.contextmanager
def live_coordinator(
    tmp_path: Path,
    broker: Broker | None,
    *,
    clock: Clock | None = None,
    **overrides: Any,
) -> Iterator[Live]:
    """A started coordinator (MQTT on ``broker`` unless None) with an admin client."""
    if broker is None:
        overrides.setdefault("mqtt_enabled", False)
        overrides.setdefault("broker_dir", None)
        settings = CoordinatorSettings(
            dev_mode=True,
            database_url=f"sqlite:///{tmp_path / 'coordinator.db'}",
            housekeeping_interval_s=3600,
            **overrides,
        )
    else:
        settings = coordinator_settings(tmp_path, broker, **overrides)
    server = LiveServer(settings, clock=clock)
    server.start()
    http = httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=20)
    live = Live(
        url=f"http://127.0.0.1:{server.port}",
        coord=server.app.state.coordinator,
        http=http,
        broker=broker,
        app=server.app,
    )
    try:
        if broker is not None:
            assert live.coord.link is not None and live.coord.link.wait_ready(15), (
                "the coordinator did not connect to the broker:\n" + broker_log(broker)[-2000:]
            )
        live.admin = live.login("admin", "admin")
        yield live
    finally:
        live.close_kiosks()
        http.close()
        server.stop()


class Probe:
    """A raw MQTT v5 client (paho 2.x) that records SUBACK/PUBACK reason codes and messages."""

    def __init__(self, client: mqtt.Client):
        self.client = client
        self.cond = threading.Condition()
        self.connack: mqtt.ReasonCode | None = None
        self.disconnected: mqtt.ReasonCode | None = None
        self.subacks: dict[int, list[mqtt.ReasonCode]] = {}
        self.pubacks: dict[int, mqtt.ReasonCode] = {}
        self.messages: list[tuple[str, bytes]] = []
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        client.on_message = self._on_message

    @classmethod
    def connect(
        cls,
        broker: Broker,
        username: str | None,
        password: str | None,
        *,
        client_id: str | None = None,
        port: int | None = None,
        tls: dict[str, Any] | None = None,
        timeout: float = 10.0,
    ) -> Probe:
        """Connect (waiting up to ``timeout`` for the CONNACK, whatever it says)."""
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"probe-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        client.reconnect_delay_set(60, 120)  # a refused probe must not hammer the broker
        if username is not None:
            client.username_pw_set(username, password)
        if tls is not None:
            client.tls_set(**tls)
        probe = cls(client)
        client.connect(broker.host, port or broker.port, keepalive=10)
        client.loop_start()
        with probe.cond:
            probe.cond.wait_for(lambda: probe.connack is not None, timeout)
        return probe

    @property
    def accepted(self) -> bool:
        """True when the broker accepted the login."""
        return self.connack is not None and not self.connack.is_failure

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: mqtt.ReasonCode, _p: Any) -> None:
        with self.cond:
            self.connack = rc
            self.cond.notify_all()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: mqtt.ReasonCode, _p: Any) -> None:
        with self.cond:
            self.disconnected = rc
            self.cond.notify_all()

    def _on_subscribe(
        self, _c: Any, _u: Any, mid: int, rcs: list[mqtt.ReasonCode], _p: Any
    ) -> None:
        with self.cond:
            self.subacks[mid] = list(rcs)
            self.cond.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: mqtt.ReasonCode, _p: Any) -> None:
        with self.cond:
            self.pubacks[mid] = rc
            self.cond.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append((msg.topic, bytes(msg.payload)))
            self.cond.notify_all()

    def subscribe(self, filters: list[str], qos: int = 1) -> list[mqtt.ReasonCode]:
        """Subscribe and return the SUBACK reason code of every filter."""
        _rc, mid = self.client.subscribe([(f, qos) for f in filters])
        with self.cond:
            assert self.cond.wait_for(lambda: mid in self.subacks, 10), "no SUBACK"
            return self.subacks[mid]

    def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> mqtt.ReasonCode:
        """Publish at QoS 1 and return the PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=qos)
        with self.cond:
            assert self.cond.wait_for(lambda: info.mid in self.pubacks, 10), "no PUBACK"
            return self.pubacks[info.mid]

    def wait_message(self, predicate: Callable[[str, bytes], bool], timeout: float = 15) -> bool:
        """Wait until a received message matches."""
        with self.cond:
            return self.cond.wait_for(
                lambda: any(predicate(t, p) for t, p in self.messages), timeout
            )

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()
