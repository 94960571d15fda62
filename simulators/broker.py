"""A private Mosquitto: the project's shipped config, a free port, a folder of its own.

For the tests, the benchmarks and anyone who wants a throwaway broker on this machine::

    broker = start_broker(folder)                    # anonymous
    broker = start_broker(folder, auth=True, users={"coordinator": "pw"}, kiosks=[...])
    broker = start_broker(folder, auth=True, users=..., tls=BrokerTls(...))  # + TLS listener
    broker.host, broker.port
    broker.restart()                                 # same port, persistence kept
    broker.stop()                                    # always; idempotent

The config is rendered from ``deploy/mosquitto/mosquitto.conf.in`` by
``coordinator.mqtt.broker_config`` (the same code the CLI uses), so every user exercises the
shipped tuning. Readiness is a real condition: the port accepts a TCP connection.
"""

from __future__ import annotations

import contextlib
import getpass
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from coordinator.mqtt.broker_config import (
    BrokerAuth,
    BrokerBridge,
    BrokerTls,
    hashes_for,
    write_broker_files,
)
from simulators.ports import accepting, free_tcp_port
from simulators.waiting import poll_until

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


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
        proc = self._proc

        def exited() -> None:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited with {proc.returncode}:\n{self.log_text()[-2000:]}"
                )

        if not poll_until(lambda: accepting(self.host, self.port), timeout, check=exited):
            self.stop()
            raise RuntimeError(f"mosquitto did not listen on {self.port} in {timeout}s")

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
        poll_until(lambda: not accepting(self.host, self.port), 5)
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
    folder: Path,
    *,
    auth: bool = False,
    users: Mapping[str, str] | None = None,
    kiosks: Sequence[tuple[str, str]] = (),
    coordinators: Sequence[str] = ("coordinator",),
    autosave_interval: int = 1,
    tls: BrokerTls | None = None,
    directory_name: str = "mosquitto",
    bridges: Sequence[BrokerBridge] = (),
    max_queued_messages: int | None = None,
) -> Broker:
    """Start a broker with the project's config in ``folder/<directory_name>``.

    With ``auth``: anonymous is off, ``users`` (name -> password) get password entries,
    ``kiosks`` ((kiosk id, store id); the kiosk id is the username) get their ACL from
    ``shared.topics.kiosk_acl`` and ``coordinators`` full access to the Tapfleet tree.
    ``tls`` adds a TLS listener, ``bridges`` links this broker to a central one (a store
    broker), ``max_queued_messages`` overrides the shipped queue bound (tests of what a
    bridge does past it). A port another process took between choosing it and listening on
    it is retried with a fresh one.
    """
    directory = folder / directory_name
    for attempt in range(5):
        port = free_tcp_port()
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
            tls=tls,
            bridges=bridges,
        )
        if max_queued_messages is not None:
            text = config.read_text(encoding="utf-8")
            shipped = re.search(r"^max_queued_messages \d+$", text, re.MULTILINE)
            if shipped is None:
                raise RuntimeError("the shipped config no longer sets max_queued_messages")
            text = text.replace(shipped.group(0), f"max_queued_messages {max_queued_messages}")
            config.write_text(text, encoding="utf-8")
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
