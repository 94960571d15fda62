"""Backups and restores of the coordinator's database (``coordinator.backups``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from coordinator import backups, schema
from coordinator.db import Database, read_counter
from coordinator.downstream.rule_bundles import bundle_for_store
from shared.events import CheckIn
from tests.coordinator.test_ledger_core import Ledger, ev, make_ledger


@pytest.fixture
def ledger(database: Database) -> Iterator[Ledger]:
    """The central ledger with kiosks k1, k2 (s1) and k3 (s2)."""
    yield make_ledger(database)


def _count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(schema.events)).scalar())


def test_a_restore_moves_every_downstream_version_past_the_kiosks(ledger: Ledger) -> None:
    ledger.apply(*(ev("k1", s, CheckIn(points=0)) for s in (1, 2, 3)))
    with ledger.db.read() as conn:
        before = {n: read_counter(conn, n) for n in ("members_version", "rules_version")}
        assert backups.restore_state(conn) == (0, 0, None)
    epoch = backups.mark_restored(ledger.db, now_ms=ledger.clock.now)
    assert epoch == ledger.clock.now // 1000
    assert backups.mark_restored(ledger.db, now_ms=ledger.clock.now) == epoch + 1
    with ledger.db.read() as conn:
        assert backups.restore_state(conn)[0] == epoch + 1
        members_version = read_counter(conn, "members_version")
        assert members_version >= before["members_version"] + 2 * backups.VERSION_JUMP
        versions = set(conn.execute(sa.select(schema.member_states.c.version)).scalars())
        assert versions == {members_version}
        bundle = bundle_for_store(conn, "s1")
        assert bundle is not None and bundle.version > before["rules_version"] + 1
    assert _count(ledger.db) == 3


def test_sqlite_backup_is_verified_kept_and_restorable(ledger: Ledger, tmp_path: Path) -> None:
    if not ledger.db.is_sqlite:
        pytest.skip("PostgreSQL is backed up with pg_dump (documented, not re-implemented)")
    ledger.apply(*(ev("k1", s, CheckIn(points=0)) for s in (1, 2)))
    out = tmp_path / "backups"
    first = backups.backup_sqlite(ledger.db, out, now_ms=ledger.clock.now, keep=2)
    assert first.events == 2 and Path(first.path).exists()
    with ledger.db.read() as conn:
        assert backups.restore_state(conn)[2] == ledger.clock.now
    ledger.apply(ev("k1", 3, CheckIn(points=0)))
    for step in (1, 2):
        backups.backup_sqlite(ledger.db, out, now_ms=ledger.clock.now + step, keep=2)
    kept = backups.list_backups(out)
    assert len(kept) == 2 and Path(first.path) not in kept

    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    with pytest.raises(backups.BackupError):
        backups.verify(damaged)

    target = backups.sqlite_path(ledger.db)
    ledger.coord.db.dispose()
    aside = backups.restore_sqlite(target, kept[-1], now_ms=ledger.clock.now)
    assert aside.exists()
    restored = Database(f"sqlite:///{target}")
    try:
        assert _count(restored) == 3
    finally:
        restored.dispose()
