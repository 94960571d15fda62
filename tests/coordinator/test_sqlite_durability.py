"""The coordinator's SQLite connections are durable: an Ack goes out only after a commit
that survives power loss, which needs ``synchronous=FULL`` on every connection (it is a
per-connection setting, so it is read back from each kind of transaction the coordinator
opens, on the database the app itself wired), WAL journaling and foreign keys on."""

from __future__ import annotations

from pathlib import Path

from tests.dashboard.ingest_feed import api_without_broker

FULL = 2
"""``PRAGMA synchronous`` answers a number: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA."""


def test_every_coordinator_sqlite_connection_commits_with_synchronous_full(
    tmp_path: Path,
) -> None:
    with api_without_broker(tmp_path) as api:
        db = api.coord.db
        assert db.engine.dialect.name == "sqlite"
        seen = []
        # Several connections of the pool at once, through each way in.
        with db.write() as w, db.read() as r, db.snapshot() as s:
            for conn in (w, r, s):
                seen.append(
                    (
                        conn.exec_driver_sql("PRAGMA synchronous").scalar_one(),
                        conn.exec_driver_sql("PRAGMA journal_mode").scalar_one(),
                        conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one(),
                    )
                )
        assert seen == [(FULL, "wal", 1)] * 3
