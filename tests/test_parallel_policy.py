"""The suite's policy holds when ``make test`` runs it on parallel workers (pytest-xdist).

A logged exception fails its test (``tests/conftest.py``) in every worker process, whether
the main thread or a background thread logged it; ``allow_logged_exceptions`` still lets a
test provoke one on purpose. Checked by running a small probe suite with the suite's own
conftest as a plugin, on two workers, in a folder of its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import logging
import threading

import pytest

log = logging.getLogger("probe")


def _log_one() -> None:
    try:
        raise ValueError("escaped a handler")
    except ValueError:
        log.exception("a handler let this escape")


@pytest.mark.parametrize("n", range(4))
def test_logs_an_exception(n):
    _log_one()


@pytest.mark.parametrize("n", range(4))
def test_a_thread_logs_an_exception(n):
    thread = threading.Thread(target=_log_one)
    thread.start()
    thread.join()


@pytest.mark.allow_logged_exceptions
@pytest.mark.parametrize("n", range(4))
def test_provokes_one_on_purpose(n):
    _log_one()


@pytest.mark.parametrize("n", range(4))
def test_logs_nothing(n):
    log.warning("only a warning")
"""


def test_a_logged_exception_fails_its_test_on_every_worker(tmp_path: Path) -> None:
    (tmp_path / "test_probe.py").write_text(PROBE, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts =\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-c", str(tmp_path / "pytest.ini")),
            *("--rootdir", str(tmp_path), "-p", "tests.conftest", "-p", "no:cacheprovider"),
            *("-n", "2", "--dist", "load", "-v", str(tmp_path)),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = run.stdout + run.stderr
    assert "created: 2/2 workers" in out, out[-3000:]
    # The policy fails a test at teardown: its line reads PASSED (the call), then ERROR.
    lines = re.findall(r"\[(gw\d)\] \[\s*\d+%\] (PASSED|FAILED|ERROR) \S+::(\w+\[\d\])", out)
    outcome: dict[str, str] = {}
    for _worker, verdict, test in lines:
        if outcome.get(test) != "failed":
            outcome[test] = "passed" if verdict == "PASSED" else "failed"
    by_name: dict[str, set[str]] = {}
    for test, verdict in outcome.items():
        by_name.setdefault(test.split("[")[0], set()).add(verdict)
    assert by_name == {
        "test_logs_an_exception": {"failed"},
        "test_a_thread_logs_an_exception": {"failed"},
        "test_provokes_one_on_purpose": {"passed"},
        "test_logs_nothing": {"passed"},
    }, out[-3000:]
    assert len(outcome) == 16, out[-3000:]
    assert {worker for worker, _v, _t in lines} == {"gw0", "gw1"}, out[-3000:]
    assert "logged exception(s); first from probe: a handler let this escape" in out
    assert run.returncode == 1
