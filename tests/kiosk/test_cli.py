"""``tapfleet kiosk --config FILE`` as a subprocess: how a demo or systemd starts a kiosk."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import tomli_w

from device.kiosk_cli import READY_MARKER
from device.readers.nfc_reader import udp_port_problem
from device.staff_pin import verify_pin
from simulators.ports import free_tcp_port
from simulators.services import TAPFLEET
from tests.kiosk.conftest import STAFF_PIN_HASH
from tests.kiosk.seed import seed_ledger
from tests.support.processes import LineProcess


@pytest.fixture
def procs() -> Iterator[list[LineProcess]]:
    """Processes started by a test; killed at teardown even if the test failed."""
    started: list[LineProcess] = []
    yield started
    for proc in started:
        proc.kill()


def config(tmp_path: Path, nfc_path: str = "", **link: str) -> Path:
    settings = {
        "kiosk_id": "k-cli",
        "store_id": "s1",
        "ledger_path": "ledger.sqlite",
        "nfc": {"path": nfc_path},
        "ui": {"port": 0},
        "link": {"port": free_tcp_port(), "reconnect_max_s": 1, **link},
        "staff": {"pin_hash": STAFF_PIN_HASH},
    }
    path = tmp_path / "kiosk.toml"
    path.write_text(tomli_w.dumps(settings))
    return path


def test_kiosk_runs_as_a_subprocess_and_stops_on_sigterm(
    tmp_path: Path, procs: list[LineProcess]
) -> None:
    cfg = config(tmp_path)
    seed_ledger(tmp_path / "ledger.sqlite", kiosk_id="k-cli", store_id="s1")
    proc = LineProcess([*TAPFLEET, "kiosk", "--config", str(cfg)], tmp_path, separate_stderr=True)
    procs.append(proc)
    ready = proc.wait_line(READY_MARKER)
    fields = dict(part.split("=", 1) for part in ready.split()[1:])
    assert fields["kiosk_id"] == "k-cli" and fields["store_id"] == "s1"
    health = httpx.get(fields["ui"] + "/healthz", timeout=5).json()
    assert health == {"ok": True, "kiosk_id": "k-cli", "store_id": "s1"}
    status = httpx.get(fields["ui"] + "/api/status", timeout=5).json()
    assert status["ready"] is True and status["nfc"] is None

    proc.popen.send_signal(signal.SIGTERM)
    assert proc.popen.wait(20) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(fields["ui"] + "/healthz", timeout=2)


def test_bad_config_exits_with_a_clear_message(tmp_path: Path, procs: list[LineProcess]) -> None:
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text('kiosk_id = "k1"\nstore_id = "s1"\nledger_path = "l.sqlite"\n[ui]\nprot = 1\n')
    proc = LineProcess([*TAPFLEET, "kiosk", "--config", str(cfg)], tmp_path, separate_stderr=True)
    procs.append(proc)
    assert proc.popen.wait(30) == 2
    assert proc.popen.stderr is not None
    err = proc.popen.stderr.read()
    assert "ui.prot" in err and str(cfg) in err
    assert not (tmp_path / "l.sqlite").exists()  # nothing was created


def test_hash_pin(tmp_path: Path) -> None:
    done = subprocess.run(
        [*TAPFLEET, "kiosk", "--hash-pin"],
        input="975310\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    stored = done.stdout.strip()
    assert stored.startswith("$scrypt$ln=14,r=8,p=5$")  # today's format, production cost
    assert verify_pin("975310", stored) and not verify_pin("975311", stored)


def _start_fails(tmp_path: Path, cfg: Path) -> str:
    """Run ``tapfleet kiosk`` expecting a start-up failure; its one-line report."""
    seed_ledger(tmp_path / "ledger.sqlite", kiosk_id="k-cli", store_id="s1")
    done = subprocess.run(
        [*TAPFLEET, "kiosk", "--config", str(cfg)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert READY_MARKER not in done.stdout
    reports = [line for line in done.stderr.splitlines() if line.startswith("tapfleet kiosk: ")]
    assert len(reports) == 1, done.stderr
    return reports[0]


def test_a_link_error_at_start_is_reported_not_a_traceback(tmp_path: Path) -> None:
    """LinkError is a DeviceError: the CLI reports it in one line and exits 1."""
    cfg = config(tmp_path, ca_file=str(tmp_path / "missing-ca.pem"))
    report = _start_fails(tmp_path, cfg)
    assert "cannot load the TLS files" in report and "missing-ca.pem" in report


def test_a_reader_error_at_start_is_reported_not_a_traceback(tmp_path: Path) -> None:
    """ReaderError is a DeviceError: an NFC path nfcpy can never open stops the start."""
    path = "udp:127.0.0.1:60179"
    if udp_port_problem(path) is None:
        pytest.skip("/etc/services names no service on port 60179 on this machine")
    report = _start_fails(tmp_path, config(tmp_path, nfc_path=path))
    assert f"cannot open NFC reader on '{path}'" in report and "nfc.path" in report
