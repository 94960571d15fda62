"""Opening the kiosk's SQLite file safely: create atomically, check, configure, migrate.

A new ledger is built next to its final path and renamed into place once its schema and
identity are written, so an existing file that is empty or lacks the SQLite header can only
mean damage, never "not initialised yet". An existing file is checked with
``PRAGMA quick_check`` *before* anything is written to it; a damaged file raises
:class:`LedgerCorrupt` and is left exactly as it was. Before new software migrates an
existing file, a copy of it as it was is written beside it (``<ledger>.pre-v<N>.bak``, SQLite's
online backup, fsynced); the migration itself is one transaction.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from device.ledger.errors import (
    LedgerCorrupt,
    LedgerError,
    LedgerIdentityMismatch,
    LedgerStorageFull,
)
from device.ledger.schema import MIGRATIONS, Migration, current_version, migrate

log = logging.getLogger(__name__)

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 5000
_QUICK_CHECK_MAX_ERRORS = 5


def is_disk_full(exc: BaseException) -> bool:
    """True for SQLite's "database or disk is full" (SQLITE_FULL)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == sqlite3.SQLITE_FULL)
    return "database or disk is full" in str(exc)


def is_corruption(exc: BaseException) -> bool:
    """True for errors that mean the file itself is damaged (not a lock or a full disk)."""
    if not isinstance(exc, sqlite3.DatabaseError) or is_disk_full(exc):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return True
    text = str(exc)
    return "malformed" in text or "not a database" in text


def _connect(path: Path, *, create: bool) -> sqlite3.Connection:
    mode = "rwc" if create else "rw"
    conn = sqlite3.connect(
        f"file:{path}?mode={mode}",
        uri=True,
        isolation_level=None,  # explicit BEGIN/COMMIT: one decision, one transaction
        check_same_thread=False,  # KioskLedger serialises all use with its own lock
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def _check_file(path: Path) -> None:
    """Refuse anything that cannot be a healthy ledger before SQLite writes to it."""
    for suffix in ("-wal", "-journal"):
        side = Path(f"{path}{suffix}")
        if not path.exists() and side.exists() and side.stat().st_size > 0:
            raise LedgerCorrupt(
                str(path), f"the database file is missing but {side.name} is present"
            )
    if not path.exists():
        return
    if not path.is_file():
        raise LedgerCorrupt(str(path), "it is not a regular file")
    with path.open("rb") as fh:
        head = fh.read(len(SQLITE_HEADER))
    if len(head) == 0:
        raise LedgerCorrupt(str(path), "the file is empty")
    if head != SQLITE_HEADER:
        raise LedgerCorrupt(str(path), "the file is not an SQLite database")


def quick_check(conn: sqlite3.Connection, path: Path) -> None:
    """Run ``PRAGMA quick_check``; raise LedgerCorrupt naming the first problems found."""
    try:
        rows = conn.execute(f"PRAGMA quick_check({_QUICK_CHECK_MAX_ERRORS})").fetchall()
    except sqlite3.DatabaseError as exc:
        raise LedgerCorrupt(str(path), f"SQLite: {exc}") from exc
    problems = [str(row[0]) for row in rows if row[0] != "ok"]
    if problems:
        raise LedgerCorrupt(str(path), "integrity check failed: " + "; ".join(problems)[:400])


def _configure(conn: sqlite3.Connection) -> None:
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"could not switch the ledger to WAL (got {mode})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create(path: Path, kiosk_id: str, store_id: str, now_ms: int) -> None:
    """Build a new ledger beside ``path`` and rename it into place (atomic)."""
    staging = Path(f"{path}.init")
    for leftover in (staging, Path(f"{staging}-journal")):
        leftover.unlink(missing_ok=True)
    conn = _connect(staging, create=True)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = FULL")
        migrate(conn, str(path), now_ms)
        conn.execute(
            "INSERT INTO kiosk (id, kiosk_id, store_id, created_ms, ledger_id)"
            " VALUES (1, ?, ?, ?, lower(hex(randomblob(16))))",
            (kiosk_id, store_id, now_ms),
        )
    except sqlite3.OperationalError as exc:
        conn.close()
        staging.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise LedgerStorageFull("the new ledger") from exc
        raise
    conn.close()
    with staging.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(staging, path)
    _fsync_dir(path.parent)


def open_database(path: Path, kiosk_id: str, store_id: str, now_ms: int) -> sqlite3.Connection:
    """Open (creating if absent) the ledger at ``path`` for this kiosk, checked and migrated.

    Raises LedgerCorrupt (damaged or foreign file, left untouched), LedgerSchemaTooNew or
    LedgerIdentityMismatch; never resets or overwrites an existing file.
    """
    path = Path(path)
    _check_file(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _create(path, kiosk_id, store_id, now_ms)
    try:
        conn = _connect(path, create=False)
    except sqlite3.OperationalError as exc:
        raise LedgerError(
            f"The kiosk ledger {path} cannot be opened ({exc}); check that the path exists "
            "and that the kiosk user may read and write it and its folder."
        ) from exc
    try:
        quick_check(conn, path)
        row = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        if row is None:
            raise LedgerCorrupt(str(path), "it is an SQLite file but not a kiosk ledger")
        _configure(conn)
        migrate_with_backup(conn, path, now_ms)
        found = conn.execute("SELECT kiosk_id, store_id FROM kiosk WHERE id = 1").fetchone()
        if found is None:
            raise LedgerCorrupt(str(path), "the kiosk identity row is missing")
        if (found[0], found[1]) != (kiosk_id, store_id):
            raise LedgerIdentityMismatch(str(path), (found[0], found[1]), (kiosk_id, store_id))
    except BaseException as exc:
        conn.close()
        if is_corruption(exc):
            raise LedgerCorrupt(str(path), f"SQLite: {exc}") from exc
        raise
    return conn


def migration_backup_path(path: Path, from_version: int) -> Path:
    """Where the copy taken before migrating from ``from_version`` is kept."""
    return path.with_name(f"{path.name}.pre-v{from_version}.bak")


def migrate_with_backup(
    conn: sqlite3.Connection,
    path: Path,
    now_ms: int,
    migrations: tuple[Migration, ...] = MIGRATIONS,
) -> Path | None:
    """Migrate an existing ledger, first copying it as it is; returns the copy (None when
    nothing was pending). The copy is what a rollback to the previous software can reopen
    (that software refuses a newer schema) when nothing was journaled after the upgrade."""
    found = current_version(conn)
    if not any(step.version > found for step in migrations):
        migrate(conn, str(path), now_ms, migrations)  # raises when the file is too new
        return None
    target = migration_backup_path(path, found)
    staging = Path(f"{target}.tmp")
    staging.unlink(missing_ok=True)
    copy = sqlite3.connect(staging)
    try:
        conn.backup(copy)
        copy.execute("PRAGMA journal_mode = DELETE")
    finally:
        copy.close()
    with staging.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(staging, target)
    _fsync_dir(path.parent)
    applied = migrate(conn, str(path), now_ms, migrations)
    log.warning(
        "migrated the ledger %s from schema %d to %d; the file as it was is kept in %s",
        path,
        found,
        applied[-1].version,
        target,
    )
    return target


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; any error rolls everything back and propagates."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
