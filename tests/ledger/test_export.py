"""``tapfleet ledger export``: a real ledger's journal, outbox and tables to CSV/JSON,
read-only, while the ledger is open and writing (as it is on a running kiosk)."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from device.ledger import KioskLedger
from device.ledger.export import ExportError, export_ledger
from tests.ledger.builders import FakeClock, journal_rows
from tests.ledger.conftest import CARD_1, CARD_2
from tests.support.factories import HOUR

TAPFLEET = [sys.executable, "-m", "shared.cli"]


def _files_digest(db_path: Path) -> dict[str, str]:
    """Digest of the ledger file and its WAL: any write would change one of them."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(db_path.parent.glob(db_path.name + "*"))
        if not p.name.endswith("-shm")  # the shared-memory index readers may touch
    }


def _five_taps_two_acked(ledger: KioskLedger, clock: FakeClock) -> None:
    clock.advance(2 * HOUR)
    for uid in (CARD_2, CARD_2, CARD_1, CARD_2, "0BADF00D"):
        clock.advance(2 * 60_000)
        ledger.tap_card(uid)
    ledger.mark_acked(2)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_export_through_the_cli_while_the_kiosk_writes(
    ledger: KioskLedger, clock: FakeClock, db_path: Path, tmp_path: Path
) -> None:
    _five_taps_two_acked(ledger, clock)
    before = _files_digest(db_path)
    out = tmp_path / "export"
    done = subprocess.run(
        [*TAPFLEET, "ledger", "export", "--ledger", str(db_path), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"{out / 'journal.csv'}: 5 rows" in done.stdout
    assert f"{out / 'outbox.csv'}: 3 rows" in done.stdout
    assert _files_digest(db_path) == before  # not one byte written

    journal = _read_csv(out / "journal.csv")
    assert [int(r["seq"]) for r in journal] == [row[0] for row in journal_rows(db_path)]
    assert [r["acked"] for r in journal] == ["1", "1", "0", "0", "0"]
    assert json.loads(journal[0]["payload"])["event_id"] == journal[0]["event_id"]
    outbox = _read_csv(out / "outbox.csv")
    assert [int(r["seq"]) for r in outbox] == [3, 4, 5]
    kiosk = _read_csv(out / "kiosk.csv")
    assert len(kiosk) == 1 and kiosk[0]["last_seq"] == "5" and kiosk[0]["acked_seq"] == "2"
    assert {r["member_id"] for r in _read_csv(out / "members.csv")} == {"m1", "m2"}
    assert {r["uid"] for r in _read_csv(out / "cards.csv")} == {CARD_1, CARD_2}
    assert (out / "rule_bundle.csv").exists() and (out / "deny_list.csv").exists()

    # The kiosk goes on recording: the export held no lock.
    clock.advance(2 * 60_000)
    ledger.tap_card(CARD_1)
    assert ledger.outbox_stats().last_seq == 6


def test_json_export_of_chosen_tables(
    ledger: KioskLedger, clock: FakeClock, db_path: Path, tmp_path: Path
) -> None:
    _five_taps_two_acked(ledger, clock)
    written = export_ledger(db_path, tmp_path / "j", "json", ["outbox", "kiosk"])
    assert [(w.name, w.rows) for w in written] == [("outbox", 3), ("kiosk", 1)]
    outbox = json.loads((tmp_path / "j" / "outbox.json").read_text(encoding="utf-8"))
    assert [row["seq"] for row in outbox] == [3, 4, 5]
    assert all(row["acked"] == 0 for row in outbox)
    assert sorted(p.name for p in (tmp_path / "j").iterdir()) == ["kiosk.json", "outbox.json"]


def test_export_refuses_what_it_cannot_do(db_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no ledger at"):
        export_ledger(tmp_path / "nowhere.db", tmp_path / "out")
    not_a_ledger = tmp_path / "other.db"
    not_a_ledger.write_bytes(b"this is not SQLite at all, just some bytes" * 50)
    with pytest.raises(ExportError, match="not a readable SQLite ledger"):
        export_ledger(not_a_ledger, tmp_path / "out")


def test_unknown_table_is_named_by_the_cli(
    ledger: KioskLedger, db_path: Path, tmp_path: Path
) -> None:
    args = ["--ledger", str(db_path), "--out", str(tmp_path / "o"), "--table", "jounral"]
    done = subprocess.run(
        [*TAPFLEET, "ledger", "export", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("tapfleet ledger export: no table jounral in the ledger;")
    assert "journal" in done.stderr and "outbox" in done.stderr
    assert not (tmp_path / "o").exists()
