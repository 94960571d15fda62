"""Stream epochs on the central ledger (SQLite and PostgreSQL), without MQTT.

The coordinator's side of a replaced or restored kiosk ledger: how a connecting ledger is
judged, what re-provisioning records as lost, how the sequencer steps over a lost range
and applies what was held around it, and that a dead epoch's events are refused.
"""

from __future__ import annotations

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
