"""A command under test as a subprocess, its stdout read line by line on a thread.

proc = LineProcess([*TAPFLEET, "kiosk", "--config", str(config)], folder)
ready = proc.wait_line("TAPFLEET_KIOSK_READY")
...
proc.kill()                                  # always (a fixture or finally)
"""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from pathlib import Path


class LineProcess:
    """A subprocess whose stdout lines are collected on a thread.

    stderr joins stdout unless ``separate_stderr`` (then read ``popen.stderr`` after exit).
    """

    def __init__(self, args: list[str], cwd: Path, *, separate_stderr: bool = False) -> None:
        self.popen = subprocess.Popen(
            args,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if separate_stderr else subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.output.append(line)
            self.lines.put(line.rstrip("\n"))

    def wait_line(self, prefix: str, timeout_s: float = 30.0) -> str:
        """The first stdout line starting with ``prefix``."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no '{prefix}' line within {timeout_s} s:\n{''.join(self.output)[-3000:]}"
                ) from None
            if line.startswith(prefix):
                return line

    def kill(self) -> None:
        """Make sure the process is gone."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)
