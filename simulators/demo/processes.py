"""Every child process of the demo, and the guarantee that none outlives it.

Each child runs in its own session (so its own process group): a Ctrl-C in the terminal
reaches only the demo, which then stops the children in order (kiosks, coordinator,
broker) with SIGTERM to the whole group, and SIGKILL after a grace period or at once when
the user presses Ctrl-C again. Where ``setpriv`` exists (util-linux, on every Debian) a
child also gets SIGTERM from the kernel if the demo itself dies without cleaning up.

The current children are written to a pid file (JSON) so that a test or an operator can
check afterwards that nothing is left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from simulators.demo.errors import ChildExited

SETPRIV = shutil.which("setpriv")


@dataclass
class Child:
    """One started process, its log and its place in the stop order."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    tier: int
    """Children with a higher tier are stopped first (kiosks before the coordinator...)."""
    stopping: bool = False
    killed: bool = False
    """True when SIGKILL was needed."""

    @property
    def pid(self) -> int:
        """The child's pid (also its process group id)."""
        return self.popen.pid

    @property
    def running(self) -> bool:
        """True while the process has not exited."""
        return self.popen.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the child's log, for error messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class StopReport:
    """How the children ended."""

    exit_codes: dict[str, int | None] = field(default_factory=dict)
    killed: list[str] = field(default_factory=list)


class Supervisor:
    """Starts children in their own process groups and stops every one of them."""

    def __init__(self, pid_file: Path, *, env: Mapping[str, str] | None = None) -> None:
        self.pid_file = pid_file
        self._env = dict(env if env is not None else os.environ)
        self._children: list[Child] = []
        self._lock = threading.Lock()

    @property
    def children(self) -> list[Child]:
        """Children in start order."""
        with self._lock:
            return list(self._children)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        tier: int,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Child:
        """Start ``argv`` in a new session, stdout and stderr appended to ``log_path``.

        Call from the main thread: the parent-death signal is tied to the thread that forks.
        """
        log_path.parent.mkdir(parents=True, exist_ok=True)
        command = list(argv)
        if SETPRIV is not None:
            command = [SETPRIV, "--pdeathsig", "TERM", "--", *command]
        child_env = dict(self._env)
        child_env.update(env or {})
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=child_env,
                start_new_session=True,
            )
        child = Child(name=name, popen=popen, log_path=log_path, tier=tier)
        with self._lock:
            self._children.append(child)
        self._write_pid_file()
        return child

    def check(self) -> None:
        """Raise ChildExited when a child that was not asked to stop has exited."""
        for child in self.children:
            if not child.stopping and not child.running:
                raise ChildExited(
                    f"{child.name} exited unexpectedly with status {child.popen.returncode}; "
                    f"its log is {child.log_path}:\n{child.log_tail()}"
                )

    def signal_child(self, child: Child, signum: int) -> None:
        """Send ``signum`` to the child's whole process group (if it still exists)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signum)

    def stop_all(
        self, *, grace_s: float = 10.0, hurry: threading.Event | None = None
    ) -> StopReport:
        """Stop every child: by tier, SIGTERM to each group, SIGKILL after ``grace_s``.

        When ``hurry`` is set (a second Ctrl-C) whatever still runs is killed at once.
        Always returns with no child running.
        """
        report = StopReport()
        children = self.children
        for tier in sorted({c.tier for c in children}, reverse=True):
            group = [c for c in children if c.tier == tier]
            for child in group:
                child.stopping = True
                if child.running:
                    self.signal_child(child, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            for child in group:
                self._wait_or_kill(child, deadline, hurry)
        for child in children:
            # The group may still hold a grandchild even though the leader has gone.
            self.signal_child(child, signal.SIGKILL)
            report.exit_codes[child.name] = child.popen.returncode
            if child.killed:
                report.killed.append(child.name)
        self._write_pid_file()
        return report

    def _wait_or_kill(self, child: Child, deadline: float, hurry: threading.Event | None) -> None:
        while child.running:
            if (hurry is not None and hurry.is_set()) or time.monotonic() > deadline:
                child.killed = True
                self.signal_child(child, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.popen.wait(10)
                return
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(0.1)

    def _write_pid_file(self) -> None:
        data = {
            "demo_pid": os.getpid(),
            "children": {
                c.name: {"pid": c.pid, "running": c.popen.returncode is None} for c in self.children
            },
        }
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.replace(self.pid_file)
