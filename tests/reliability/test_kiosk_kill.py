"""A kiosk loses power (SIGKILL) at random moments while serving taps and draining a backlog.

The kiosk host process (real ``KioskLedger`` + ``KioskLink``) answers a tap only after its
commit, so every answer is a tap a member saw. It is killed mid-tap and mid-drain, over and
over, and started again on the same SQLite file: every answered tap must end up applied
exactly once at the coordinator, and nothing else may appear there. The same holds for the
whole ``tapfleet kiosk`` app killed while a card is on its reader.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import pytest

from simulators.waiting import wait_until
from tests.reliability.audit import full_audit, read_journal
from tests.reliability.fleet import Chain, Fleet
from tests.reliability.kiosk_app import KioskProcess, kiosk_config
from tests.reliability.processes import KioskHost

ROUNDS = 8
APP_ROUNDS = 4


def _outbox(path: Path) -> tuple[int, int]:
    """(last_seq, acked_seq) as the file holds them."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        last, acked = conn.execute("SELECT last_seq, acked_seq FROM kiosk WHERE id = 1").fetchone()
    finally:
        conn.close()
    return int(last), int(acked)


def _pipeline(host: KioskHost, fleet: Fleet, kiosk_id: str, n: int, rng: random.Random) -> None:
    """Queue ``n`` taps/redemptions of random members into the host without waiting."""
    chain = fleet.chain
    assert chain is not None
    for _ in range(n):
        member = rng.choice(chain.member_ids())
        if rng.random() < 0.15:
            host.send("redeem", k=kiosk_id, member=member, reward="water")
        else:
            host.send("tap", k=kiosk_id, uid=chain.uid(member))


@pytest.mark.slow
def test_sigkill_while_serving_and_draining_loses_and_doubles_nothing(fleet: Fleet) -> None:
    rng = random.Random(20260714)
    fleet.seed(Chain(stores=["s1"], kiosks=[("k1", "s1"), ("k2", "s1")], members=40))
    # A small window and small batches: the drain takes many round trips, so kills land
    # in the middle of it.
    victim = fleet.add_host("victim", ["k1"], link={"window_events": 40, "batch_events": 8})
    bystander = fleet.add_host("bystander", ["k2"])
    fleet.wait_ready()
    path = fleet.ledgers["k1"]

    fleet.cut("k1")  # a backlog builds up offline
    _pipeline(victim, fleet, "k1", 300, rng)
    wait_until(lambda: len(victim.acknowledged) == 300, 60, "the offline taps")

    unacked_at_kill: list[int] = []
    for round_no in range(ROUNDS):
        fleet.restore("k1")
        _pipeline(victim, fleet, "k1", 150, rng)
        _pipeline(bystander, fleet, "k2", 10, rng)
        # Wait for the drain to be under way (the coordinator acknowledged some of the
        # backlog), then let a random number of further taps be answered.
        acked_before = _outbox(path)[1]
        wait_until(
            lambda a=acked_before: _outbox(path)[1] > a, 60, "the drain to start", interval_s=0.005
        )
        _pipeline(victim, fleet, "k1", 60, rng)
        kill_after = len(victim.acknowledged) + rng.randrange(0, 40)
        wait_until(
            lambda n=kill_after: len(victim.acknowledged) >= n,
            60,
            "taps to be answered",
            interval_s=0.001,
        )
        # A random extra moment, so the kill lands anywhere in the next tap or drain step
        # (deciding, committing, printing, publishing, applying an Ack): placement only.
        time.sleep(rng.random() * 0.005)
        victim.kill()
        last, acked = _outbox(path)
        unacked_at_kill.append(last - acked)
        if round_no % 2 == 0:
            fleet.cut("k1")  # it comes back without network: more backlog
        fleet.restart(victim)
        _pipeline(victim, fleet, "k1", 60, rng)

    fleet.restore("k1")
    fleet.wait_converged()
    for host in fleet.hosts.values():
        host.stop()

    assert victim.starts == ROUNDS + 1
    assert sum(1 for n in unacked_at_kill if n > 0) >= ROUNDS - 1, (
        f"the kills should land while the backlog drains: unacked at kill {unacked_at_kill}"
    )
    acknowledged = fleet.acknowledged()
    report = full_audit(fleet.coordinator, fleet.ledgers, acknowledged)
    assert len(victim.acknowledged) >= 300 + ROUNDS * 5
    # Each power cut can take at most the one command being served with it: committed,
    # never answered. Nothing else is journaled unseen; the bystander never died.
    per_answer = max(len(line["events"]) for line in acknowledged)
    assert report.unshown("k1") <= ROUNDS * per_answer, report
    assert report.unshown("k2") == 0, report
    # Answers lost with a killed process are taps nobody saw; a tap that was answered is
    # in the journal (checked by the audit), and the journal holds nothing else but those
    # and the ones in flight when the power went.
    assert report.kiosk_events["k1"] >= len(victim.acknowledged)


@pytest.mark.slow
def test_kiosk_app_power_loss_mid_tap_keeps_every_shown_tap_once(
    fleet: Fleet, tmp_path: Path
) -> None:
    """The whole ``tapfleet kiosk`` process (reader, ledger, link, screen) loses power while
    a card is on its reader; what its screen showed is applied exactly once."""
    rng = random.Random(77)
    chain = fleet.seed(Chain(stores=["s1"], kiosks=[("k1", "s1")], members=30))
    uids = [chain.uid(m) for m in chain.member_ids()]
    ledger = tmp_path / "app" / "ledger.sqlite"
    kiosk = KioskProcess(
        tmp_path / "app", kiosk_config("k1", "s1", ledger, fleet.broker.host, fleet.broker.port)
    )
    shown: list[dict[str, object]] = []
    pulled = 0
    try:
        for _ in range(APP_ROUNDS):
            kiosk.start()
            wait_until(lambda: kiosk.status().get("ready") is True, 60, "the kiosk to be ready")
            for _ in range(3):
                view = kiosk.tap(rng.choice(uids))
                assert view["outcome"] == "accepted", view
                shown.append(view)
            # The plug is pulled while a card is on the reader: before, during or after
            # the commit and the screen update, wherever 0-300 ms land.
            view = kiosk.tap_and_pull_the_plug(rng.choice(uids), rng.uniform(0.0, 0.3))
            pulled += 1
            if view is not None:
                shown.append(view)
        kiosk.start()
        wait_until(
            lambda: fleet.coordinator.applied_seqs()["k1"] == len(read_journal(ledger)),
            60,
            "the kiosk to drain after the last power cut",
        )
    finally:
        kiosk.stop()

    journal = {e.event_id: e.seq for e in read_journal(ledger)}
    acknowledged = []
    for view in shown:
        ids = list(view["event_ids"])  # type: ignore[call-overload]
        assert ids and all(i in journal for i in ids), f"a tap the screen showed was lost: {view}"
        acknowledged.append({"k": "k1", "events": [[journal[i], i] for i in ids]})
    assert pulled == APP_ROUNDS
    report = full_audit(fleet.coordinator, {"k1": ledger}, acknowledged, check_views=False)
    assert len(shown) >= 3 * APP_ROUNDS
    # Only a tap the plug was pulled on can be journaled without being shown.
    per_view = max(len(list(view["event_ids"])) for view in shown)  # type: ignore[call-overload]
    assert report.unshown("k1") <= pulled * per_view, report
