"""The coordinator is killed (SIGKILL) again and again in the middle of applying batches.

``tests/coordinator/test_restart.py`` kills it once under one in-memory kiosk. Here four
real kiosks in two stores each drain a backlog of a thousand events while members keep
tapping, and the coordinator process dies at a random moment of that drain; four rounds,
each with a fresh backlog, so that every kill lands while batches are being applied. Every
event must be applied exactly once, in seq order, and the central balances must be the
reference fold of what the kiosks journaled.
"""

from __future__ import annotations

import random
import time

import pytest
import sqlalchemy as sa

from coordinator import schema
from simulators.waiting import wait_until
from tests.reliability.audit import full_audit
from tests.reliability.fleet import HOUR, Chain, Fleet
from tests.reliability.traffic import Traffic

KIOSKS = [("k1", "s1"), ("k2", "s1"), ("k3", "s2"), ("k4", "s2")]
KILLS = 4
BACKLOG = 1000


@pytest.mark.slow
def test_coordinator_sigkilled_mid_batch_applies_everything_once(fleet: Fleet) -> None:
    rng = random.Random(424242)
    chain = fleet.seed(Chain(stores=["s1", "s2"], kiosks=KIOSKS, members=40))
    kiosk_ids = [k for k, _ in KIOSKS]
    fleet.add_host("h1", ["k1", "k3"])
    fleet.add_host("h2", ["k2", "k4"])
    fleet.wait_ready()

    coordinator = fleet.coordinator
    # Per kill: how much of the round's backlog the coordinator had applied when it died,
    # read from its database afterwards (the live taps after the backlog do not count).
    backlog_left_at_kill: list[int] = []
    for round_no in range(KILLS):
        # Every round the kiosks come back from a night offline with a backlog (one in ten a
        # check-in), so each kill lands while batches are being applied: one backlog drains
        # in about a second, far sooner than a single one could last four kills.
        fleet.cut(*kiosk_ids)
        now = fleet.now_ms()
        for kiosk_id in kiosk_ids:
            fleet.host_of[kiosk_id].call(
                "backlog",
                k=kiosk_id,
                n=BACKLOG,
                members=chain.member_ids(),
                every=10,
                from_ms=now - 8 * HOUR,
                to_ms=now,
            )
        states = fleet.states()
        backlog_end = {k: states[k]["last_seq"] for k in kiosk_ids}
        fleet.restore(*kiosk_ids)
        traffic = Traffic(fleet, kiosk_ids, rate_per_s=60, seed=5 + round_no).start()
        try:
            start = sum(coordinator.applied_seqs().values())
            wait_until(
                lambda s=start: sum(coordinator.applied_seqs().values()) > s + 100,
                60,
                "the coordinator to be applying batches",
            )
            time.sleep(rng.random() * 0.3)  # a random moment in the stream: placement only
            coordinator.kill()
            applied = coordinator.applied_seqs()  # what it committed before it died
            backlog_left_at_kill.append(
                sum(max(0, backlog_end[k] - applied.get(k, 0)) for k in kiosk_ids)
            )
            coordinator.start()
        finally:
            traffic.stop()
    # Traffic has stopped: from here on only the final state counts.
    fleet.wait_converged(timeout_s=180)
    for host in fleet.hosts.values():
        host.stop()

    assert coordinator.starts == KILLS + 1
    assert sum(1 for n in backlog_left_at_kill if n > 0) >= KILLS - 1, (
        f"the kills should land while backlogs are being applied: {backlog_left_at_kill}"
    )
    report = full_audit(coordinator, fleet.ledgers, fleet.acknowledged())
    assert all(n > KILLS * BACKLOG for n in report.kiosk_events.values()), report
    # No kiosk died: every event journaled beyond the backlogs is a tap someone was shown.
    assert all(report.unshown(k) == KILLS * BACKLOG for k in kiosk_ids), {
        k: report.unshown(k) for k in kiosk_ids
    }
    # Applied in seq order: the ledger's insertion order is each kiosk's seq order.
    ev = schema.events

    def order(conn: sa.Connection) -> dict[str, list[int]]:
        rows = conn.execute(sa.select(ev.c.source, ev.c.seq).order_by(ev.c.id)).all()
        out: dict[str, list[int]] = {}
        for source, seq in rows:
            out.setdefault(source, []).append(seq)
        return out

    for kiosk_id, seqs in coordinator.read(order).items():
        if kiosk_id != "hq":
            assert seqs == sorted(seqs), f"{kiosk_id} applied out of seq order"
