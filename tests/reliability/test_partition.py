"""One store is cut off for six hours of simulated time, then reconnects with a backlog of
tens of thousands of events while members keep tapping.

Simulated time: the coordinator and the kiosk processes share a clock the test moves
(``sim_clock``), so six hours pass in an instant and nobody sleeps. The backlog is written
with the ledger's own journal code in bulk (a tap at a time costs an fsync each). What must
hold: the backlog drains in bounded memory (the kiosk process's resident size and the
link's in-flight window, not time), new taps are answered during the drain and applied in
seq order after the older backlog, and the full audit finds nothing lost or doubled.
"""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from coordinator import schema
from device.link import LinkSettings
from simulators.waiting import wait_until
from tests.reliability.audit import full_audit, read_journal
from tests.reliability.fleet import HOUR, Chain, Fleet
from tests.reliability.traffic import Traffic

HOURS = 6
BACKLOG_PER_HOUR = 10_000
SHIPPED = {
    name: LinkSettings.model_fields[name].default
    for name in ("window_events", "batch_events", "resend_after_s")
}
WINDOW = SHIPPED["window_events"]


def _journal_bytes(path: object) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(
            conn.execute("SELECT sum(length(payload)) FROM journal WHERE acked = 0").fetchone()[0]
        )
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.simulated_time
def test_six_hour_partition_drains_a_large_backlog_in_bounded_memory(fleet: Fleet) -> None:
    chain = fleet.seed(Chain(stores=["s1", "s2"], kiosks=[("k1", "s1"), ("k2", "s2")], members=30))
    members = chain.member_ids()
    # The shipped window and batch size; the shipped resend timer (no early resends).
    store1 = fleet.add_host("store1", ["k1"], link=SHIPPED)
    fleet.add_host("store2", ["k2"])
    fleet.wait_ready()
    fleet.tap("k1", chain.uid(members[0]))
    fleet.wait_converged()

    fleet.cut("k1")
    wait_until(lambda: not fleet.states()["k1"]["online"], 30, "store 1 to notice the cut")
    for hour in range(HOURS):
        fleet.wait_drained(kiosk_ids=["k2"])  # nothing of store 2 in flight when time jumps
        fleet.advance(HOUR)
        now = fleet.now_ms()
        store1.call(
            "backlog",
            k="k1",
            n=BACKLOG_PER_HOUR,
            members=members,
            every=10,
            from_ms=now - HOUR,
            to_ms=now,
            timeout_s=60,
        )
        for i in range(3):
            assert fleet.tap("k1", chain.uid(members[(hour * 3 + i) % 30]))["online"] is False
            assert fleet.tap("k2", chain.uid(members[(hour * 5 + i) % 30]))["online"] is True
    backlog = fleet.states()["k1"]
    assert backlog["outbox_depth"] > HOURS * BACKLOG_PER_HOUR
    backlog_bytes = _journal_bytes(fleet.ledgers["k1"])

    before = store1.call("reset_peaks")["rss_kb"]
    answered = len(store1.acknowledged)
    fleet.restore("k1")
    traffic = Traffic(fleet, ["k1"], rate_per_s=40, redeem_share=0.2, seed=11).start()
    try:
        wait_until(
            lambda: fleet.states()["k1"]["acked_seq"] >= backlog["last_seq"],
            240,
            "the backlog to drain",
            interval_s=0.2,
        )
    finally:
        traffic.stop()
    during = store1.acknowledged[answered:]
    fleet.wait_converged(timeout_s=120)
    peaks = store1.state()
    grew_kb = peaks["rss_max_kb"] - before
    print(
        f"partition: backlog {backlog['outbox_depth']} events ({backlog_bytes // 1024} KiB of"
        f" JSON), RSS {before} KiB before the drain, +{grew_kb} KiB at most during it,"
        f" in flight at most {peaks['max_in_flight'].get('k1')}, {len(during)} taps answered"
        " during the drain"
    )
    for host in fleet.hosts.values():
        host.stop()

    # Bounded: the window held, and the process grew by far less than the backlog itself.
    assert 0 < peaks["max_in_flight"]["k1"] <= WINDOW
    assert grew_kb * 1024 < backlog_bytes // 2, (grew_kb, backlog_bytes)
    # Members kept being served during the drain, and their taps came after the backlog.
    assert len(during) > 10 and all(line["outcome"] == "accepted" for line in during)
    assert min(line["events"][0][0] for line in during) > backlog["last_seq"]

    journal = read_journal(fleet.ledgers["k1"])
    hlcs = [(e.hlc_ms, e.hlc_c) for e in journal]
    assert hlcs == sorted(hlcs), "the kiosk's HLC went backwards somewhere"
    ev = schema.events
    applied_order = fleet.coordinator.read(
        lambda c: (
            c.execute(sa.select(ev.c.seq).where(ev.c.source == "k1").order_by(ev.c.id))
            .scalars()
            .all()
        )
    )
    assert applied_order == list(range(1, len(journal) + 1))
    report = full_audit(fleet.coordinator, fleet.ledgers, fleet.acknowledged())
    assert report.kiosk_events["k1"] > HOURS * BACKLOG_PER_HOUR
