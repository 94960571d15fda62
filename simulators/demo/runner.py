"""``run_demo``: bring the chain up, seed it, run the traffic, and always tear everything down.

Order: work folder -> broker -> coordinator -> provisioning (stores, logins, kiosks) ->
broker reload with the kiosks' logins -> kiosk processes (they boot while seeding goes on)
-> seeding -> kiosks synced and online -> URLs and logins printed -> traffic until Ctrl-C
or ``--duration``. Whatever happens (a crash, Ctrl-C once or twice, SIGTERM) the ``finally``
block stops the traffic and every child process; a second Ctrl-C kills at once.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from simulators.demo.api import CoordinatorClient
from simulators.demo.catalog import Catalog, build_catalog
from simulators.demo.console import Console
from simulators.demo.errors import ChildExited, DemoError, DemoInterrupted
from simulators.demo.fleet import Fleet, prepare_workdir
from simulators.demo.processes import Supervisor
from simulators.demo.seed import SeedResult, provision_chain, seed_chain
from simulators.demo.state import StateFile
from simulators.demo.traffic import TrafficGenerator
from simulators.demo.webhooks import start_receiver
from simulators.ports import free_tcp_port, ports_from, tcp_port_free
from simulators.services import child_env
from simulators.webhook_receiver import WebhookReceiver

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_S = 10.0
"""How long a child gets after SIGTERM before SIGKILL."""
CLEAN_EXITS = (0, -signal.SIGTERM)
"""uvicorn re-raises SIGTERM after its graceful shutdown, so the coordinator ends with -15."""


@dataclass(frozen=True)
class DemoOptions:
    """What ``tapfleet demo`` was asked for."""

    duration_s: float | None = None
    coordinator_port: int = 8000
    kiosks: int = 4
    workdir: Path | None = None


class StopSignals:
    """First Ctrl-C / SIGTERM: stop cleanly. Second: kill the children at once."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.hurry = threading.Event()
        self.received: list[str] = []
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        """Take over the stop signals (main thread only)."""
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        """Give the signals back."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        # No printing here: the handler may interrupt the main thread inside a print.
        self.received.append(signal.Signals(signum).name)
        if self.stop.is_set():
            self.hurry.set()
        self.stop.set()

    def check(self) -> None:
        """Raise DemoInterrupted once a stop was asked for."""
        if self.stop.is_set():
            raise DemoInterrupted(f"stopped by {', '.join(self.received) or 'request'}")


def _choose_ports(options: DemoOptions, console: Console) -> tuple[int, list[int]]:
    port = options.coordinator_port
    if port == 0:
        port = free_tcp_port()
    elif not tcp_port_free(port):
        fallback = free_tcp_port()
        console.warn(
            f"port {port} is taken by another program; the coordinator uses port {fallback} "
            f"instead (pick one with --coordinator-port)"
        )
        port = fallback
    return port, ports_from(port + 1, options.kiosks, avoid={port})


def _dashboard_url(base: str) -> str | None:
    """The ops dashboard's URL if this coordinator serves one."""
    try:
        answer = httpx.get(f"{base}/dashboard", timeout=5, follow_redirects=True)
    except httpx.HTTPError:
        return None
    return f"{base}/dashboard" if answer.status_code < 400 else None


