"""Backups of the coordinator's SQLite database, and restoring one (issue 19, part 2).

A backup is an online copy (``VACUUM INTO``: one read transaction, so writers go on and the
copy is one consistent state, compacted) written beside its final name, checked
(``PRAGMA quick_check``, the Alembic revision and the ledger tables readable), fsynced and
renamed into place; only then is it *verified*, and its time is what the coordinator tells
kiosks (``backup_verified_ms``): a kiosk keeps acknowledged journal rows younger than that,
so whatever a restore from the newest verified backup lost, the kiosks still hold. Older
backups beyond ``keep`` are deleted, oldest first.

PostgreSQL is not copied here: use its own tools (``pg_dump -Fc`` on a schedule, or base
backups with WAL archiving for point-in-time recovery), see docs/reliability.md; after
``pg_restore``, run ``tapfleet coordinator restore --db URL --after-pg-restore`` so the
restore epoch is bumped the same way.

A restore (:func:`restore_sqlite`, the coordinator stopped) puts a verified backup in
place of the database (the old file is kept aside), then :func:`mark_restored` bumps the
**restore epoch** and every downstream version counter: at its next start the coordinator
asks every kiosk to sync (``StreamNotice`` ``resync``); each sync's Ack asks for everything
after the restored ``applied_seq`` and the kiosks replay it from their journals, so the
ledger ends event for event as if nothing had happened. Versions jump past anything the
kiosks may hold, so every kiosk takes the restored members, deny-list and rules again.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.db import Database, read_counter
from shared.model import RuleBundle

log = logging.getLogger(__name__)

VERSION_JUMP = 1_000_000_000
"""How far a restore moves the downstream version counters: past anything issued between
the backup and the restore (a version is a push, at most a few per second)."""
NAME = re.compile(r"^tapfleet-(\d{8}T\d{6}\d{3}Z)\.sqlite$")


class BackupError(Exception):
    """A backup could not be taken, verified or restored; the message says why."""


@dataclass(frozen=True)
class BackupInfo:
    """A verified backup file."""

    path: str
    taken_ms: int
    verified_ms: int
    size_bytes: int
    events: int
    revision: str


def sqlite_path(db: Database) -> Path:
    """The database file of a SQLite URL; BackupError for anything else."""
    if not db.is_sqlite or not db.url.database or db.url.database == ":memory:":
        raise BackupError(
            "online backups here are for a SQLite file; back PostgreSQL up with pg_dump or "
            "base backups (docs/reliability.md)"
        )
    return Path(db.url.database)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def verify(path: Path) -> tuple[int, str]:
    """(events, alembic revision) of a backup file; BackupError when it is not a sound copy
    of a coordinator database."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot open: {exc}") from exc
    try:
        problems = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall() if r[0] != "ok"]
        if problems:
            raise BackupError(f"{path}: integrity check failed: {'; '.join(problems)[:300]}")
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        conn.execute("SELECT count(*) FROM kiosks").fetchone()
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: not a coordinator database: {exc}") from exc
    finally:
        conn.close()
    if revision is None:
        raise BackupError(f"{path}: no Alembic revision recorded")
    return int(events), str(revision[0])


def backup_sqlite(db: Database, out_dir: Path, *, now_ms: int, keep: int) -> BackupInfo:
    """Take, verify and keep one online backup of the SQLite database into ``out_dir``;
    record its time as the last verified backup; delete the oldest beyond ``keep``."""
    source = sqlite_path(db)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromtimestamp(now_ms / 1000, UTC)
    name = f"tapfleet-{stamp:%Y%m%dT%H%M%S}{now_ms % 1000:03d}Z.sqlite"
    final = out_dir / name
    staging = out_dir / f".{name}.partial"
    staging.unlink(missing_ok=True)
    conn = sqlite3.connect(source, timeout=30)
    try:
        conn.execute("VACUUM INTO ?", (str(staging),))
    except sqlite3.Error as exc:
        staging.unlink(missing_ok=True)
        raise BackupError(f"backup of {source} failed: {exc}") from exc
    finally:
        conn.close()
    try:
        events, revision = verify(staging)
        _fsync(staging)
    except BackupError:
        staging.unlink(missing_ok=True)
        raise
    os.replace(staging, final)
    _fsync(out_dir)
    verified_ms = now_ms
    info = BackupInfo(
        path=str(final),
        taken_ms=now_ms,
        verified_ms=verified_ms,
        size_bytes=final.stat().st_size,
        events=events,
        revision=revision,
    )
    (out_dir / f"{name}.json").write_text(json.dumps(asdict(info), indent=1), encoding="utf-8")
    with db.write() as c:
        _set_counter(c, "backup_verified_ms", now_ms)
    for old in list_backups(out_dir)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
        Path(f"{old}.json").unlink(missing_ok=True)
        log.info("backup %s deleted (keeping the newest %d)", old.name, keep)
    log.info(
        "backup %s verified: %d events, revision %s, %d bytes",
        final.name,
        events,
        revision,
        info.size_bytes,
    )
    return info


