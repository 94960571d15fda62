"""New software migrating a kiosk ledger: a copy of the file as it was is taken first, and
the migration is one transaction, so a failing step leaves the file at its old version
(never half-migrated) and the copy reopens under the old schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from device.ledger.database import migrate_with_backup, migration_backup_path
from device.ledger.schema import LATEST, MIGRATIONS, Migration, current_version
from tests.ledger.builders import FakeClock, journal_rows, open_ledger, provision
from tests.support.factories import HOUR, T0, bundle, member

NOTES = Migration(LATEST + 1, "add staff notes", "CREATE TABLE staff_notes (note TEXT);")
BROKEN = Migration(LATEST + 2, "index a missing table", "CREATE INDEX x_i ON missing (x);")


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


def _served_ledger(path: Path, clock: FakeClock) -> None:
    with open_ledger(path, clock) as led:
        provision(led, [member(f"m{i}", cards=(f"{i:08X}",)) for i in range(20)], bundle())
        for i in range(5):
            clock.advance(2 * 60_000)
            assert led.tap_card(f"{i:08X}").accepted


def _open(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_a_migration_keeps_a_copy_of_the_ledger_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    clock = FakeClock(T0)
    _served_ledger(path, clock)
    journal = journal_rows(path)
    conn = _open(path)
    try:
        copy = migrate_with_backup(conn, path, T0 + HOUR, (*MIGRATIONS, NOTES))
        assert current_version(conn) == LATEST + 1
        # Nothing pending: no second copy.
        assert migrate_with_backup(conn, path, T0 + 2 * HOUR, (*MIGRATIONS, NOTES)) is None
    finally:
        conn.close()
    assert copy == migration_backup_path(path, LATEST) and copy.exists()
    assert "staff_notes" in _tables(path) and "staff_notes" not in _tables(copy)
    # The copy is a whole ledger at the old version: today's software opens it, same journal.
    assert journal_rows(copy) == journal
    with open_ledger(copy, clock) as old:
        assert old.outbox_stats().last_seq == 5


def test_a_failing_step_leaves_the_file_at_its_old_version(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    clock = FakeClock(T0)
    _served_ledger(path, clock)
    conn = _open(path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="missing"):
            migrate_with_backup(conn, path, T0 + HOUR, (*MIGRATIONS, NOTES, BROKEN))
        # The good step before the broken one was rolled back with it.
        assert current_version(conn) == LATEST
    finally:
        conn.close()
    assert "staff_notes" not in _tables(path)
    assert migration_backup_path(path, LATEST).exists()
    # Today's software still opens the file and serves from it.
    with open_ledger(path, clock) as led:
        assert led.outbox_stats().last_seq == 5
