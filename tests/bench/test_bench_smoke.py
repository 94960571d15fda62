"""The benchmarks still run: every script at ``--quick`` size prints one well-formed line.

Smoke only: no figure is asserted (speed belongs to ``make bench``, not to tests). The run
goes through ``bench/run_all.py`` so the runner and its results file are covered too. The
runner gets its own process group, killed on timeout, so no broker, coordinator or kiosk
process outlives a failing run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import LINE
from bench.run_all import BENCHES, line_names

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_benchmark_prints_one_well_formed_line(tmp_path: Path) -> None:
    out = tmp_path / "results.txt"
    proc = subprocess.Popen(
        [sys.executable, "bench/run_all.py", "--quick", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=840)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"bench/run_all.py --quick did not finish:\n{stderr[-3000:]}")
    assert proc.returncode == 0, stderr[-3000:]

    written = out.read_text(encoding="utf-8").splitlines()
    header = [line for line in written if line.startswith("#")]
    results = [line for line in written if not line.startswith("#")]
    assert [h.split(":", 1)[0] for h in header] == ["# date", "# machine", "# command"]
    matches = [LINE.match(line) for line in results]
    assert all(matches), [r for r, m in zip(results, matches, strict=True) if not m]
    assert [m.group("name") for m in matches if m] == [n for b in BENCHES for n in line_names(b)]
    for m in matches:
        assert m is not None
        assert m.group("tapfleet").strip() and m.group("baseline").strip()
    assert [line for line in stdout.splitlines() if LINE.match(line)] == results