def list_backups(out_dir: Path) -> list[Path]:
    """Verified backup files in ``out_dir``, oldest first."""
    if not out_dir.is_dir():
        return []
    return sorted(p for p in out_dir.iterdir() if NAME.match(p.name))


def _set_counter(conn: Connection, name: str, value: int) -> None:
    c = schema.counters
    done = conn.execute(sa.update(c).where(c.c.name == name).values(value=value))
    if not done.rowcount:
        conn.execute(sa.insert(c).values(name=name, value=value))


def _counter(conn: Connection, name: str) -> int:
    c = schema.counters
    value = conn.execute(sa.select(c.c.value).where(c.c.name == name)).scalar_one_or_none()
    return int(value or 0)


def restore_sqlite(db_file: Path, backup: Path, *, now_ms: int) -> Path:
    """Put a verified backup in place of ``db_file`` (the coordinator must be stopped);
    returns where the replaced database was moved. Call :func:`mark_restored` next."""
    verify(backup)
    db_file.parent.mkdir(parents=True, exist_ok=True)
    staging = db_file.with_name(f".{db_file.name}.restoring")
    staging.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    dst = sqlite3.connect(staging)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    _fsync(staging)
    aside = db_file.with_name(f"{db_file.name}.replaced-{now_ms}")
    if db_file.exists():
        os.replace(db_file, aside)
    for suffix in ("-wal", "-shm"):
        side = Path(f"{db_file}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{aside}{suffix}"))
    os.replace(staging, db_file)
    _fsync(db_file.parent)
    log.warning("database %s restored from %s (the replaced one: %s)", db_file, backup, aside)
    return aside


def mark_restored(db: Database, *, now_ms: int) -> int:
    """After a restore (either engine): migrate, bump the restore epoch and move every
    downstream version past what kiosks may hold; returns the new restore epoch.

    Every member record and deny-list entry is re-stamped with the new version, so each
    kiosk takes the restored state again (a snapshot or a full delta), and the chain's rule
    bundle is re-published under a new version.
    """
    db.migrate()
    with db.write() as conn:
        previous = _counter(conn, "restore_epoch")
        epoch = max(previous + 1, now_ms // 1000)
        _set_counter(conn, "restore_epoch", epoch)
        for name in ("members_version", "deny_version", "rules_version"):
            _set_counter(conn, name, read_counter(conn, name) + VERSION_JUMP)
        members_version = read_counter(conn, "members_version")
        conn.execute(sa.update(schema.member_states).values(version=members_version, dirty=False))
        conn.execute(
            sa.update(schema.deny_entries).values(version=read_counter(conn, "deny_version"))
        )
        _republish_rules(conn, now_ms)
    log.warning("restore epoch %d: kiosks will be asked to resend from their journals", epoch)
    return epoch


def _republish_rules(conn: Connection, now_ms: int) -> None:
    """Publish the newest restored bundle of every scope again, under a new version."""
    from coordinator.downstream import rule_bundles

    rb = schema.rule_bundles
    newest = (
        sa.select(sa.func.max(rb.c.version))
        .where(rb.c.status == "published")
        .group_by(rb.c.store_scope)
    )
    contents = conn.execute(
        sa.select(rb.c.content).where(rb.c.version.in_(newest)).order_by(rb.c.version)
    ).scalars()
    for content in list(contents):
        rule_bundles.republish(
            conn,
            RuleBundle.model_validate_json(content),
            user="system",
            now_ms=now_ms,
            note="re-published after a restore",
        )


def restore_state(conn: Connection) -> tuple[int, int, int | None]:
    """(restore epoch, restore epoch announced to kiosks, last verified backup ms or None)."""
    verified = _counter(conn, "backup_verified_ms")
    return (
        _counter(conn, "restore_epoch"),
        _counter(conn, "restore_announced"),
        verified or None,
    )


def set_announced(conn: Connection, epoch: int) -> None:
    """Record that kiosks were asked to resync for this restore epoch."""
    _set_counter(conn, "restore_announced", epoch)


def now_ms() -> int:
    """Wall time for the CLI (the service passes its own clock)."""
    return time.time_ns() // 1_000_000
