"""The broker goes away: the kiosk keeps working, reports offline, reconnects and catches up."""

from __future__ import annotations

from collections.abc import Callable

from device.link import KioskLink
from device.ports import ApplyOutcome
from shared import protocol as p
from shared.model import MemberRecord
from simulators.broker import Broker
from tests.link.ledgers import RecordingLedger
from tests.link.peer import CoordinatorPeer

Make = Callable[..., KioskLink]


def test_broker_outage_backlog_drains_in_order_after_reconnect(
    broker: Broker, peer: CoordinatorPeer, ledger: RecordingLedger, make_link: Make
) -> None:
    ledger.append(10)
    link = make_link(ledger, batch_events=4, window_events=8)
    assert link.wait_for(lambda s: s.acked_seq == 10 and s.online, 10)

    broker.stop()
    assert link.wait_for(lambda s: not s.connected and not s.online, 10)
    assert ledger.online_calls[-1] is False
    # Taps keep happening offline; the link neither raises nor gives up.
    for _ in range(5):
        ledger.append(7)
        link.notify_new_events()
    assert link.state().acked_seq == 10
    failures_before = link.state().counters["connect_failures"]
    assert link.wait_for(lambda s: s.counters["connect_failures"] >= failures_before + 2, 10)

    broker.start()
    state = link.wait_for(lambda s: s.acked_seq == 45 and s.online, 20)
    assert state is not None, link.state()
    assert state.reconnects >= 1
    assert ledger.acked_seq == 45
    assert peer.first_seen == list(range(1, 46))  # order held across the outage
    assert peer.contiguous["k1"] == 45
    assert peer.max_outstanding <= 8
    assert ledger.online_calls[-2:] == [False, True]


def test_link_starts_while_the_broker_is_down(
    broker: Broker, peer: CoordinatorPeer, ledger: RecordingLedger, make_link: Make
) -> None:
    broker.stop()
    ledger.append(3)
    link = make_link(ledger)
    assert link.wait_for(lambda s: s.counters["connect_failures"] >= 2, 10)
    assert not link.state().connected
    broker.start()
    assert link.wait_for(lambda s: s.acked_seq == 3, 20)
    assert peer.first_seen == [1, 2, 3]


def test_downstream_waits_in_the_session_while_the_kiosk_is_away(
    peer: CoordinatorPeer, ledger: RecordingLedger, make_link: Make
) -> None:
    first = make_link(ledger)
    assert first.wait_for(lambda s: s.connected, 10)
    assert peer.wait(lambda: len(peer.syncs) == 1)  # subscriptions are in place by now
    first.stop()
    update = p.MemberUpdate(
        store_id="s1",
        version=1,
        members=(MemberRecord(member_id="m1", display_name="Anna L."),),
    )
    peer.send_direct("k1", update)
    second = make_link(ledger)
    assert second.wait_for(lambda s: s.counters["applied"] == 1, 10)
    assert ledger.applied == [(update, ApplyOutcome.APPLIED)]
    assert ledger.versions().members == 1
