"""The coordinator process is killed (SIGKILL) mid-stream and started again: nothing is
lost, nothing is applied twice. Runs the real CLI (``tapfleet coordinator``) as a process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from coordinator import schema
from coordinator.db import Database
from coordinator.ledger.jsonrows import event_from_row, ledger_from_row
from shared.events import CheckIn
from shared.fold import fold_sorted
from shared.model import MemberLedger
from simulators.broker import Broker
from simulators.services import CoordinatorProcess
from tests.support.hashing import coordinator_cost_env
from tests.support.mini_kiosk import MiniKiosk


@pytest.fixture
def process(tmp_path: Path, broker: Broker) -> Iterator[CoordinatorProcess]:
    proc = CoordinatorProcess(
        tmp_path,
        mqtt_port=broker.port,
        settings={"mqtt_client_id": "coordinator-restart-test", "member_push_interval_ms": 50},
        env=coordinator_cost_env(),
    )
    try:
        yield proc
    finally:
        proc.stop()


@pytest.mark.slow
def test_sigkill_mid_stream_loses_nothing_and_applies_nothing_twice(
    process: CoordinatorProcess, broker: Broker
) -> None:
    process.start()
    api = httpx.Client(base_url=process.url, timeout=10)
    token = api.post("/api/v1/auth/token", data={"username": "admin", "password": "admin"})
    api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    assert api.post("/api/v1/stores", json={"store_id": "s1", "name": "S1"}).status_code == 201
    assert api.post("/api/v1/kiosks", json={"kiosk_id": "k1", "store_id": "s1"}).status_code == 201
    assert (
        api.post("/api/v1/members", json={"member_id": "m1", "display_name": "A*"}).status_code
        == 201
    )

    kiosk = MiniKiosk("k1", "s1", broker.host, broker.port, batch_size=5)
    kiosk.connect()
    total = 600
    stop = threading.Event()

    def produce() -> None:
        # One event at a time, each sent exactly once by the kiosk: anything missing at the
        # end was lost by the coordinator (or the broker), not papered over by a resend.
        for _ in range(total):
            if stop.is_set():
                return
            event = kiosk.record("m1", CheckIn(points=1))
            kiosk.flush(from_seq=event.seq)
            time.sleep(0.003)

    producer = threading.Thread(target=produce, daemon=True)
    try:
        producer.start()
        assert kiosk.wait_for(lambda: kiosk.acked_seq >= 60, timeout=20)
        process.kill()
        killed_at = kiosk.acked_seq
        assert killed_at < total, "the stream should still be flowing when the process dies"
        process.start()
        producer.join(60)
        assert not producer.is_alive()
        assert kiosk.wait_acked(timeout=60), f"acked {kiosk.acked_seq} of {len(kiosk.journal)}"
    finally:
        stop.set()
        kiosk.close()
        api.close()

    process.stop()
    db = Database(process.db_url)
    try:
        with db.read() as conn:
            rows = conn.execute(
                sa.select(schema.events.c.seq, schema.events.c.body)
                .where(schema.events.c.source == "k1")
                .order_by(schema.events.c.seq)
            ).all()
            state = conn.execute(
                sa.select(schema.member_states.c.ledger).where(
                    schema.member_states.c.member_id == "m1"
                )
            ).scalar_one()
            hq = [
                event_from_row(b)
                for b in conn.execute(
                    sa.select(schema.events.c.body).where(schema.events.c.member_id == "m1")
                ).scalars()
            ]
    finally:
        db.dispose()
    assert [r.seq for r in rows] == list(range(1, total + 1))
    assert [event_from_row(r.body).event_id for r in rows] == [e.event_id for e in kiosk.journal]
    central = ledger_from_row(state)
    assert central.points_earned_total == total
    assert central == fold_sorted(MemberLedger(), hq)[0]
    assert 0 < killed_at < total
    # Nothing had to be asked for again: the broker kept the coordinator's unacknowledged
    # and queued messages in its persistent session (PUBACK only after the commit).
    assert all(ack.resend_from is None for ack in kiosk.acks)
