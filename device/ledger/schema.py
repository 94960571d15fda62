"""The kiosk ledger's schema as recorded, numbered migrations.

Each step has a number, a name and the SQL that takes the schema from the previous number to
this one. Steps are applied in order, each in its own transaction together with its row in
``schema_migrations``, so a crash mid-upgrade leaves the previous version intact. A file whose
recorded version is higher than the last step known here was written by newer software and
is refused (see :class:`~device.ledger.errors.LedgerSchemaTooNew`).

Append new steps at the end; never edit a released one.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from device.ledger.errors import LedgerSchemaTooNew


@dataclass(frozen=True)
class Migration:
    """One named schema step."""

    version: int
    name: str
    sql: str


_INITIAL = """
CREATE TABLE kiosk (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    kiosk_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0,
    acked_seq INTEGER NOT NULL DEFAULT 0,
    confirmed_seq INTEGER NOT NULL DEFAULT 0,
    hlc_ms INTEGER NOT NULL DEFAULT 0,
    hlc_c INTEGER NOT NULL DEFAULT 0,
    unconfirmed_sessions INTEGER NOT NULL DEFAULT 0,
    unconfirmed_points INTEGER NOT NULL DEFAULT 0,
    offline_since_ms INTEGER,
    last_online_ms INTEGER,
    members_version INTEGER NOT NULL DEFAULT 0,
    rules_version INTEGER NOT NULL DEFAULT 0,
    deny_version INTEGER NOT NULL DEFAULT 0
);

-- The append-only event journal; it is also the outbox (acked = coordinator applied it).
CREATE TABLE journal (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE CHECK (length(event_id) = 32),
    decision_seq INTEGER NOT NULL,
    member_id TEXT,
    kind TEXT NOT NULL,
    hlc_ms INTEGER NOT NULL,
    hlc_c INTEGER NOT NULL,
    wall_ms INTEGER NOT NULL,
    offline INTEGER NOT NULL,
    d_sessions INTEGER NOT NULL DEFAULT 0,
    d_points INTEGER NOT NULL DEFAULT 0,
    target_event_id TEXT,
    class_session_id TEXT,
    payload TEXT NOT NULL,
    acked INTEGER NOT NULL DEFAULT 0 CHECK (acked IN (0, 1))
);
CREATE INDEX journal_member ON journal (member_id, seq);
CREATE INDEX journal_target ON journal (target_event_id) WHERE target_event_id IS NOT NULL;
CREATE INDEX journal_class ON journal (class_session_id) WHERE class_session_id IS NOT NULL;

-- Events are facts: once written only the acked flag may change (0 -> 1), and a row is
-- deleted only after the coordinator has acknowledged it.
CREATE TRIGGER journal_immutable
BEFORE UPDATE OF seq, event_id, decision_seq, member_id, kind, hlc_ms, hlc_c, wall_ms,
    offline, d_sessions, d_points, target_event_id, class_session_id, payload ON journal
BEGIN
    SELECT RAISE(ABORT, 'journal rows are immutable');
END;
CREATE TRIGGER journal_ack_monotonic
BEFORE UPDATE OF acked ON journal WHEN NEW.acked < OLD.acked
BEGIN
    SELECT RAISE(ABORT, 'an acknowledged journal row cannot become unacknowledged');
END;
CREATE TRIGGER journal_keep_unacked
BEFORE DELETE ON journal WHEN OLD.acked = 0
BEGIN
    SELECT RAISE(ABORT, 'unacknowledged journal rows are never deleted');
END;

