"""The updater's decisions in-process (device/updater.py): phase, known-bad releases, the
health gate, and what a rollback does with a ledger the failed release migrated. The
service manager and the kiosk's status page are stand-ins here; the real processes are in
``tests/reliability/test_software_update.py``."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from device.ledger.database import migrate_with_backup
from device.ledger.schema import LATEST, MIGRATIONS, Migration, current_version
from device.updater import Manifest, Updater, UpdaterSettings
from shared.phased import in_phase
from tests.ledger.builders import FakeClock, open_ledger, provision
from tests.support.factories import T0, bundle, member

OLD, NEW = "1.0.0", "1.1.0"
NOTES = Migration(LATEST + 1, "add staff notes", "CREATE TABLE staff_notes (note TEXT);")


def _manifest(version: str = NEW, percentage: int = 100) -> Manifest:
    return Manifest(
        channel="stable", version=version, wheel_url="/nowhere.whl", sha256="0" * 64,
        percentage=percentage,
    )  # fmt: skip


class Kiosk:
    """A release root with ``OLD`` running and ``NEW`` installed, a served ledger, and a
    service manager whose ``restart`` runs ``on_start(version)`` for the release it starts."""

    def __init__(self, tmp: Path, on_start: Callable[[str], bool]) -> None:
        self.ledger = tmp / "ledger.db"
        clock = FakeClock(T0)
        with open_ledger(self.ledger, clock) as led:
            provision(led, [member("m1", cards=("04AA0001",))], bundle())
            assert led.tap_card("04AA0001").accepted
        root = tmp / "opt"
        for version in (OLD, NEW):
            release = root / "releases" / version
            release.mkdir(parents=True)
            (release / ".tapfleet-release-complete").write_text("{}")
        self.healthy_versions: set[str] = set()
        self.commands: list[str] = []
        self.on_start = on_start
        self.updater = Updater(
            UpdaterSettings(
                manifest_url="unused", root=root, ledger_path=self.ledger,
                restart_command=["restart"], stop_command=["stop"], health_timeout_s=0.05,
            ),
            run=self._run, status=self._status, sleep=lambda _s: None,
        )  # fmt: skip
        self.updater.switch(OLD)

    def _run(self, argv: list[str]) -> None:
        self.commands.append(argv[0])
        if argv == ["restart"]:
            version = self.updater.running_version()
            assert version is not None
            if self.on_start(version):
                self.healthy_versions.add(version)

    def _status(self) -> dict[str, Any] | None:
        version = self.updater.running_version()
        if version in self.healthy_versions:
            return {"ready": True, "software_version": version}
        return None


def _machine_in(percentage: int) -> str:
    """A machine id in the phase of ``NEW`` at ``percentage``."""
    return next(
        m for m in (f"machine-{n}" for n in range(1000)) if in_phase("stable", NEW, m, percentage)
    )


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_a_healthy_release_stays_and_the_previous_one_is_kept(tmp_path: Path) -> None:
    kiosk = Kiosk(tmp_path, on_start=lambda _v: True)
    outcome = kiosk.updater.run_once(_manifest(), _machine_in(100))
    assert (outcome.action, outcome.running) == ("updated", NEW)
    assert kiosk.updater.running_version() == NEW
    assert sorted(p.name for p in (tmp_path / "opt" / "releases").iterdir()) == [OLD, NEW]
    assert kiosk.updater.state()["previous"] == OLD


def test_machines_outside_the_phase_and_known_bad_releases_are_left_alone(
    tmp_path: Path,
) -> None:
    kiosk = Kiosk(tmp_path, on_start=lambda _v: True)
    outside = next(
        m for m in (f"machine-{n}" for n in range(1000)) if not in_phase("stable", NEW, m, 30)
    )
    assert kiosk.updater.run_once(_manifest(percentage=30), outside).action == "not_in_phase"
    assert kiosk.updater.run_once(_manifest(OLD), outside).action == "up_to_date"
    assert kiosk.commands == []  # nothing restarted
    state = kiosk.updater.state()
    kiosk.updater._save({**state, "bad": [NEW]})
    assert kiosk.updater.run_once(_manifest(), _machine_in(100)).action == "known_bad"
    assert kiosk.updater.running_version() == OLD


def _migrates_then_fails(ledger: Path, *, journal_after: bool) -> Callable[[str], bool]:
    def start(version: str) -> bool:
        if version != NEW:
            return True  # the old release starts fine
        conn = sqlite3.connect(ledger, isolation_level=None)
        try:
            migrate_with_backup(conn, ledger, T0, (*MIGRATIONS, NOTES))
            if journal_after:  # it even served a tap before failing its health gate
                conn.execute("UPDATE kiosk SET last_seq = last_seq + 1 WHERE id = 1")
        finally:
            conn.close()
        return False

    return start


def test_a_failed_release_that_migrated_the_ledger_gets_the_copy_put_back(
    tmp_path: Path,
) -> None:
    kiosk = Kiosk(tmp_path, on_start=lambda _v: True)
    kiosk.on_start = _migrates_then_fails(kiosk.ledger, journal_after=False)
    outcome = kiosk.updater.run_once(_manifest(), _machine_in(100))
    assert (outcome.action, outcome.running, outcome.offered) == ("rolled_back", OLD, NEW)
    assert "ledger restored from ledger.db.pre-v" in outcome.detail
    assert "previous release healthy" in outcome.detail
    assert kiosk.commands == ["restart", "stop", "restart"]
    assert kiosk.updater.running_version() == OLD and kiosk.updater.state()["bad"] == [NEW]
    # The old release can open its ledger again: the old schema, the tap still there.
    assert "staff_notes" not in _tables(kiosk.ledger)
    with sqlite3.connect(kiosk.ledger) as conn:
        assert current_version(conn) == LATEST
    with open_ledger(kiosk.ledger, FakeClock(T0)) as led:
        assert led.outbox_stats().last_seq == 1


def test_a_migrated_ledger_that_journaled_since_is_never_replaced(tmp_path: Path) -> None:
    kiosk = Kiosk(tmp_path, on_start=lambda _v: True)
    kiosk.on_start = _migrates_then_fails(kiosk.ledger, journal_after=True)
    outcome = kiosk.updater.run_once(_manifest(), _machine_in(100))
    assert outcome.action == "rolled_back"
    assert "journaled since; kept" in outcome.detail
    assert "staff_notes" in _tables(kiosk.ledger)  # no tap is ever thrown away


def test_settings_refuse_unknown_keys() -> None:
    with pytest.raises(ValueError, match="extra"):
        UpdaterSettings.model_validate({"manifest_url": "x", "restart": ["reboot"]})
