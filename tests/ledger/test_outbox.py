"""The ledger as the MQTT link's outbox: pending events, acks, stats, pruning."""

from __future__ import annotations

import inspect
from pathlib import Path

from device.ledger import KioskLedger
from device.ports import OutboxPort
from tests.ledger.builders import FakeClock, journal_rows, open_ledger
from tests.ledger.conftest import CARD_1, CARD_2
from tests.support.factories import DAY, HOUR, T0


def test_ledger_has_every_outbox_port_member_with_the_same_signature():
    for name, member in vars(OutboxPort).items():
        if name.startswith("_") or not callable(member):
            continue
        ours = inspect.signature(getattr(KioskLedger, name))
        assert list(ours.parameters) == list(inspect.signature(member).parameters), name


def _tap_many(ledger: KioskLedger, clock: FakeClock, n: int) -> None:
    for _ in range(n):
        clock.advance(2 * 60_000)
        ledger.tap_card(CARD_2)


def test_pending_events_in_seq_order_and_acks_are_monotonic(ledger: KioskLedger, clock):
    clock.advance(2 * HOUR)
    _tap_many(ledger, clock, 10)
    assert [e.seq for e in ledger.pending_events(0, 4)] == [1, 2, 3, 4]
    assert [e.seq for e in ledger.pending_events(7, 100)] == [8, 9, 10]

    ledger.mark_acked(6)
    ledger.mark_acked(3)  # late, lower ack: ignored
    assert ledger.outbox_stats().acked_seq == 6
    assert [e.seq for e in ledger.pending_events(0, 100)] == [7, 8, 9, 10]
    ledger.mark_acked(50)  # beyond what exists: capped, never acknowledges future seqs
    stats = ledger.outbox_stats()
    assert (stats.last_seq, stats.acked_seq, stats.depth) == (10, 10, 0)
    assert stats.oldest_unacked_age_s is None
    assert ledger.pending_events(0, 100) == []
    _tap_many(ledger, clock, 1)
    assert [e.seq for e in ledger.pending_events(0, 100)] == [11]


def test_outbox_age_and_versions(ledger: KioskLedger, clock: FakeClock):
    clock.advance(2 * HOUR)
    ledger.tap_card(CARD_2)
    clock.advance(90_000)
    stats = ledger.outbox_stats()
    assert (stats.depth, stats.oldest_unacked_age_s) == (1, 90)
    versions = ledger.versions()
    assert (versions.rules, versions.members, versions.deny) == (1, 1, 0)


def test_acks_survive_restart(db_path: Path, clock: FakeClock, ledger: KioskLedger):
    clock.advance(2 * HOUR)
    _tap_many(ledger, clock, 5)
    ledger.mark_acked(3)
    ledger.close()
    with open_ledger(db_path, clock) as again:
        assert again.outbox_stats().acked_seq == 3
        assert [e.seq for e in again.pending_events(0, 10)] == [4, 5]


def test_pruning_deletes_only_old_acknowledged_folded_rows(
    db_path: Path, clock: FakeClock, ledger: KioskLedger
):
    clock.advance(2 * HOUR)
    _tap_many(ledger, clock, 4)  # m2, seqs 1-4
    ledger.tap_card("0BADF00D")  # unknown card, seq 5: no member
    ledger.mark_acked(5)
    clock.advance(40 * DAY)
    ledger.tap_card(CARD_1)  # seq 6, unacknowledged
    # m2's events are acknowledged but not folded into m2's record (included_seq 0): kept
    assert ledger.prune_acked(older_than_days=30) == 1
    assert [r[0] for r in journal_rows(db_path)] == [1, 2, 3, 4, 6]
    assert ledger.outbox_stats().last_seq == 6  # seqs are never reused after pruning
    clock.advance(2 * HOUR)
    assert ledger.tap_card(CARD_2).events[0].seq == 7


def test_offline_since_survives_restart(db_path: Path, clock: FakeClock, ledger: KioskLedger):
    ledger.set_online(True)
    clock.advance(HOUR)
    ledger.set_online(False)
    offline_at = clock.now_ms
    ledger.close()
    clock.advance(5 * HOUR)
    with open_ledger(db_path, clock) as again:
        status = again.sync_status()
        assert not status.online
        assert status.offline_since_ms == offline_at
        assert offline_at > T0