CREATE TABLE members (
    member_id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    included_seq INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE cards (
    uid TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members (member_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX cards_member ON cards (member_id);

-- Class sign-ins in the member records, so a roster needs no scan of every record.
CREATE TABLE member_signins (
    class_session_id TEXT NOT NULL,
    member_id TEXT NOT NULL REFERENCES members (member_id) ON DELETE CASCADE,
    PRIMARY KEY (class_session_id, member_id)
) WITHOUT ROWID;
CREATE INDEX member_signins_member ON member_signins (member_id);

CREATE TABLE deny_list (
    uid TEXT PRIMARY KEY,
    revoked_ms INTEGER NOT NULL,
    reason TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE rule_bundle (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    bundle TEXT NOT NULL
);

CREATE TABLE qr_nonces (
    nonce TEXT PRIMARY KEY,
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX qr_nonces_expiry ON qr_nonces (expires_ms);

-- A full member snapshot arrives in chunks; it replaces the members only when complete.
CREATE TABLE snapshot_chunks (
    chunk INTEGER PRIMARY KEY,
    version INTEGER NOT NULL,
    chunks INTEGER NOT NULL,
    included_seq INTEGER NOT NULL
);
CREATE TABLE snapshot_members (
    member_id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    included_seq INTEGER NOT NULL
);
"""

_STATIONS = """
-- Door stations (docs/station.md): the highest request number heard from each, so a
-- recorded request cannot be replayed.
CREATE TABLE station_counters (
    station_id TEXT PRIMARY KEY,
    hwm INTEGER NOT NULL
) WITHOUT ROWID;

-- Each station tap is decided once; a tap handed over again is answered from its row.
CREATE TABLE station_taps (
    station_id TEXT NOT NULL,
    tap_no INTEGER NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('accepted', 'already', 'refused')),
    reason TEXT,
    action TEXT,
    decided_ms INTEGER NOT NULL,
    PRIMARY KEY (station_id, tap_no)
) WITHOUT ROWID;
CREATE INDEX station_taps_decided ON station_taps (decided_ms);
"""

_STREAMS = """
-- Stream epochs (docs/reliability.md, "A dead SD card"): a random id per ledger file, the
-- epoch the coordinator handed it (0: none) and the seq it starts at, and whether the
-- coordinator refuses its stream (the kiosk records nothing while it does). restore_epoch
-- and backup_verified_ms are what the coordinator last said of its restores and backups.
ALTER TABLE kiosk ADD COLUMN ledger_id TEXT;
UPDATE kiosk SET ledger_id = lower(hex(randomblob(16))) WHERE ledger_id IS NULL;
ALTER TABLE kiosk ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE kiosk ADD COLUMN epoch_start_seq INTEGER NOT NULL DEFAULT 1;
ALTER TABLE kiosk ADD COLUMN stream_refused TEXT;
ALTER TABLE kiosk ADD COLUMN stream_refused_detail TEXT;
ALTER TABLE kiosk ADD COLUMN restore_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE kiosk ADD COLUMN backup_verified_ms INTEGER;
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial kiosk ledger", _INITIAL),
    Migration(2, "door station counters and taps", _STATIONS),
    Migration(3, "stream epochs, restore epoch and backup time", _STREAMS),
)
"""Every schema step, in order. ``MIGRATIONS[-1].version`` is the current schema."""

LATEST = MIGRATIONS[-1].version


def _split(sql: str) -> list[str]:
    """Split a script into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        if line.lstrip().startswith("--") and not buffer.strip():
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


def current_version(conn: sqlite3.Connection) -> int:
    """The highest migration recorded in the file (0 for a fresh file)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(
    conn: sqlite3.Connection,
    path: str,
    now_ms: int,
    migrations: tuple[Migration, ...] = MIGRATIONS,
) -> list[Migration]:
    """Apply every step not yet recorded, all in one transaction; returns the steps applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Raises
    :class:`LedgerSchemaTooNew` when the file records a step this code does not know. A step
    that fails rolls back every pending step with it: the file is at its old version or at
    the new one, never between (SQLite's DDL is transactional).
    """
    known = migrations[-1].version if migrations else 0
    found = current_version(conn)
    if found > known:
        raise LedgerSchemaTooNew(path, found, known)
    pending = [step for step in migrations if step.version > found]
    if not pending:
        return []
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)"
        )
        for step in pending:
            for statement in _split(step.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)",
                (step.version, step.name, now_ms),
            )
            conn.execute(f"PRAGMA user_version = {int(step.version)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return pending
