"""What every benchmark shares: the one-line result, percentiles, work folders, processes.

A result line reads::

    <name>: tapfleet <figures>; baseline <figures>; ratio <x>; target <what>; PASS|MISS

and is the only thing a benchmark prints on stdout; progress goes to stderr. Absolute times
on this (noisy, 2-core) machine are not stable, so every benchmark measures its baseline in
the same run and the ratio is what the target is judged by where the issue says so.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK_ROOT = ROOT / "var" / "bench"
"""Scratch space on the repository's disk (gitignored): SQLite files must sit on a real disk
for fsync to cost what it costs, which a tmpfs /tmp would hide."""

LINE = re.compile(
    r"^(?P<name>[a-z0-9_]+): tapfleet (?P<tapfleet>[^;]+); baseline (?P<baseline>[^;]+); "
    r"ratio (?P<ratio>[0-9]+\.[0-9]+|n/a); target (?P<target>[^;]+); (?P<verdict>PASS|MISS)$"
)
"""What a well-formed result line looks like (the smoke test and run_all check it)."""


@dataclass(frozen=True)
class Result:
    """One benchmark's figures, printed as one line."""

    name: str
    tapfleet: str
    baseline: str
    ratio: float | None
    target: str
    passed: bool

    def line(self) -> str:
        """The result as its single line."""
        ratio = "n/a"
        if self.ratio is not None and math.isfinite(self.ratio):
            digits = 4 if self.ratio < 0.1 else 3 if self.ratio < 10 else 1
            ratio = f"{self.ratio:.{digits}f}"
        verdict = "PASS" if self.passed else "MISS"
        fields = [_one_field(f) for f in (self.tapfleet, self.baseline, self.target)]
        return (
            f"{self.name}: tapfleet {fields[0]}; baseline {fields[1]}; "
            f"ratio {ratio}; target {fields[2]}; {verdict}"
        )


def _one_field(text: str) -> str:
    """Figures text without the line's own separators (``;`` and newlines)."""
    return " ".join(text.replace(";", ",").split())


def emit(result: Result) -> None:
    """Print the result line on stdout (the only stdout output of a benchmark)."""
    print(result.line(), flush=True)


def progress(name: str, message: str) -> None:
    """A progress note on stderr."""
    print(f"[{name} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(
    description: str, argv: Sequence[str] | None = None, *, cprofile: bool = False
) -> argparse.Namespace:
    """The common command line: ``--quick`` (small sizes, smoke run) and ``--keep``.

    With ``cprofile``, also ``--cprofile``: profile the measured calls in-process and print
    the top functions to stderr (for benchmarks whose work runs in the benchmark process).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke run, figures meaningless"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work folder (databases, logs) afterwards"
    )
    if cprofile:
        parser.add_argument(
            "--cprofile", action="store_true", help="cProfile the measured calls (stderr)"
        )
    return parser.parse_args(argv)


@contextlib.contextmanager
def work_dir(name: str, keep: bool = False) -> Iterator[Path]:
    """A fresh folder under ``var/bench/`` for one run; removed afterwards unless ``keep``."""
    WORK_ROOT.mkdir(parents=True, exist_ok=True)
    path = WORK_ROOT / f"{name}-{os.getpid()}-{int(time.time())}"
    path.mkdir()
    try:
        yield path
    finally:
        if keep:
            print(f"[{name}] work folder kept: {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ms(seconds: float) -> str:
    """Seconds as milliseconds text."""
    return f"{seconds * 1000:.1f} ms"


def rate(count: int, seconds: float) -> float:
    """Items per second (inf-safe)."""
    return count / seconds if seconds > 0 else float("inf")


def machine() -> dict[str, str]:
    """Cores, CPU model and Python version of this machine."""
    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
    }


def rss_bytes(pid: int) -> int:
    """Resident memory of a process now."""
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


# --- processes -----------------------------------------------------------------------------


class Child:
    """A subprocess started by a benchmark, with its output in a log file; always stopped."""

    def __init__(self, args: Sequence[str], log: Path, *, stdout_pipe: bool = False) -> None:
        self.args = list(args)
        self.log = log
        self._log_handle = log.open("ab")
        self.proc = subprocess.Popen(
            self.args,
            cwd=ROOT,
            stdout=subprocess.PIPE if stdout_pipe else self._log_handle,
            stderr=self._log_handle,
            text=stdout_pipe,
        )

    @property
    def pid(self) -> int:
        """The process id."""
        return self.proc.pid

    def readline(self, timeout: float) -> str:
        """The next stdout line (``stdout_pipe`` children); raises on timeout or exit."""
        import select

        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no output from {self.args[:4]} in {timeout} s:\n{self.tail()}")
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 0.5))
            if ready:
                line = self.proc.stdout.readline()
                if line:
                    return line.rstrip("\n")
                raise RuntimeError(f"{self.args[:4]} exited:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        """The end of the child's log."""
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time (idempotent)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log_handle.close()


def python_module(module: str, *args: str) -> list[str]:
    """Command line running ``module`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


# --- services -----------------------------------------------------------------------------

BENCH_COORDINATOR = {"mqtt_client_id": "coordinator-bench"}
"""Settings of the benchmarks' ``simulators.services.CoordinatorProcess`` (dev mode, quiet
log and no housekeeping are its defaults)."""


@contextlib.contextmanager
def running_broker(folder: Path) -> Iterator[Any]:
    """A private Mosquitto with the project's shipped config (``simulators.broker``)."""
    from simulators.broker import start_broker

    broker = start_broker(folder)
    try:
        yield broker
    finally:
        broker.stop()
