"""The notifications outbox: recorded with the decision, once per occasion."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator.db import Database
from coordinator.outbound import notify


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'coordinator.db'}")
    database.migrate()
    return database


def test_a_notification_is_recorded_once_per_occasion(db: Database) -> None:
    with db.write() as conn:
        first = notify.enqueue(conn, kind="waitlist_seat", dedupe_key="seat:s1:m1",
                               payload={"session": "s1"}, now_ms=1000, member_id="m1")  # fmt: skip
        again = notify.enqueue(conn, kind="waitlist_seat", dedupe_key="seat:s1:m1",
                               payload={"session": "s1"}, now_ms=2000, member_id="m1")  # fmt: skip
        other = notify.enqueue(conn, kind="waitlist_seat", dedupe_key="seat:s2:m1",
                               payload={"session": "s2"}, now_ms=3000, member_id="m1")  # fmt: skip
    assert first == again != other
    with db.read() as conn:
        rows = notify.recent(conn, member_id="m1")
    assert [r["payload"]["session"] for r in rows] == ["s2", "s1"]


def test_a_rolled_back_decision_leaves_no_notification(db: Database) -> None:
    with pytest.raises(RuntimeError), db.write() as conn:
        notify.enqueue(conn, kind="code", dedupe_key="code:1", payload={}, now_ms=1)
        raise RuntimeError("the decision failed after the enqueue")
    with db.read() as conn:
        assert notify.recent(conn) == []


def test_an_oversized_payload_is_refused(db: Database) -> None:
    with pytest.raises(notify.NotificationTooLarge), db.write() as conn:
        notify.enqueue(conn, kind="x", dedupe_key="big", payload={"a": "x" * 20_000}, now_ms=1)
