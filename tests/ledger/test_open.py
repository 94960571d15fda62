"""Opening the ledger file: settings, recorded migrations, and refusing damaged or foreign files.

A damaged ledger must stop the kiosk with a message that says what to do, and the file must be
left byte-for-byte as it was: it may hold taps the coordinator has never seen.
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
from pathlib import Path

import pytest

from device.errors import DeviceError
from device.ledger import (
    KioskLedger,
    LedgerCorrupt,
    LedgerIdentityMismatch,
    LedgerSchemaTooNew,
)
from device.ledger.schema import LATEST, MIGRATIONS, Migration, migrate
from shared.errors import TapfleetError
from tests.ledger.builders import FakeClock, open_ledger, provision
from tests.support.factories import HOUR, T0, bundle, member

PAGE = 4096


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def real_db(tmp_path: Path, clock: FakeClock) -> Path:
    """A closed ledger with a few thousand members and some taps (several hundred pages)."""
    path = tmp_path / "real.db"
    with open_ledger(path, clock) as led:
        records = [member(f"m{i}", cards=(f"{i:08X}",)) for i in range(3000)]
        provision(led, records, bundle())
        for i in range(100):
            clock.advance(2 * 60_000)
            assert led.tap_card(f"{i:08X}").accepted
    assert not Path(f"{path}-wal").exists()  # checkpointed on close: the file holds it all
    return path


def test_settings_and_recorded_migrations(db_path: Path, clock: FakeClock):
    with open_ledger(db_path, clock) as led:
        settings = led.storage_settings()
    assert settings == {
        "journal_mode": "wal",
        "synchronous": 2,  # FULL
        "foreign_keys": 1,
        "busy_timeout_ms": 5000,
        "schema_version": LATEST,
    }
    conn = sqlite3.connect(db_path)
    rows = conn.execute("SELECT version, name, applied_ms FROM schema_migrations").fetchall()
    conn.close()
    assert rows == [(m.version, m.name, T0) for m in MIGRATIONS]


def test_new_migrations_are_applied_in_order_and_recorded(db_path: Path, clock: FakeClock):
    with open_ledger(db_path, clock):
        pass
    extra = (
        Migration(LATEST + 1, "add staff notes", "CREATE TABLE staff_notes (note TEXT);"),
        Migration(LATEST + 2, "index staff notes", "CREATE INDEX sn_i ON staff_notes (note);"),
    )
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        applied = migrate(conn, str(db_path), T0 + HOUR, MIGRATIONS + extra)
        assert [m.name for m in applied] == ["add staff notes", "index staff notes"]
        assert migrate(conn, str(db_path), T0 + 2 * HOUR, MIGRATIONS + extra) == []
        rows = conn.execute(
            "SELECT version, name, applied_ms FROM schema_migrations ORDER BY version"
        ).fetchall()
    finally:
        conn.close()
    assert rows[-2:] == [
        (LATEST + 1, "add staff notes", T0 + HOUR),
        (LATEST + 2, "index staff notes", T0 + HOUR),
    ]
    # ...and today's software refuses the file from the "newer" software
    before = _digest(db_path)
    with pytest.raises(LedgerSchemaTooNew) as info:
        open_ledger(db_path, clock)
    assert f"schema version {LATEST + 2}" in str(info.value)
    assert "do not delete" in str(info.value)
    assert _digest(db_path) == before


def test_ledger_of_another_kiosk_is_refused(db_path: Path, clock: FakeClock):
    with open_ledger(db_path, clock):
        pass
    with pytest.raises(LedgerIdentityMismatch) as info:
        open_ledger(db_path, clock, kiosk_id="k2")
    assert "'k1'" in str(info.value) and "'k2'" in str(info.value)


def _expect_corrupt(path: Path, clock: FakeClock) -> LedgerCorrupt:
    before = _digest(path)
    siblings = sorted(p.name for p in path.parent.iterdir())
    with pytest.raises(LedgerCorrupt) as info:
        KioskLedger.open(path, kiosk_id="k1", store_id="s1", clock=clock)
    error = info.value
    assert isinstance(error, DeviceError) and isinstance(error, TapfleetError)
    text = str(error)
    assert str(path) in text
    assert "Restore the ledger from a backup" in text and "re-provision" in text
    assert "left the file untouched" in text
    assert _digest(path) == before, "a damaged ledger must never be rewritten"
    assert sorted(p.name for p in path.parent.iterdir()) == siblings
    return error


def test_random_bytes_are_not_a_ledger(tmp_path: Path, clock: FakeClock):
    path = tmp_path / "ledger.db"
    path.write_bytes(random.Random(7).randbytes(64 * 1024))
    error = _expect_corrupt(path, clock)
    assert "not an SQLite database" in error.detail


def test_empty_file_is_refused_not_initialised(tmp_path: Path, clock: FakeClock):
    path = tmp_path / "ledger.db"
    path.write_bytes(b"")
    assert "empty" in _expect_corrupt(path, clock).detail


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.02])
def test_truncated_ledger_is_refused(real_db: Path, clock: FakeClock, keep: float):
    size = real_db.stat().st_size
    with real_db.open("r+b") as fh:
        fh.truncate(max(PAGE, int(size * keep) // PAGE * PAGE))
    _expect_corrupt(real_db, clock)


def test_garbage_in_the_middle_is_refused(real_db: Path, clock: FakeClock):
    size = real_db.stat().st_size
    middle = size // 2 // PAGE * PAGE
    with real_db.open("r+b") as fh:
        fh.seek(middle)
        fh.write(random.Random(3).randbytes(3 * PAGE))
    error = _expect_corrupt(real_db, clock)
    assert "integrity check failed" in error.detail or "malformed" in error.detail


def test_sqlite_file_that_is_not_a_ledger_is_refused(tmp_path: Path, clock: FakeClock):
    path = tmp_path / "ledger.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    assert "not a kiosk ledger" in _expect_corrupt(path, clock).detail


def test_wal_without_its_database_is_refused(tmp_path: Path, clock: FakeClock):
    path = tmp_path / "ledger.db"
    wal = Path(f"{path}-wal")
    wal.write_bytes(b"\x37\x7f\x06\x82" + bytes(60))
    with pytest.raises(LedgerCorrupt) as info:
        open_ledger(path, clock)
    assert "missing" in info.value.detail
    assert not path.exists()


def test_intact_ledger_reopens_with_its_data(real_db: Path, clock: FakeClock):
    with open_ledger(real_db, clock) as led:
        assert led.outbox_stats().last_seq == 100  # one check-in each
        assert led.sync_status().members == 3000


def test_unreadable_directory_entry_is_refused(tmp_path: Path, clock: FakeClock):
    path = tmp_path / "ledger.db"
    os.mkdir(path)
    assert "not a regular file" in _expect_corrupt_dir(path, clock).detail


def _expect_corrupt_dir(path: Path, clock: FakeClock) -> LedgerCorrupt:
    with pytest.raises(LedgerCorrupt) as info:
        open_ledger(path, clock)
    assert path.is_dir()
    return info.value


def test_journal_rows_are_immutable_and_unacked_rows_undeletable(ledger: KioskLedger, db_path):
    from tests.ledger.conftest import CARD_1

    ledger.tap_card(CARD_1)
    conn = sqlite3.connect(db_path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            conn.execute("UPDATE journal SET payload = '{}' WHERE seq = 1")
        with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
            conn.execute("DELETE FROM journal WHERE seq = 1")
    finally:
        conn.rollback()
        conn.close()
