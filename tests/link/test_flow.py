"""Events go out in order, are acked and marked; resends rewind; duplicates are harmless."""

from __future__ import annotations

from collections.abc import Callable

from device.link import KioskLink
from tests.link.ledgers import RecordingLedger
from tests.link.peer import CoordinatorPeer

Make = Callable[..., KioskLink]


def connected(state) -> bool:  # type: ignore[no-untyped-def]
    return bool(state.connected)


def test_events_published_in_order_acked_and_marked(
    peer: CoordinatorPeer, ledger: RecordingLedger, make_link: Make
) -> None:
    ledger.append(30)
    link = make_link(ledger, batch_events=7, window_events=20)
    assert peer.wait(lambda: peer.contiguous["k1"] == 30)
    assert link.wait_for(lambda s: s.acked_seq == 30, 10) is not None
    assert ledger.acked_seq == 30
    assert peer.first_seen == list(range(1, 31))
    assert peer.largest_batch <= 7
    assert peer.max_outstanding <= 20
    state = link.state()
    assert state.counters["acks"] >= 1
    assert state.counters["events_sent"] >= 30
    assert state.in_flight == 0


def test_new_tap_goes_out_on_notify(
    peer: CoordinatorPeer, ledger: RecordingLedger, make_link: Make
) -> None:
    link = make_link(ledger)  # idle_poll_s is an hour: only notify can wake the drainer
    assert link.wait_for(connected, 10)
    assert peer.wait(lambda: len(peer.syncs) == 1)
    ledger.append(1)
    link.notify_new_events()
    assert peer.wait(lambda: peer.contiguous["k1"] == 1)
    ledger.append(2)
    link.notify_new_events()
    assert peer.wait(lambda: peer.contiguous["k1"] == 3)
    assert link.wait_for(lambda s: s.acked_seq == 3, 10)


def test_resend_from_rewinds_the_cursor(
    peer: CoordinatorPeer, ledger: RecordingLedger, make_link: Make
) -> None:
    peer.auto_ack = False
    ledger.append(10)
    link = make_link(ledger, batch_events=10, window_events=10)
    assert peer.wait(lambda: len(peer.received_seqs) == 10)
    # The coordinator applied 1..4 and lost the rest: ack 4, ask again from 5.
    peer.ack("k1", 4, resend_from=5)
    assert peer.wait(lambda: peer.received_seqs[10:] == [5, 6, 7, 8, 9, 10])
    assert ledger.acked_seq == 4
    peer.ack("k1", 10)
    assert link.wait_for(lambda s: s.acked_seq == 10 and s.in_flight == 0, 10)
    assert link.state().counters["resend_requests"] == 1
    assert ledger.acked_seq == 10


def test_window_full_without_acks_stops_sending(
    peer: CoordinatorPeer, ledger: RecordingLedger, make_link: Make
) -> None:
    peer.auto_ack = False
    ledger.append(50)
    link = make_link(ledger, batch_events=5, window_events=15)
    assert peer.wait(lambda: len(peer.received_seqs) == 15)
    assert link.wait_for(lambda s: s.in_flight == 15, 10)
    ledger.append(1)
    link.notify_new_events()  # a new tap while the window is full waits its turn
    assert not peer.wait(lambda: len(peer.received_seqs) > 15, timeout_s=0.5)
    peer.ack("k1", 15)
    assert peer.wait(lambda: peer.received_seqs[-1] == 30)
    peer.auto_ack = True
    peer.ack("k1", 30)
    assert peer.wait(lambda: peer.contiguous["k1"] == 51)
    assert peer.first_seen == list(range(1, 52))


def test_silence_triggers_a_resend_of_the_window(
    peer: CoordinatorPeer, ledger: RecordingLedger, make_link: Make
) -> None:
    peer.auto_ack = False
    ledger.append(6)
    link = make_link(ledger, batch_events=3, window_events=6, resend_after_s=0.3)
    assert peer.wait(lambda: len(peer.received_seqs) >= 12, timeout_s=10)
    assert peer.received_seqs[:12] == [1, 2, 3, 4, 5, 6] * 2
    assert link.state().counters["resend_timeouts"] >= 1
    peer.auto_ack = True
    peer.ack("k1", 6)
    assert link.wait_for(lambda s: s.acked_seq == 6 and s.in_flight == 0, 10)


def test_duplicates_after_reconnect_are_harmless(
    peer: CoordinatorPeer, ledger: RecordingLedger, make_link: Make
) -> None:
    peer.auto_ack = False
    ledger.append(8)
    first = make_link(ledger, batch_events=4, window_events=8)
    assert peer.wait(lambda: len(peer.received_seqs) == 8)
    peer.ack("k1", 4)  # 5..8 are applied later but their Ack is lost with the kiosk
    assert first.wait_for(lambda s: s.acked_seq == 4, 10)
    first.stop()
    peer.auto_ack = True
    peer.answer_syncs = False  # a silent coordinator: the kiosk resumes after the grace
    second = make_link(ledger, batch_events=4, window_events=8)
    assert second.wait_for(lambda s: s.acked_seq == 8, 10)
    # 5..8 went out twice; the coordinator's view is still exactly 1..8 once.
    assert peer.received_seqs.count(5) == 2
    assert peer.contiguous["k1"] == 8
    assert peer.first_seen == list(range(1, 9))
    assert ledger.acked_seq == 8


def test_after_reconnect_the_sync_answer_says_where_to_resume(
    peer: CoordinatorPeer, ledger: RecordingLedger, make_link: Make
) -> None:
    peer.auto_ack = False
    ledger.append(8)
    first = make_link(ledger, batch_events=4, window_events=8)
    assert peer.wait(lambda: len(peer.received_seqs) == 8)
    peer.ack("k1", 4)  # 5..8 are applied later but their Ack is lost with the kiosk
    assert first.wait_for(lambda s: s.acked_seq == 4, 10)
    first.stop()
    peer.auto_ack = True
    ledger.append(2)  # taps while the link was down
    # A long grace: only the coordinator's answer may bring the link online here.
    second = make_link(ledger, batch_events=4, window_events=8, online_grace_s=60)
    assert second.wait_for(lambda s: s.acked_seq == 10, 10)
    # The Ack answering the SyncRequest said 8: nothing already applied went out again.
    assert peer.received_seqs == list(range(1, 11)), (second.state(), peer.syncs, peer.acks_log)
    assert ledger.acked_seq == 10
