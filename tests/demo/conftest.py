"""Running ``tapfleet demo`` as a subprocess and watching everything it starts.

``DemoRun`` records every descendant of the demo process (pid and start time, via psutil)
while it runs, reads its ``demo-state.json``, and at teardown kills whatever a failed test
may have left (each recorded process group), so the suite stays hermetic.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from simulators.waiting import poll_until


class DemoRun:
    """One ``tapfleet demo`` subprocess."""

    def __init__(self, workdir: Path, args: list[str]) -> None:
        self.workdir = workdir
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "demo", "--workdir", str(workdir), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,  # the test's own Ctrl-C stays with pytest
        )
        self.lines: list[str] = []
        self.seen: dict[int, float] = {}
        """pid -> create time of every descendant seen while the demo ran."""
        self.direct: set[int] = set()
        """Pids of the demo's direct children (the services it started)."""
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        """Everything the demo printed so far."""
        with self._lock:
            return "\n".join(self.lines)

    def record_children(self) -> None:
        """Remember the demo's current descendants (and which were its direct children)."""
        with contextlib.suppress(psutil.Error):
            demo = psutil.Process(self.popen.pid)
            direct = {c.pid for c in demo.children()}
            for child in demo.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    self.seen.setdefault(child.pid, child.create_time())
            self.direct |= direct

    def state(self) -> dict[str, Any]:
        """The demo's state file (empty until written)."""
        try:
            return dict(json.loads((self.workdir / "demo-state.json").read_text()))
        except (OSError, ValueError):
            return {}

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Poll ``predicate`` (state in other processes), recording children meanwhile."""
        held = False

        def done() -> bool:
            nonlocal held
            held = predicate()
            return held or self.popen.poll() is not None

        if not poll_until(done, timeout_s, interval_s=0.2, check=self.record_children):
            raise AssertionError(f"timed out waiting for {what}:\n{self.output[-4000:]}")
        if not held:
            raise AssertionError(
                f"the demo exited ({self.popen.returncode}) while waiting for {what}:\n"
                f"{self.output[-4000:]}"
            )

    def wait_exit(self, timeout_s: float) -> int:
        """The exit status, recording children until the demo is gone."""
        if not poll_until(
            lambda: self.popen.poll() is not None,
            timeout_s,
            interval_s=0.2,
            check=self.record_children,
        ):
            raise AssertionError(f"the demo did not exit in {timeout_s} s:\n{self.output[-4000:]}")
        self._reader.join(5)
        return int(self.popen.returncode)

    def survivors(self) -> list[psutil.Process]:
        """Recorded descendants that still run (same pid and start time)."""
        alive = []
        for pid, created in self.seen.items():
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
        return alive

    def kill_everything(self) -> None:
        """Teardown: SIGKILL the demo's group and every recorded descendant's group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        for proc in self.survivors():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(psutil.Error):
                proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)


@pytest.fixture
def demo_runs() -> Iterator[list[DemoRun]]:
    """Demo processes started by a test; killed (with all they started) at teardown."""
    runs: list[DemoRun] = []
    yield runs
    for run in runs:
        run.kill_everything()
