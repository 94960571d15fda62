"""``tapfleet report``: the reports service from the command line (a real subprocess)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from coordinator.app import create_app
from coordinator.settings import CoordinatorSettings


def _tapfleet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_report_prints_the_tables_and_one_table_as_csv(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'coordinator.db'}"
    app = create_app(CoordinatorSettings(dev_mode=True, database_url=url, mqtt_enabled=False))
    with TestClient(app) as client:
        token = client.post("/api/v1/auth/token", data={"username": "admin", "password": "admin"})
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        client.post("/api/v1/stores", json={"store_id": "s1", "name": "Downtown"}, headers=auth)
        member = {"member_id": "m1", "display_name": "A*", "home_store_id": "s1"}
        client.post("/api/v1/members", json=member, headers=auth)
        granted = client.post(
            "/api/v1/members/m1/points", json={"points": 120, "reason": "opening"}, headers=auth
        )
        assert granted.status_code == 201, granted.text

    listing = _tapfleet("report", "--db", url, "--lang", "en")
    assert listing.returncode == 0, listing.stderr
    names = [line.split("\t")[0] for line in listing.stdout.splitlines()]
    assert "points_liability" in names and "checkins_daily" in names

    table = _tapfleet("report", "--db", url, "--lang", "en", "--table", "points_liability")
    assert table.returncode == 0, table.stderr
    rows = list(csv.reader(io.StringIO(table.stdout)))
    assert any("120" in cell for row in rows[1:] for cell in row), rows


def test_report_refuses_a_database_without_a_ledger_in_one_line(tmp_path: Path) -> None:
    answer = _tapfleet("report", "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    assert answer.returncode == 2
    assert answer.stderr.count("\n") == 1 and "holds no coordinator ledger" in answer.stderr


def test_report_refuses_an_unknown_table_and_a_bad_date(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'coordinator.db'}"
    app = create_app(CoordinatorSettings(dev_mode=True, database_url=url, mqtt_enabled=False))
    with TestClient(app):
        pass
    unknown = _tapfleet("report", "--db", url, "--table", "no_such_table")
    assert unknown.returncode == 1 and "no_such_table" in unknown.stderr
    bad = _tapfleet("report", "--db", url, "--from", "2026-13-01")
    assert bad.returncode == 2 and bad.stderr.startswith("tapfleet report:")
