"""The member cache: records from the coordinator, the card index and the sign-in index.

Records are stored as JSON of :class:`~shared.model.MemberRecord` with the seq of this
kiosk folded into them (``included_seq``). The card and sign-in indexes are derived from
the JSON inside SQLite (``json_each``), so even a 100,000-member snapshot is indexed without
loading records into Python. Callers hold a write transaction for every writer here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from shared.model import MemberRecord

_CARDS_FROM_RECORDS = (
    "INSERT OR REPLACE INTO cards (uid, member_id)"
    " SELECT j.value, m.member_id FROM members m, json_each(m.record, '$.cards') j"
)
_SIGNINS_FROM_RECORDS = (
    "INSERT OR IGNORE INTO member_signins (class_session_id, member_id)"
    " SELECT json_extract(s.value, '$.class_session_id'), m.member_id"
    " FROM members m, json_each(m.record, '$.ledger.signins') s"
)
_ONLY_IDS = " WHERE m.member_id IN (SELECT value FROM json_each(?))"


def record(conn: sqlite3.Connection, member_id: str) -> tuple[MemberRecord, int] | None:
    """(record, included_seq) for a member, or None when not cached."""
    row = conn.execute(
        "SELECT record, included_seq FROM members WHERE member_id = ?", (member_id,)
    ).fetchone()
    if row is None:
        return None
    return MemberRecord.model_validate_json(row[0]), int(row[1])


def member_for_card(conn: sqlite3.Connection, uid: str) -> str | None:
    """The member a card UID belongs to, or None."""
    row = conn.execute("SELECT member_id FROM cards WHERE uid = ?", (uid,)).fetchone()
    return str(row[0]) if row else None


def count(conn: sqlite3.Connection) -> int:
    """Members cached."""
    return int(conn.execute("SELECT count(*) FROM members").fetchone()[0])


def upsert(
    conn: sqlite3.Connection, records: Iterable[MemberRecord], included_seq: int
) -> list[str]:
    """Insert or replace records and re-derive their index rows; returns their ids."""
    rows = [(r.member_id, r.model_dump_json(exclude_defaults=True), included_seq) for r in records]
    if not rows:
        return []
    ids = [row[0] for row in rows]
    conn.executemany(
        "INSERT OR REPLACE INTO members (member_id, record, included_seq) VALUES (?, ?, ?)",
        rows,
    )
    _reindex(conn, ids)
    return ids


def remove(conn: sqlite3.Connection, member_ids: Iterable[str]) -> None:
    """Forget members (their card and sign-in index rows go with them)."""
    ids = json.dumps(list(member_ids))
    conn.execute(
        "DELETE FROM member_signins WHERE member_id IN (SELECT value FROM json_each(?))", (ids,)
    )
    conn.execute("DELETE FROM cards WHERE member_id IN (SELECT value FROM json_each(?))", (ids,))
    conn.execute("DELETE FROM members WHERE member_id IN (SELECT value FROM json_each(?))", (ids,))


def _reindex(conn: sqlite3.Connection, member_ids: list[str]) -> None:
    ids = json.dumps(member_ids)
    conn.execute(
        "DELETE FROM member_signins WHERE member_id IN (SELECT value FROM json_each(?))", (ids,)
    )
    conn.execute("DELETE FROM cards WHERE member_id IN (SELECT value FROM json_each(?))", (ids,))
    conn.execute(_CARDS_FROM_RECORDS + _ONLY_IDS, (ids,))
    conn.execute(_SIGNINS_FROM_RECORDS + _ONLY_IDS, (ids,))


# --- full snapshots, staged chunk by chunk ----------------------------------------------------


def staged_version(conn: sqlite3.Connection) -> int | None:
    """Version of the snapshot being staged, or None."""
    row = conn.execute("SELECT max(version) FROM snapshot_chunks").fetchone()
    return None if row[0] is None else int(row[0])


def staged_chunks(conn: sqlite3.Connection) -> int:
    """Chunks staged so far."""
    return int(conn.execute("SELECT count(*) FROM snapshot_chunks").fetchone()[0])


def clear_staging(conn: sqlite3.Connection) -> None:
    """Drop a partly staged snapshot."""
    conn.execute("DELETE FROM snapshot_members")
    conn.execute("DELETE FROM snapshot_chunks")


def stage_chunk(
    conn: sqlite3.Connection,
    *,
    version: int,
    chunk: int,
    chunks: int,
    included_seq: int,
    records: Iterable[MemberRecord],
) -> int:
    """Store one chunk (idempotent); returns how many distinct chunks are staged."""
    conn.execute(
        "INSERT OR REPLACE INTO snapshot_chunks (chunk, version, chunks, included_seq)"
        " VALUES (?, ?, ?, ?)",
        (chunk, version, chunks, included_seq),
    )
    conn.executemany(
        "INSERT OR REPLACE INTO snapshot_members (member_id, record, included_seq)"
        " VALUES (?, ?, ?)",
        ((r.member_id, r.model_dump_json(exclude_defaults=True), included_seq) for r in records),
    )
    return staged_chunks(conn)


def swap_in_staged(conn: sqlite3.Connection) -> int:
    """Replace every cached member by the staged snapshot; returns its highest included_seq."""
    conn.execute("DELETE FROM member_signins")
    conn.execute("DELETE FROM cards")
    conn.execute("DELETE FROM members")
    conn.execute(
        "INSERT INTO members (member_id, record, included_seq)"
        " SELECT member_id, record, included_seq FROM snapshot_members"
    )
    conn.execute(_CARDS_FROM_RECORDS)
    conn.execute(_SIGNINS_FROM_RECORDS)
    row = conn.execute("SELECT coalesce(max(included_seq), 0) FROM snapshot_chunks").fetchone()
    clear_staging(conn)
    return int(row[0])
