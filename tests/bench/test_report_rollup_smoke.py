"""``make bench-scale``'s report rollup benchmark still runs: at ``--quick`` size it seeds a
small ledger, builds the chain-wide report from the rollups and from the events (exiting
non-zero if they ever differ) and prints one well-formed line. No figure is asserted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import LINE
from bench.run_all import SCALE_BENCHES

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_report_rollup_prints_one_well_formed_line() -> None:
    assert "report_rollup" in SCALE_BENCHES
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.report_rollup", "--quick"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=280)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"bench.report_rollup --quick did not finish:\n{stderr[-3000:]}")
    assert proc.returncode == 0, stderr[-3000:]
    lines = [LINE.match(line) for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0] is not None, stdout
    assert lines[0].group("name") == "report_rollup"
    assert "identical" in stderr  # every round compared the two reports
