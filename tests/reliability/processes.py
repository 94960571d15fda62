"""Test-side handles on the processes under test: kiosk hosts and the coordinator.

Both can be killed with SIGKILL at any instant and started again on the same files. Every
process runs in its own session and is killed by the fixtures that own it, even when a test
fails. Waits are condition waits (a reply line, an HTTP answer), never fixed sleeps.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from coordinator import schema
from coordinator.db import Database
from coordinator.ledger.jsonrows import event_from_row
from shared.events import Event
from simulators.broker import Broker
from simulators.services import CoordinatorProcess, child_env
from tests.support.hashing import coordinator_cost_env

REPO = Path(__file__).resolve().parents[2]


class LoggedProcess:
    """A process under test writing to ``log_path``: what its log says."""

    log_path: Path
    tail_chars = 3000

    def tracebacks(self) -> list[str]:
        """Logged exceptions (a handler let one escape): there must be none."""
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
            return [part[:1500] for part in text.split("Traceback")[1:]]
        return []

    def log_tail(self, chars: int | None = None) -> str:
        """The end of the process's log."""
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
            return text[-(chars or self.tail_chars) :]
        return ""


class HostDied(RuntimeError):
    """The kiosk host is gone (killed on purpose, or crashed: see its log)."""


class KioskHost(LoggedProcess):
    """A ``tests.reliability.kiosk_host`` process and everything it ever answered.

    ``acknowledged`` collects every tap answer across restarts: the taps members saw.
    """

    def __init__(self, folder: Path, name: str, config: dict[str, Any]) -> None:
        self.folder = folder
        self.name = name
        self.config = config
        folder.mkdir(parents=True, exist_ok=True)
        self.config_path = folder / f"{name}.json"
        self.log_path = folder / f"{name}.log"
        self.proc: subprocess.Popen[str] | None = None
        self.acknowledged: list[dict[str, Any]] = []
        self.starts = 0
        self._ids = itertools.count(1)
        self._replies: dict[Any, dict[str, Any]] = {}
        self._cv = threading.Condition()
        self._write_lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self.ready: dict[str, Any] = {}

    @property
    def kiosk_ids(self) -> list[str]:
        """The kiosks this host runs."""
        return [k["kiosk_id"] for k in self.config["kiosks"]]

    @property
    def running(self) -> bool:
        """True while the process lives."""
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout_s: float = 60) -> dict[str, Any]:
        """Start the process and wait for its ready line."""
        if self.running:
            raise RuntimeError(f"kiosk host {self.name} is already running")
        self.config_path.write_text(json.dumps(self.config), encoding="utf-8")
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"--- start {self.starts + 1} ---\n")
            log.flush()
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.reliability.kiosk_host", str(self.config_path)],
                cwd=REPO,
                env=child_env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        self.proc = proc
        self.starts += 1
        with self._cv:
            self._replies.clear()
        self._reader = threading.Thread(
            target=self._read, args=(proc,), name=f"host-{self.name}", daemon=True
        )
        self._reader.start()
        self.ready = self.reply("ready", timeout_s)
        return self.ready

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if not line.endswith("\n"):
                break  # cut off by a kill: never printed in full, never shown to anyone
            data = json.loads(line)
            key = "ready" if data.get("ready") else data.get("id")
            with self._cv:
                if "events" in data:
                    self.acknowledged.append(data)
                self._replies[key] = data
                self._cv.notify_all()
        with self._cv:
            self._cv.notify_all()

    def send(self, op: str, **fields: Any) -> int | None:
        """Write one command; its id, or None when the process is not running."""
        command_id = next(self._ids)
        line = json.dumps({"op": op, "id": command_id, **fields}) + "\n"
        with self._write_lock:
            proc = self.proc
            if proc is None or proc.stdin is None or proc.poll() is not None:
                return None
            try:
                proc.stdin.write(line)
                proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                return None
        return command_id

    def reply(self, command_id: Any, timeout_s: float = 30) -> dict[str, Any]:
        """The answer to ``command_id``; HostDied if the process ends first."""
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while command_id not in self._replies:
                if not self.running and (self._reader is None or not self._reader.is_alive()):
                    raise HostDied(f"kiosk host {self.name} exited; log:\n{self.log_tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"kiosk host {self.name}: no answer to {command_id} in {timeout_s} s;"
                        f" log:\n{self.log_tail()}"
                    )
                self._cv.wait(min(left, 0.2))
            answer = self._replies.pop(command_id)
        if "error" in answer:
            raise AssertionError(f"kiosk host {self.name}: {answer['error']}")
        return answer

    def call(self, op: str, timeout_s: float = 30, **fields: Any) -> dict[str, Any]:
        """Send a command and wait for its answer."""
        command_id = self.send(op, **fields)
        if command_id is None:
            raise HostDied(f"kiosk host {self.name} is not running")
        return self.reply(command_id, timeout_s)

    def state(self) -> dict[str, Any]:
        """Link, outbox and version facts of every kiosk, plus RSS."""
        return self.call("state")

    def kill(self) -> None:
        """SIGKILL: power loss. Whatever was printed before stays acknowledged."""
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        if self._reader is not None:
            self._reader.join(10)
        self._close(proc)

    def stop(self, timeout_s: float = 20) -> None:
        """Stop cleanly (links say offline, ledgers close); kill if it hangs."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            self.send("stop")
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        if self._reader is not None:
            self._reader.join(10)
        self._close(proc)

    def _close(self, proc: subprocess.Popen[str]) -> None:
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError, BrokenPipeError, ValueError):
                    stream.close()


class CoordinatorProc(LoggedProcess, CoordinatorProcess):
    """The coordinator as a real process (``simulators.services.CoordinatorProcess``):
    ``tapfleet coordinator`` itself, or with ``simulated_time`` its twin
    ``tests.reliability.coordinator_host`` whose clock the test moves with :meth:`advance`
    (it survives a SIGKILL: a restart starts where the world's time is).
    """

    tail_chars = 4000

    def __init__(
        self, folder: Path, broker: Broker, *, simulated_time: bool = False, **settings: Any
    ) -> None:
        values: dict[str, Any] = {
            "mqtt_client_id": "coordinator-reliability",
            "member_push_interval_ms": 100,
            **settings,
        }
        super().__init__(
            folder,
            mqtt_host=broker.host,
            mqtt_port=broker.port,
            settings=values,
            program=(
                [sys.executable, "-m", "tests.reliability.coordinator_host"]
                if simulated_time
                else None
            ),
            interactive=simulated_time,
            env=coordinator_cost_env(),
        )
        self.simulated_time = simulated_time
        self.broker = broker
        self.offset_ms = 0
        self._api: httpx.Client | None = None
        self._db: Database | None = None

    def start(self, timeout_s: float = 60, *, extra_args: Sequence[str] = ()) -> None:
        """Start (at the world's simulated time) and wait until /healthz says database and
        broker are fine."""
        if self.simulated_time:
            extra_args = [*extra_args, "--advance-ms", str(self.offset_ms)]
        super().start(timeout_s, extra_args=extra_args)

    def advance(self, ms: int) -> None:
        """Let ``ms`` of simulated time pass for the coordinator."""
        assert self.simulated_time, "mark the test @pytest.mark.simulated_time to move time"
        self.offset_ms += ms
        if not self.running:
            return  # it starts at the new offset
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(f"advance {ms}\n")
        self.proc.stdin.flush()
        line = self.lines.get(timeout=10)
        assert line.split() == ["advanced", str(self.offset_ms)], line

    def kill(self) -> None:
        """SIGKILL, mid-whatever it was doing."""
        super().kill()
        self._drop_api()

    def stop(self, timeout_s: float = 20) -> None:
        """SIGTERM (finishes the current group), kill if it hangs."""
        super().stop(timeout_s)
        self._drop_api()

    def _drop_api(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    # -- HTTP API -----------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """One API call as the dev admin (logging in again when the token expired)."""
        for attempt in range(2):
            if self._api is None:
                client = httpx.Client(base_url=self.url, timeout=30)
                answer = client.post(
                    "/api/v1/auth/token", data={"username": "admin", "password": "admin"}
                )
                assert answer.status_code == 200, answer.text
                client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
                self._api = client
            response = self._api.request(method, path, json=body, params=params or None)
            if response.status_code == 401 and attempt == 0:
                self._drop_api()
                continue
            assert response.status_code < 400, f"{method} {path}: {response.text}"
            return response.json() if response.content else None
        raise AssertionError("unreachable")

    # -- database (read-only looks; the process owns the writes) ---------------------------

    def read(self, fn: Callable[[sa.Connection], Any]) -> Any:
        """Run ``fn`` on a read connection to the coordinator's database."""
        if self._db is None:
            self._db = Database(self.db_url)
        with self._db.read() as conn:
            return fn(conn)

    def close(self) -> None:
        """Stop the process and let go of the database."""
        self.stop()
        if self._db is not None:
            self._db.dispose()
            self._db = None

    def applied_seqs(self) -> dict[str, int]:
        """kiosk id -> applied seq."""
        k = schema.kiosks
        return self.read(lambda c: dict(c.execute(sa.select(k.c.kiosk_id, k.c.applied_seq)).all()))

    def events(self, source: str) -> list[Event]:
        """The events of one source (a kiosk, or ``hq``), in seq order."""
        ev = schema.events
        rows = self.read(
            lambda c: (
                c.execute(sa.select(ev.c.body).where(ev.c.source == source).order_by(ev.c.seq))
                .scalars()
                .all()
            )
        )
        return [event_from_row(body) for body in rows]

    def members_settled(self) -> int | None:
        """The members version when no member change waits for its push, else None."""

        def read(conn: sa.Connection) -> int | None:
            ms = schema.member_states
            dirty = conn.execute(
                sa.select(sa.func.count()).select_from(ms).where(ms.c.dirty.is_(True))
            ).scalar_one()
            counters = schema.counters
            version = conn.execute(
                sa.select(counters.c.value).where(counters.c.name == "members_version")
            ).scalar_one()
            return None if dirty else int(version)

        return self.read(read)
