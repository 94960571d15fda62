"""Tapfleet's own services as child processes, for the demo, the benchmarks and the tests.

    coordinator = CoordinatorProcess(folder, mqtt_port=broker.port)
    coordinator.start()                    # waits until /healthz says database and broker ok
    coordinator.url, coordinator.token()
    coordinator.kill()                     # SIGKILL to its process group, mid-whatever
    coordinator.start()                    # again, on the same files and port
    coordinator.stop()                     # always; idempotent

Each child runs in its own session (process group), so a kill reaches everything it started,
and gets :func:`child_env`: this environment without Tapfleet overrides that would beat the
settings its owner wrote.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from simulators.ports import LOCALHOST, free_tcp_port
from simulators.waiting import wait_until

REPO = Path(__file__).resolve().parent.parent
TAPFLEET = [sys.executable, "-m", "shared.cli"]
"""``tapfleet`` as run by this interpreter (works without the venv's bin on PATH)."""


def child_env() -> dict[str, str]:
    """The environment for a child service: ours without Tapfleet overrides, unbuffered."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAPFLEET_KIOSK_", "TAPFLEET_COORD_"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


class CoordinatorProcess:
    """``tapfleet coordinator`` as a child process on a broker, a database (SQLite in
    ``folder`` unless ``db_url``) and a free HTTP port; its config and log in ``folder``.

    ``program`` replaces ``tapfleet coordinator`` with a twin taking the same arguments;
    with ``interactive`` its stdin is a pipe and its stdout lines arrive in :attr:`lines`.
    ``env`` adds variables to :func:`child_env` (a setting the owner wants from there).
    """

    def __init__(
        self,
        folder: Path,
        *,
        mqtt_port: int,
        mqtt_host: str = LOCALHOST,
        db_url: str | None = None,
        settings: Mapping[str, Any] | None = None,
        program: Sequence[str] | None = None,
        interactive: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.mqtt = f"{mqtt_host}:{mqtt_port}"
        self.http_port = free_tcp_port()
        self.url = f"http://{LOCALHOST}:{self.http_port}"
        self.db_url = db_url or f"sqlite:///{folder / 'ledger.db'}"
        values: dict[str, Any] = {
            "dev_mode": True,
            "mqtt_client_id": f"coordinator-{uuid.uuid4().hex[:8]}",
            "housekeeping_interval_s": 3600,
            "log_level": "WARNING",
            **(settings or {}),
        }
        self.config = folder / "coordinator.toml"
        self.config.write_text(tomli_w.dumps(values), encoding="utf-8")
        self.log_path = folder / "coordinator.log"
        self.program = list(program or [*TAPFLEET, "coordinator"])
        self.interactive = interactive
        self.env = {**child_env(), **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.starts = 0
        self.lines: queue.Queue[str] = queue.Queue()
        self._token: str | None = None

    @property
    def running(self) -> bool:
        """True while the process lives."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        """The process id (also its process group's)."""
        assert self.proc is not None, "not started"
        return self.proc.pid

    def start(self, timeout_s: float = 60, *, extra_args: Sequence[str] = ()) -> None:
        """Start the process and wait until ``/healthz`` says database and broker are ok."""
        if self.running:
            raise RuntimeError("the coordinator is already running")
        command = [
            *self.program,
            *("--config", str(self.config), "--db", self.db_url),
            *("--mqtt", self.mqtt, "--http", f"{LOCALHOST}:{self.http_port}"),
            *extra_args,
        ]
        pipe = subprocess.PIPE if self.interactive else subprocess.DEVNULL
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"--- start {self.starts + 1}: {' '.join(command[1:])} ---\n")
            log.flush()
            self.proc = subprocess.Popen(
                command,
                cwd=REPO,
                env=self.env,
                stdin=pipe,
                stdout=subprocess.PIPE if self.interactive else log,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        self.starts += 1
        if self.interactive:
            self.lines = queue.Queue()
            threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        wait_until(
            self.healthy,
            timeout_s,
            f"the coordinator at {self.url}/healthz",
            interval_s=0.1,
            check=self._alive,
        )

    def _alive(self) -> None:
        if not self.running:
            raise RuntimeError(f"the coordinator exited:\n{self.log_tail()}")

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.put(line)

    def healthy(self) -> bool:
        """True when ``/healthz`` answers 200 with the broker connected."""
        try:
            answer = httpx.get(f"{self.url}/healthz", timeout=2)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200 and answer.json().get("mqtt") is True

    def token(self, username: str = "admin", password: str = "admin") -> str:
        """A bearer token (of the dev admin unless told); fetched once."""
        if self._token is None:
            answer = httpx.post(
                f"{self.url}/api/v1/auth/token",
                data={"username": username, "password": password},
                timeout=30,
            )
            answer.raise_for_status()
            self._token = str(answer.json()["access_token"])
        return self._token

    def kill(self) -> None:
        """SIGKILL to the whole process group, mid-whatever it was doing."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        self._token = None

    def stop(self, timeout_s: float = 20) -> None:
        """SIGTERM (it finishes the current work and closes the database); kill if it hangs."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        self._token = None

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the process's log."""
        with contextlib.suppress(OSError):
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        return ""