def _banner(
    console: Console,
    fleet: Fleet,
    catalog: Catalog,
    seeded: SeedResult,
    options: DemoOptions,
    dashboard: str | None,
) -> None:
    base = fleet.coordinator_url
    line = "=" * 78
    until = (
        f"stops by itself after {options.duration_s:g} s"
        if options.duration_s
        else "runs until Ctrl-C"
    )
    console.info(line)
    console.info(f" Tapfleet demo is running ({until}; Ctrl-C stops it cleanly)")
    console.info(line)
    if dashboard:
        console.info(f" Ops dashboard          {dashboard}   (log in as hq-admin, see below)")
    else:
        console.info(" Ops dashboard          (not in this build yet; use the API docs below)")
    console.info(f" Coordinator API docs   {base}/docs   (Authorize with a login below)")
    guest = catalog.member(catalog.roles.hands_on_member)
    guest_link = seeded.page_links[guest.member_id]
    console.info(
        f" Member phone page      {base}/m/{guest_link}   ({guest.display_name}'s QR code)"
    )
    poster_store = catalog.stores[0]
    console.info(
        f" Sign-up poster         {base}/dashboard/stores/{poster_store.store_id}/poster"
        "   (also under Members)"
    )
    console.info(
        "                        a member who signs up again with their phone gets a one-time"
    )
    console.info("                        code: it shows in this console as a 'front desk' line")
    console.info(f" Broker                 mqtt://127.0.0.1:{fleet.broker_port} (per-kiosk logins)")
    console.info("")
    console.info(f" Kiosks (touchscreen UI in a browser; staff PIN {catalog.staff_pin}):")
    for runtime in fleet.kiosks.values():
        store = catalog.store(runtime.spec.store_id)
        console.info(f"   {runtime.kiosk_id:<12} {runtime.ui_url:<24} {store.name}")
    console.info("")
    console.info(" Coordinator logins (OAuth2 password; POST /api/v1/auth/token):")
    for login in catalog.logins:
        where = f" of {login.store_id}" if login.store_id else ""
        console.info(f"   {login.username:<12} {login.password:<14} {login.role}{where}")
    quiet = fleet.kiosks[catalog.roles.offline]
    console.info("")
    console.info(f" Try it yourself at {quiet.kiosk_id} (its own traffic stops after the story):")
    tapfleet = _tapfleet_command()
    console.info(
        f"   {tapfleet} sim tap --card {guest.card_uid} --type {guest.card_type} "
        f"--reader {quiet.nfc_path}   # {guest.display_name} taps a card"
    )
    console.info(
        f"   {tapfleet} sim tap --card {catalog.staff_card} --reader {quiet.nfc_path}"
        "   # a staff card opens staff mode"
    )
    token_url = f"{base}/api/v1/member/qr?link={guest_link}"
    console.info(
        f"   {tapfleet} sim show-qr --member {guest.member_id} --camera {quiet.camera_url} "
        f'--token "$(curl -s \'{token_url}\' | sed -E \'s/.*"token":"([^"]+)".*/\\1/\')"'
        f"   # {guest.display_name} shows the phone (a minute after the tap)"
    )
    console.info(f" Work folder: {fleet.workdir} (logs in logs/, state in demo-state.json)")
    console.info(line)


