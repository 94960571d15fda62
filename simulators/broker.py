"""A private Mosquitto for tests: the project's shipped config, a free port, a temp dir.

    broker = start_broker(tmp_path)                 # anonymous
    broker = start_broker(tmp_path, auth=True, users={"coordinator": "pw"}, kiosks=[...])
    broker.host, broker.port
    broker.restart()                                 # same port, persistence kept
    broker.stop()                                    # always; idempotent

The config is rendered from ``deploy/mosquitto/mosquitto.conf.in`` by
``coordinator.mqtt.broker_config`` (the same code the CLI uses), so tests exercise the shipped
tuning. Readiness is a real condition: the port accepts a TCP connection.
"""

from __future__ import annotations

import contextlib
import getpass
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from coordinator.mqtt.broker_config import BrokerAuth, hashes_for, write_broker_files

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepting(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@dataclass
class Broker:
    """A running private broker."""

    host: str
    port: int
    directory: Path
    config: Path
    log: Path
    users: Mapping[str, str] = field(default_factory=dict)
    _proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Start mosquitto and wait until it accepts connections."""
        log = self.log.open("ab")
        try:
            self._proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while not _accepting(self.host, self.port):
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited with {self._proc.returncode}:\n{self.log_text()[-2000:]}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto did not listen on {self.port} in {timeout}s")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop gracefully (persistence is written on exit); kill if it hangs."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def kill(self) -> None:
        """SIGKILL: no goodbye, no final persistence write."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)

    def restart(self) -> None:
        """Stop and start again on the same port with the same data."""
        self.stop()
        deadline = time.monotonic() + 5
        while _accepting(self.host, self.port) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.start()

    @property
    def running(self) -> bool:
        """True while the process lives."""
        return self._proc is not None and self._proc.poll() is None

    def log_text(self) -> str:
        """The broker's log so far."""
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")
        return ""


def start_broker(
    tmp_path: Path,
    *,
    auth: bool = False,
    users: Mapping[str, str] | None = None,
    kiosks: Sequence[tuple[str, str]] = (),
    coordinators: Sequence[str] = ("coordinator",),
    autosave_interval: int = 1,
) -> Broker:
    """Start a broker with the project's config in ``tmp_path/mosquitto``.

    With ``auth``: anonymous is off, ``users`` (name -> password) get password entries,
    ``kiosks`` ((kiosk id, store id); the kiosk id is the username) get their ACL from
    ``shared.topics.kiosk_acl`` and ``coordinators`` full access to the Tapfleet tree.
    """
    directory = tmp_path / "mosquitto"
    for attempt in range(5):
        port = free_port()
        broker_auth = None
        if auth:
            broker_auth = BrokerAuth(
                password_hashes=hashes_for(users or {}),
                kiosks=list(kiosks),
                coordinators=list(coordinators),
            )
        config = write_broker_files(
            directory,
            port=port,
            auth=broker_auth,
            log_dest=f"file {directory / 'mosquitto.log'}",
            autosave_interval=autosave_interval,
            run_as=getpass.getuser(),
        )
        broker = Broker(
            host="127.0.0.1",
            port=port,
            directory=directory,
            config=config,
            log=directory / "stdout.log",
            users=dict(users or {}),
        )
        try:
            broker.start()
            return broker
        except RuntimeError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")
