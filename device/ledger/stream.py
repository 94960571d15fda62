"""The ledger's stream identity: its random id, its epoch and whether the coordinator
refuses it (see ``coordinator/ledger/streams.py`` for the coordinator's side).

Callers hold a transaction (or read); every function here is a plain step inside it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class StreamState:
    """What the ledger knows of its own stream."""

    ledger_id: str
    epoch: int
    start_seq: int
    refused: str | None
    """The coordinator's (or the kiosk's own) reason for refusing this ledger's stream."""
    refused_detail: str
    restore_epoch: int
    backup_verified_ms: int | None


def read(conn: sqlite3.Connection) -> StreamState:
    """The ledger's stream row (a missing ledger id is made now: files from before it)."""
    row = conn.execute(
        "SELECT ledger_id, epoch, epoch_start_seq, stream_refused, stream_refused_detail,"
        " restore_epoch, backup_verified_ms FROM kiosk WHERE id = 1"
    ).fetchone()
    return StreamState(
        ledger_id=row[0] or "",
        epoch=int(row[1]),
        start_seq=int(row[2]),
        refused=row[3],
        refused_detail=row[4] or "",
        restore_epoch=int(row[5]),
        backup_verified_ms=row[6],
    )


def set_refused(conn: sqlite3.Connection, reason: str | None, detail: str) -> None:
    """Record (or clear, with None) the refusal of this ledger's stream."""
    conn.execute(
        "UPDATE kiosk SET stream_refused = ?, stream_refused_detail = ? WHERE id = 1",
        (reason, detail if reason else None),
    )


def adopt(conn: sqlite3.Connection, epoch: int, start_seq: int) -> None:
    """Start this (empty) ledger's stream at ``epoch`` and ``start_seq``."""
    conn.execute(
        "UPDATE kiosk SET epoch = ?, epoch_start_seq = ?, last_seq = ?, acked_seq = ?,"
        " confirmed_seq = ?, stream_refused = NULL, stream_refused_detail = NULL WHERE id = 1",
        (epoch, start_seq, start_seq - 1, start_seq - 1, start_seq - 1),
    )


def event_id_at(conn: sqlite3.Connection, seq: int) -> str | None:
    """The id of this ledger's event at ``seq`` (None: no such row, or pruned)."""
    row = conn.execute("SELECT event_id FROM journal WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else str(row[0])


def journal_rows(conn: sqlite3.Connection) -> int:
    """How many rows the journal holds."""
    return int(conn.execute("SELECT count(*) FROM journal").fetchone()[0])


def set_restore_epoch(conn: sqlite3.Connection, restore_epoch: int) -> None:
    """Remember the coordinator's restore epoch."""
    conn.execute("UPDATE kiosk SET restore_epoch = ? WHERE id = 1", (restore_epoch,))