def _tapfleet_command() -> str:
    """How to run ``tapfleet`` from here: the script next to this interpreter if there is one."""
    script = Path(sys.executable).parent / "tapfleet"
    if not script.exists():
        return "tapfleet"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def run_demo(options: DemoOptions, console: Console | None = None) -> int:
    """Run the demo; returns the process exit status (0 after a clean run)."""
    _tolerant_output()
    console = console or Console()
    if not 2 <= options.kiosks <= 12:
        console.warn("--kiosks must be between 2 and 12 (one goes offline, one stays up)")
        return 2
    if options.duration_s is not None and options.duration_s <= 0:
        console.warn("--duration must be positive (seconds)")
        return 2
    signals = StopSignals()
    signals.install()
    temporary = options.workdir is None
    try:
        workdir = prepare_workdir(
            Path(tempfile.mkdtemp(prefix="tapfleet-demo-")) if temporary else options.workdir  # type: ignore[arg-type]
        )
    except DemoError as exc:
        signals.restore()
        console.warn(str(exc))
        return 2
    supervisor = Supervisor(workdir / "pids.json", env=child_env())
    state = StateFile(workdir / "demo-state.json")
    state.update(workdir=str(workdir), phase="starting")
    fleet: Fleet | None = None
    client: CoordinatorClient | None = None
    traffic: TrafficGenerator | None = None
    receiver: WebhookReceiver | None = None
    exit_code = 0

    def check() -> None:
        signals.check()
        supervisor.check()

    try:
        catalog = build_catalog(time.time_ns() // 1_000_000, kiosks=options.kiosks)
        coordinator_port, ui_ports = _choose_ports(options, console)
        fleet = Fleet(
            workdir,
            catalog,
            console,
            supervisor,
            coordinator_port=coordinator_port,
            ui_ports=ui_ports,
        )
        console.step(f"work folder {workdir}")
        fleet.start_broker(check)
        console.step(f"Mosquitto (shipped config, logins required) on port {fleet.broker_port}")
        fleet.start_coordinator(check)
        console.step(f"coordinator (SQLite) at {fleet.coordinator_url}, connected to the broker")
        client = CoordinatorClient(fleet.coordinator_url)
        client.login(catalog.admin.username, catalog.admin.password)
        credentials = provision_chain(client, catalog, console)
        fleet.allow_kiosks(credentials)
        console.step("broker reloaded the kiosks' passwords and ACLs (SIGHUP)")
        fleet.start_kiosks(credentials)
        console.step(
            f"{len(fleet.kiosks)} kiosk processes starting (nfcpy udp readers, simulated "
            "cameras, touchscreen UIs)"
        )
        seeded = seed_chain(client, catalog, console, check)
        console.step("waiting for every kiosk to sync and come online ...")
        fleet.wait_kiosks_ready(client, check)
        console.step("all kiosks synced and online")
        receiver = start_receiver(client, console)
        for door in fleet.start_doors(check):
            console.step(
                f"door station {door.station_id} up: its MicroPython firmware on a PN532 "
                f"simulator, signed HTTP to its kiosk on port {door.port}"
            )
        dashboard = _dashboard_url(fleet.coordinator_url)
        state.update(
            phase="up",
            coordinator_url=fleet.coordinator_url,
            dashboard_url=dashboard,
            docs_url=f"{fleet.coordinator_url}/docs",
            broker_port=fleet.broker_port,
            logins=[
                {
                    "username": x.username,
                    "password": x.password,
                    "role": x.role,
                    "store_id": x.store_id,
                }
                for x in catalog.logins
            ],
            staff_pin=catalog.staff_pin,
            kiosks=[
                {
                    "kiosk_id": r.kiosk_id,
                    "store_id": r.spec.store_id,
                    "ui_url": r.ui_url,
                    "nfc_reader": r.nfc_path,
                    "camera": r.camera_url,
                }
                for r in fleet.kiosks.values()
            ],
            roles=catalog.roles.__dict__,
        )
        _banner(console, fleet, catalog, seeded, options, dashboard)
        traffic = TrafficGenerator(fleet, catalog, client, console, seeded, state)
        traffic.start(signals.stop)
        state.update(phase="running")
        deadline = time.monotonic() + options.duration_s if options.duration_s else None
        while not signals.stop.is_set():
            supervisor.check()
            if deadline is not None and time.monotonic() >= deadline:
                console.step(f"--duration {options.duration_s:g} s elapsed")
                break
            signals.stop.wait(0.25)
        if signals.received:
            console.step(f"{signals.received[0]} received")
    except DemoInterrupted as exc:
        console.step(f"{exc} before the fleet was up")
        exit_code = 130
    except ChildExited as exc:
        console.warn(str(exc))
        exit_code = 1
    except Exception as exc:
        exit_code = 1
        try:
            supervisor.check()  # a crashed child is the cause, not what failed because of it
        except ChildExited as crashed:
            console.warn(f"{crashed}\n(which made this fail: {exc})")
        else:
            if isinstance(exc, DemoError):
                console.warn(str(exc))
            else:
                console.warn("the demo failed unexpectedly:\n" + traceback.format_exc())
    finally:
        if receiver is not None:
            receiver.stop()
        exit_code = _shut_down(
            console, signals, supervisor, fleet, client, traffic, state, exit_code
        )
        signals.restore()
    if temporary and exit_code == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    elif exit_code != 0:
        console.info(f"logs kept in {workdir}/logs")
    return exit_code


def _shut_down(
    console: Console,
    signals: StopSignals,
    supervisor: Supervisor,
    fleet: Fleet | None,
    client: CoordinatorClient | None,
    traffic: TrafficGenerator | None,
    state: StateFile,
    exit_code: int,
) -> int:
    """Stop traffic, children and helpers; returns the final exit status."""
    signals.stop.set()
    console.step("stopping: traffic, then kiosks, coordinator and broker (Ctrl-C again: kill)")
    summary = None
    if traffic is not None:
        traffic.join(hurry=signals.hurry)
        if traffic.error is not None and exit_code == 0:
            exit_code = 1
        counts = traffic.stats.snapshot()
        summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    report = supervisor.stop_all(grace_s=GRACE_S, hurry=signals.hurry)
    if traffic is not None:
        traffic.close()
    if fleet is not None:
        fleet.stop_helpers()
    if client is not None:
        client.close()
    for name, code in report.exit_codes.items():
        if name in report.killed:
            console.warn(f"{name} did not stop within {GRACE_S:g} s and was killed")
        elif code not in CLEAN_EXITS:
            console.warn(f"{name} exited with status {code} (log: logs/{name}.log)")
    if report.killed and exit_code == 0 and not signals.hurry.is_set():
        exit_code = 1
    state.update(phase="stopped", exit_code=exit_code, stop_report=report.exit_codes)
    if summary:
        console.step(f"traffic: {summary}")
    console.step(
        f"stopped {len(report.exit_codes)} processes; nothing left running (exit {exit_code})"
    )
    return exit_code


def _tolerant_output() -> None:
    """Chinese names must never crash the demo on a terminal that is not UTF-8."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="replace")
