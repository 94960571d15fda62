"""SQLite: the coordinator's own writers queue in the process, not in SQLite's busy handler."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from coordinator.db import Database

ROUNDS = 200


def test_writers_on_many_threads_take_turns_without_meeting_a_busy_database(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'coordinator.db'}")

    @sa.event.listens_for(db.engine, "connect")
    def _no_busy_wait(dbapi_conn: Any, _record: Any) -> None:
        # Runs after the coordinator's own PRAGMAs: a writer that found the database locked
        # would fail at once instead of sleeping in SQLite's busy handler.
        dbapi_conn.execute("PRAGMA busy_timeout=0")

    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE taps (writer INTEGER, n INTEGER)")
    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(number: int) -> None:
        start.wait()
        try:
            for n in range(ROUNDS):
                with db.write() as conn:
                    conn.exec_driver_sql("INSERT INTO taps VALUES (?, ?)", (number, n))
                    conn.exec_driver_sql("SELECT count(*) FROM taps").scalar()
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    with db.read() as conn:
        counts: dict[int, int] = dict(
            conn.exec_driver_sql("SELECT writer, count(*) FROM taps GROUP BY writer").all()
        )
    assert counts == dict.fromkeys(range(4), ROUNDS)
    db.dispose()
