"""Starting the demo's services: Mosquitto, the coordinator and the kiosks, in a work folder.

Work folder layout::

    .tapfleet-demo            marks the folder as the demo's (it is wiped on the next run)
    demo-state.json           URLs, logins, kiosks and the traffic story's progress
    pids.json                 every child process (see ``processes``)
    logs/<service>.log        each child's output
    broker/                   mosquitto.conf, passwords, acl, persistence
    coordinator/              coordinator.toml, ledger.db (SQLite)
    kiosks/<kiosk id>/        kiosk.json, ledger.sqlite

The broker starts with only the coordinator's user; once the kiosks are provisioned the
password and ACL files are rendered again (``coordinator.mqtt.broker_config``, the code behind
``tapfleet broker-config``) and Mosquitto reloads them on SIGHUP.
"""

from __future__ import annotations

import getpass
import json
import secrets
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from coordinator.mqtt.broker_config import BrokerAuth, hashes_for, write_broker_files
from simulators.demo.catalog import Catalog, KioskSpec
from simulators.demo.console import Console
from simulators.demo.door import DoorStation
from simulators.demo.errors import DemoError
from simulators.demo.netcut import LinkSwitch
from simulators.demo.processes import Child, Supervisor
from simulators.demo.seed import KioskCredentials
from simulators.ports import LOCALHOST, accepting, free_tcp_port, free_udp_port
from simulators.services import TAPFLEET
from simulators.waiting import wait_until

MARKER = ".tapfleet-demo"
COORDINATOR_USER = "coordinator"
CAMERA_FPS = 5.0
"""Enough for a member holding up a phone; keeps the kiosks' QR decoding light on small CPUs."""
TIER_BROKER, TIER_COORDINATOR, TIER_KIOSK = 0, 1, 2

READY_MARKER = "TAPFLEET_KIOSK_READY"


def prepare_workdir(path: Path) -> Path:
    """Create the work folder, or empty one a previous demo left; refuse any other folder."""
    path = path.expanduser().resolve()
    if path.exists():
        if not path.is_dir():
            raise DemoError(f"--workdir {path} is a file; give a folder")
        if any(path.iterdir()):
            if not (path / MARKER).exists():
                raise DemoError(
                    f"--workdir {path} is not empty and was not made by tapfleet demo; "
                    "give an empty or new folder"
                )
            for child in path.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("made by tapfleet demo; emptied on its next run\n")
    return path


@dataclass
class KioskRuntime:
    """A demo kiosk: its ports, its simulated camera, its network switch and its process."""

    spec: KioskSpec
    ui_port: int
    nfc_port: int
    camera: Any
    """``simulators.camera.server.SimulatedCamera`` (imported lazily: OpenCV)."""
    switch: LinkSwitch
    config_path: Path
    child: Child | None = None
    door: DoorStation | None = None
    """The door station enrolled at this kiosk (the studio's), if any."""

    @property
    def kiosk_id(self) -> str:
        """The kiosk's id."""
        return self.spec.kiosk_id

    @property
    def ui_url(self) -> str:
        """Base URL of the kiosk's touchscreen UI."""
        return f"http://{LOCALHOST}:{self.ui_port}"

    @property
    def nfc_path(self) -> str:
        """The reader's nfcpy path (``tapfleet sim tap --reader`` takes it)."""
        return f"udp:{LOCALHOST}:{self.nfc_port}"

    @property
    def camera_url(self) -> str:
        """Control URL of the simulated camera (``tapfleet sim show-qr --camera``)."""
        return str(self.camera.control_url)


