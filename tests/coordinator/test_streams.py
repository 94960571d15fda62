"""Stream epochs on the central ledger (SQLite and PostgreSQL), without MQTT.

The coordinator's side of a replaced or restored kiosk ledger: how a connecting ledger is
judged, what re-provisioning records as lost, how the sequencer steps over a lost range
and applies what was held around it, and that a dead epoch's events are refused.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from coordinator import schema
from coordinator.db import Database
from coordinator.ledger import streams
from coordinator.ledger.sequencer import StreamReport
from shared.events import CheckIn, Event
from shared.protocol import EventBatch
from simulators.waiting import poll_until
from tests.coordinator.test_ledger_core import Ledger, ev, make_ledger


@pytest.fixture
def ledger(database: Database) -> Iterator[Ledger]:
    """The central ledger with kiosks k1, k2 (s1) and k3 (s2)."""
    yield make_ledger(database)


LEDGER_A = uuid.uuid4().hex
LEDGER_B = uuid.uuid4().hex


def _judge(
    led: Ledger, *, epoch: int | None, last_seq: int, ledger_id: str | None = LEDGER_A
) -> streams.Verdict:
    with led.db.write() as conn:
        return streams.judge_sync(
            conn,
            "k1",
            epoch=epoch,
            ledger_id=ledger_id,
            last_seq=last_seq,
            fresh=last_seq == 0,
            now_ms=led.clock.now,
        )


def _apply_epoch(led: Ledger, epoch: int, *events: Event) -> StreamReport:
    with led.db.write() as conn:
        return led.coord.events.apply(
            conn,
            [(EventBatch(kiosk_id="k1", events=events, epoch=epoch), led.clock.now)],
            led.kiosks,
            led.clock.now,
        )


def _seqs(led: Ledger) -> list[int]:
    ev_ = schema.events
    with led.db.read() as conn:
        return list(
            conn.execute(
                sa.select(ev_.c.seq).where(ev_.c.source == "k1").order_by(ev_.c.seq)
            ).scalars()
        )


def test_a_ledger_behind_the_coordinator_is_refused_and_one_in_order_is_not(
    ledger: Ledger,
) -> None:
    ledger.apply(*(ev("k1", s, CheckIn(points=0)) for s in range(1, 6)))
    fresh = _judge(ledger, epoch=0, last_seq=0)
    assert (fresh.state, fresh.reason) == ("refused", "ledger_behind")
    assert "re-provision" in fresh.detail
    older = _judge(ledger, epoch=0, last_seq=3)
    assert (older.state, older.reason) == ("refused", "ledger_behind")
    with ledger.db.read() as conn:
        assert streams.current(conn, "k1").refused_reason == "ledger_behind"
    good = _judge(ledger, epoch=0, last_seq=7)
    assert (good.state, good.applied_seq) == ("ok", 5)
    with ledger.db.read() as conn:
        now = streams.current(conn, "k1")
    assert (now.refused_reason, now.heard_seq) == (None, 7)
    # A build without epochs is never refused (it could not show why), only logged.
    assert _judge(ledger, epoch=None, last_seq=0).state == "ok"


def test_reprovisioning_records_lost_ranges_and_the_sequencer_steps_over_them(
    ledger: Ledger,
) -> None:
    ledger.apply(*(ev("k1", s, CheckIn(points=0)) for s in (1, 2, 3)))
    ledger.apply(ev("k1", 5, CheckIn(points=0)), ev("k1", 7, CheckIn(points=0)))  # held
    assert _judge(ledger, epoch=0, last_seq=8).state == "ok"  # the old ledger said seq 8
    with ledger.db.write() as conn:
        opened = streams.open_epoch(conn, "k1", by="admin", now_ms=ledger.clock.now)
    assert (opened.epoch, opened.start_seq, opened.applied_seq) == (1, 9, 3)
    assert [(r.first_seq, r.last_seq) for r in opened.lost] == [(4, 4), (6, 6), (8, 8)]

    # The next fresh ledger is handed the epoch, once: another fresh ledger is refused.
    handed = _judge(ledger, epoch=0, last_seq=0, ledger_id=LEDGER_B)
    assert (handed.state, handed.epoch, handed.start_seq) == ("assign", 1, 9)
    assert _judge(ledger, epoch=0, last_seq=0, ledger_id=LEDGER_B).state == "assign"
    other = _judge(ledger, epoch=0, last_seq=0, ledger_id=LEDGER_A)
    assert (other.state, other.reason) == ("refused", "epoch_mismatch")
    assert _judge(ledger, epoch=1, last_seq=8, ledger_id=LEDGER_B).state == "ok"

    report = _apply_epoch(ledger, 1, ev("k1", 9, CheckIn(points=0)))
    assert report.acks["k1"] == (9, None)
    assert _seqs(ledger) == [1, 2, 3, 5, 7, 9]
    with ledger.db.read() as conn:
        history = streams.kiosk_streams(conn, "k1")
        held = conn.execute(sa.select(sa.func.count()).select_from(schema.held_events)).scalar()
    assert held == 0
    assert [(r["first_seq"], r["last_seq"]) for r in history["lost"]] == [(4, 4), (6, 6), (8, 8)]
    assert [e["epoch"] for e in history["epochs"]] == [1, 0]
    assert history["epochs"][1]["closed_applied_seq"] == 3


def test_a_database_restored_from_before_a_reprovisioning_recreates_the_epoch(
    ledger: Ledger,
) -> None:
    ledger.apply(*(ev("k1", s, CheckIn(points=0)) for s in (1, 2, 3)))

    def sync(restored: bool) -> streams.Verdict:
        with ledger.db.write() as conn:
            return streams.judge_sync(
                conn,
                "k1",
                epoch=1,
                ledger_id=LEDGER_B,
                last_seq=8,
                fresh=False,
                now_ms=ledger.clock.now,
                start_seq=6,
                restored=restored,
            )

    # Never restored: a ledger of an epoch this coordinator never opened is refused.
    refused = sync(False)
    assert (refused.state, refused.reason) == ("refused", "epoch_mismatch")
    verdict = sync(True)
    assert (verdict.state, verdict.epoch, verdict.applied_seq) == ("ok", 1, 5)
    with ledger.db.read() as conn:
        history = streams.kiosk_streams(conn, "k1")
    assert [(r["epoch"], r["first_seq"], r["last_seq"]) for r in history["lost"]] == [(0, 4, 5)]
    assert [(e["epoch"], e["start_seq"], e["claimed"]) for e in history["epochs"]] == [
        (1, 6, True),
        (0, 1, False),
    ]
    report = _apply_epoch(ledger, 1, *(ev("k1", s, CheckIn(points=0)) for s in (6, 7, 8)))
    assert report.acks["k1"] == (8, None)
    assert _seqs(ledger) == [1, 2, 3, 6, 7, 8]


def test_events_of_a_closed_epoch_are_refused_not_applied(ledger: Ledger) -> None:
    ledger.apply(*(ev("k1", s, CheckIn(points=0)) for s in (1, 2)))
    with ledger.db.write() as conn:
        opened = streams.open_epoch(conn, "k1", by="admin", now_ms=ledger.clock.now)
    assert (opened.start_seq, opened.lost) == (3, [])
    report = _apply_epoch(ledger, 0, ev("k1", 3, CheckIn(points=0)))
    assert report.applied == 0 and "k1" not in report.acks
    assert report.refused["k1"][:2] == (1, 2)
    assert [r[1] for r in report.rejects] == ["stream_epoch_mismatch"]
    assert _seqs(ledger) == [1, 2]
    report = _apply_epoch(ledger, 1, ev("k1", 3, CheckIn(points=0)))
    assert report.acks["k1"] == (3, None)


def test_kiosk_rows_are_locked_in_id_order_whatever_order_the_batches_came_in(
    ledger: Ledger,
) -> None:
    # Two replicas with the same kiosks' batches in one group must take the kiosk row locks
    # in the same order, or they deadlock (PostgreSQL then waits its deadlock timeout and
    # fails one; coupon claims in that group waited seconds). While another transaction
    # holds k1, a group with k3's batch first must wait on k1 without holding k3.
    if ledger.db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are a PostgreSQL matter (SQLite writes one at a time)")
    k = schema.kiosks
    pid: list[int] = []
    errors: list[BaseException] = []

    def group_k3_then_k1() -> None:
        try:
            with ledger.db.write() as conn:
                pid.append(int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()))
                ledger.coord.events.apply(
                    conn,
                    [
                        (EventBatch(kiosk_id=kid, events=(ev(kid, 1, CheckIn(points=0)),)), 0)
                        for kid in ("k3", "k1")
                    ],
                    ledger.kiosks,
                    ledger.clock.now,
                )
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    worker = threading.Thread(target=group_k3_then_k1)
    with ledger.db.write() as holder:
        holder.execute(sa.select(k.c.kiosk_id).where(k.c.kiosk_id == "k1").with_for_update())
        worker.start()
        waiting = sa.text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid")
        assert poll_until(
            lambda: (
                bool(pid)
                and holder.execute(waiting, {"pid": pid[0]}).scalar_one_or_none() == "Lock"
            ),
            timeout_s=30,
        )
        # k3 is free: the group waits for k1 before it touches k3.
        got = holder.execute(
            sa.select(k.c.kiosk_id).where(k.c.kiosk_id == "k3").with_for_update(nowait=True)
        ).scalar_one()
        assert got == "k3"
    worker.join(30)
    assert not worker.is_alive() and errors == []
    assert _seqs(ledger) == [1]


def test_heartbeats_of_a_batch_move_each_current_stream_once_and_nothing_else(
    ledger: Ledger,
) -> None:
    ledger.apply(*(ev("k1", s, CheckIn(points=0)) for s in range(1, 3)))
    with ledger.db.write() as conn:
        streams.observe_heartbeat(conn, "k1", 0, 2, ledger.clock.now)
        opened = streams.open_epoch(conn, "k1", by="admin", now_ms=ledger.clock.now)
    s = schema.kiosk_streams

    def heard() -> dict[tuple[str, int], int]:
        with ledger.db.read() as conn:
            rows = conn.execute(sa.select(s.c.kiosk_id, s.c.epoch, s.c.heard_seq)).all()
        return {(r.kiosk_id, int(r.epoch)): int(r.heard_seq) for r in rows}

    before = heard()
    now = ledger.clock.now
    with ledger.db.write() as conn:
        streams.observe_heartbeats(
            conn,
            [
                ("k1", opened.epoch, opened.start_seq + 6, now),
                ("k1", 0, 500, now),  # the closed epoch's ledger: not heard
                ("k1", opened.epoch, opened.start_seq + 1, now),  # lower: no step back
                ("k2", 0, 3, now),  # no stored stream yet: stored with what it holds
            ],
        )
    after = heard()
    assert after[("k1", opened.epoch)] == opened.start_seq + 6
    assert after[("k1", 0)] == before[("k1", 0)]
    assert after[("k2", 0)] == 3
    assert ("k3", 0) not in after
