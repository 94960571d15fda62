"""What the person running the demo reads: one line per step, progress bars, traffic lines.

On a terminal a progress bar redraws in place; into a pipe or file (CI, tests) it prints a
line at the start and one when done, so logs stay readable. Writes are serialised: traffic
threads print while the main thread does.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

_BAR_WIDTH = 28


class Console:
    """Thread-safe, flushed output for the demo."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._lock = threading.RLock()
        self._started = time.monotonic()
        self._bar_open = False

    def _write(self, text: str) -> None:
        with self._lock:
            if self._bar_open:
                self.stream.write("\n")
                self._bar_open = False
            self.stream.write(text + "\n")
            self.stream.flush()

    def elapsed(self) -> str:
        """Seconds since the demo started, for line prefixes."""
        return f"{time.monotonic() - self._started:6.1f}s"

    def step(self, text: str) -> None:
        """A step of setting up or shutting down."""
        self._write(f"[{self.elapsed()}] {text}")

    def info(self, text: str = "") -> None:
        """Plain text (URLs, logins, help)."""
        self._write(text)

    def event(self, who: str, text: str) -> None:
        """A traffic line: which kiosk or actor, and what happened."""
        self._write(f"[{self.elapsed()}] {who:<12} {text}")

    def warn(self, text: str) -> None:
        """Something the user should know, on stderr as well when that is elsewhere."""
        self._write(f"[{self.elapsed()}] WARNING: {text}")

    def progress(self, label: str, total: int) -> Progress:
        """A progress bar for ``total`` units of work."""
        return Progress(self, label, total)


class Progress:
    """A progress bar; ``advance()`` per unit, ``done()`` at the end."""

    def __init__(self, console: Console, label: str, total: int) -> None:
        self.console = console
        self.label = label
        self.total = max(total, 1)
        self.count = 0
        if console.tty:
            self._draw()
        else:
            console.step(f"{label} ({total}) ...")

    def _draw(self) -> None:
        filled = _BAR_WIDTH * self.count // self.total
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        c = self.console
        with c._lock:
            c.stream.write(f"\r[{c.elapsed()}] {self.label:<34} [{bar}] {self.count}/{self.total}")
            c.stream.flush()
            c._bar_open = True

    def advance(self, units: int = 1) -> None:
        """Count ``units`` more done."""
        self.count = min(self.total, self.count + units)
        if self.console.tty:
            self._draw()

    def done(self, summary: str = "") -> None:
        """Finish the bar with an optional summary."""
        self.count = self.total
        if self.console.tty:
            self._draw()
            with self.console._lock:
                self.console.stream.write(f"  {summary}\n" if summary else "\n")
                self.console.stream.flush()
                self.console._bar_open = False
        else:
            self.console.step(f"{self.label}: done{' - ' + summary if summary else ''}")