class Fleet:
    """The demo's services and the order they start in."""

    def __init__(
        self,
        workdir: Path,
        catalog: Catalog,
        console: Console,
        supervisor: Supervisor,
        *,
        coordinator_port: int,
        ui_ports: list[int],
    ) -> None:
        self.workdir = workdir
        self.catalog = catalog
        self.console = console
        self.supervisor = supervisor
        self.coordinator_port = coordinator_port
        self.ui_ports = ui_ports
        self.broker_port = 0
        self.broker: Child | None = None
        self.coordinator: Child | None = None
        self.kiosks: dict[str, KioskRuntime] = {}
        self._coordinator_password = secrets.token_urlsafe(18)
        self._broker_dir = workdir / "broker"

    @property
    def coordinator_url(self) -> str:
        """Base URL of the coordinator's HTTP API."""
        return f"http://{LOCALHOST}:{self.coordinator_port}"

    # --- broker -----------------------------------------------------------------------------

    def _write_broker_files(self, kiosks: dict[str, KioskCredentials]) -> Path:
        passwords = {COORDINATOR_USER: self._coordinator_password}
        passwords.update({c.username: c.password for c in kiosks.values()})
        auth = BrokerAuth(
            password_hashes=hashes_for(passwords),
            kiosks=sorted((c.username, c.store_id) for c in kiosks.values()),
            coordinators=[COORDINATOR_USER],
        )
        return write_broker_files(
            self._broker_dir,
            port=self.broker_port,
            bind=LOCALHOST,
            auth=auth,
            log_dest=f"file {self._broker_dir / 'mosquitto.log'}",
            autosave_interval=30,
            run_as=getpass.getuser(),
        )

    def start_broker(self, check: Callable[[], None]) -> None:
        """Mosquitto with the shipped config on a free port; only the coordinator may log in."""
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(mosquitto).exists():
            raise DemoError(
                "mosquitto is not installed; run 'make demo' (it installs the system packages "
                "with deploy/install-system-deps.sh) or 'apt-get install mosquitto'"
            )
        self.broker_port = free_tcp_port()
        config = self._write_broker_files({})
        self.broker = self.supervisor.start(
            "broker",
            [mosquitto, "-c", str(config)],
            log_path=self.workdir / "logs" / "broker.log",
            tier=TIER_BROKER,
            cwd=self._broker_dir,
        )
        wait_until(
            lambda: accepting(LOCALHOST, self.broker_port),
            timeout_s=15,
            what=f"Mosquitto to listen on port {self.broker_port}",
            check=check,
            interval_s=0.1,
            error=DemoError,
        )

    def allow_kiosks(self, credentials: dict[str, KioskCredentials]) -> None:
        """Render passwords and ACLs with the kiosks' users; Mosquitto reloads them (SIGHUP)."""
        self._write_broker_files(credentials)
        if self.broker is None:
            raise DemoError("the broker is not running")
        self.supervisor.signal_child(self.broker, signal.SIGHUP)

    # --- coordinator ------------------------------------------------------------------------

    def start_coordinator(self, check: Callable[[], None]) -> None:
        """The coordinator on SQLite, logged in to the broker; waits until /healthz is ok."""
        folder = self.workdir / "coordinator"
        folder.mkdir(parents=True, exist_ok=True)
        admin = self.catalog.admin
        settings = {
            "database_url": f"sqlite:///{folder / 'ledger.db'}",
            "mqtt_host": LOCALHOST,
            "mqtt_port": self.broker_port,
            "mqtt_username": COORDINATOR_USER,
            "mqtt_password": self._coordinator_password,
            "mqtt_client_id": "tapfleet-demo-coordinator",
            "secret_key": secrets.token_urlsafe(32),
            "admin_username": admin.username,
            "admin_password": admin.password,
            "http_host": LOCALHOST,
            "http_port": self.coordinator_port,
            "log_level": "INFO",
        }
        config = folder / "coordinator.toml"
        # The offline story lasts 15 s: alert after 8 s so the dashboard shows it.
        dashboard = {"offline_alert_after_s": 8}
        # The demo's webhook gateway listens on this machine: a local target is allowed.
        hooks = {"allow_private_targets": True, "poll_interval_s": 0.5}
        config.write_text(
            "# written by tapfleet demo\n"
            + tomli_w.dumps({**settings, "dashboard": dashboard, "webhooks": hooks}),
            encoding="utf-8",
        )
        config.chmod(0o600)
        self.coordinator = self.supervisor.start(
            "coordinator",
            [*TAPFLEET, "coordinator", "--config", str(config)],
            log_path=self.workdir / "logs" / "coordinator.log",
            tier=TIER_COORDINATOR,
            cwd=folder,
        )
        wait_until(
            self._coordinator_healthy,
            timeout_s=60,
            what=f"the coordinator at {self.coordinator_url}/healthz (database and broker ok)",
            check=check,
            interval_s=0.1,
            error=DemoError,
        )

    def _coordinator_healthy(self) -> bool:
        try:
            answer = httpx.get(f"{self.coordinator_url}/healthz", timeout=2)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200 and answer.json().get("mqtt") is True

    # --- kiosks -----------------------------------------------------------------------------

    def start_kiosks(self, credentials: dict[str, KioskCredentials]) -> None:
        """Start every kiosk process with its simulated camera and network switch (no wait)."""
        from device.staff_pin import hash_pin
        from simulators.camera.server import SimulatedCamera

        pin_hash = hash_pin(self.catalog.staff_pin)
        for spec, ui_port in zip(self.catalog.kiosks, self.ui_ports, strict=True):
            folder = self.workdir / "kiosks" / spec.kiosk_id
            folder.mkdir(parents=True, exist_ok=True)
            camera = SimulatedCamera(LOCALHOST, 0, fps=CAMERA_FPS, seed=len(self.kiosks)).start()
            switch = LinkSwitch(LOCALHOST, self.broker_port, name=f"net-{spec.kiosk_id}").start()
            runtime = KioskRuntime(
                spec=spec,
                ui_port=ui_port,
                nfc_port=free_udp_port(),
                camera=camera,
                switch=switch,
                config_path=folder / "kiosk.json",
            )
            self.kiosks[spec.kiosk_id] = runtime
            if spec.kiosk_id == self.catalog.roles.studio:
                runtime.door = DoorStation(
                    f"st-{spec.store_id}-door", free_tcp_port(), folder / "door-station"
                )
            creds = credentials[spec.kiosk_id]
            config = {
                "kiosk_id": spec.kiosk_id,
                "store_id": spec.store_id,
                "ledger_path": "ledger.sqlite",
                "log_level": "INFO",
                "nfc": {"path": runtime.nfc_path, "targets": ["106A", "212F"]},
                "camera": {"source": camera.url, "decoder": "zxing"},
                "link": {
                    "host": LOCALHOST,
                    "port": switch.port,
                    "username": creds.username,
                    "password": creds.password,
                    "keepalive_s": 15,
                    "heartbeat_interval_s": 5,
                    "reconnect_min_s": 0.5,
                    "reconnect_max_s": 3.0,
                },
                "ui": {"host": LOCALHOST, "port": ui_port, "default_lang": "zh"},
                "staff": {
                    "pin_hash": pin_hash,
                    "staff_id": f"staff-{spec.kiosk_id}",
                    "cards": [self.catalog.staff_card],
                },
            }
            if runtime.door is not None:
                config["stations"] = runtime.door.enrollment()
            runtime.config_path.write_text(
                json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8"
            )
            runtime.config_path.chmod(0o600)
            runtime.child = self.supervisor.start(
                spec.kiosk_id,
                [*TAPFLEET, "kiosk", "--config", str(runtime.config_path)],
                log_path=self.workdir / "logs" / f"{spec.kiosk_id}.log",
                tier=TIER_KIOSK,
                cwd=folder,
            )

    def wait_kiosks_ready(self, client: Any, check: Callable[[], None]) -> None:
        """Until every kiosk is up, synced (rules and members), online, and the coordinator
        shows it connected."""
        for runtime in self.kiosks.values():
            child = runtime.child
            assert child is not None
            wait_until(
                lambda c=child: READY_MARKER in c.log_tail(200),
                timeout_s=90,
                what=f"kiosk {runtime.kiosk_id} to start (see {child.log_path})",
                check=check,
                interval_s=0.1,
                error=DemoError,
            )
        for runtime in self.kiosks.values():
            wait_until(
                lambda r=runtime: (
                    _kiosk_status(r).get("ready") is True and _kiosk_status(r).get("online") is True
                ),
                timeout_s=60,
                what=f"kiosk {runtime.kiosk_id} to sync rules and members from the coordinator",
                check=check,
                interval_s=0.1,
                error=DemoError,
            )
        wanted = set(self.kiosks)

        def all_connected() -> bool:
            rows = client.get("/api/v1/kiosks")
            return wanted <= {r["kiosk_id"] for r in rows if r["connected"]}

        wait_until(
            all_connected,
            timeout_s=30,
            what="the coordinator to see every kiosk connected",
            check=check,
            interval_s=0.1,
            error=DemoError,
        )

    def start_doors(self, check: Callable[[], None]) -> list[DoorStation]:
        """Start the door stations (after their kiosks are up; main thread)."""
        started = []
        for runtime in self.kiosks.values():
            if runtime.door is not None:
                runtime.door.start(self.supervisor, check)
                started.append(runtime.door)
        return started

    def stop_helpers(self) -> None:
        """Stop the in-process cameras and network switches."""
        for runtime in self.kiosks.values():
            for stop in (runtime.camera.stop, runtime.switch.stop):
                try:
                    stop()
                except Exception as exc:  # shutting down: report and go on
                    self.console.warn(f"{runtime.kiosk_id}: stopping a helper failed: {exc}")


def _kiosk_status(runtime: KioskRuntime) -> dict[str, Any]:
    try:
        answer = httpx.get(f"{runtime.ui_url}/api/status", timeout=2)
        return dict(answer.json()) if answer.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return {}
