"""What the coordinator pushes down: dispatch, bad input counted, handlers isolated."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest

from device.link import DownstreamRefused, KioskLink, LinkSettings
from device.link.downstream import downstream_types, read_downstream
from device.ports import ApplyOutcome
from shared import protocol as p
from shared import topics
from shared.model import DenyEntry, MemberRecord, RuleBundle
from shared.topics import Channel
from tests.link.ledgers import RecordingLedger
from tests.link.peer import CoordinatorPeer

Make = Callable[..., KioskLink]
DIRECT = topics.kiosk_topic("k1", Channel.DIRECT)
ACK = topics.kiosk_topic("k1", Channel.ACK)
STORE = topics.store_topic("s1")
FLEET = topics.fleet_topic()


def members(version: int, base: int = 0, store: str = "s1") -> p.MemberUpdate:
    return p.MemberUpdate(
        store_id=store,
        version=version,
        base_version=base,
        members=(MemberRecord(member_id="m1", display_name="李*华"),),
    )


def ack(kiosk: str = "k1") -> p.Ack:
    return p.Ack(kiosk_id=kiosk, acked_seq=0, hlc_ms=1, coordinator_wall_ms=1)


# --- read_downstream (pure) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "payload", "counter"),
    [
        ("tapfleet/v1/kiosk/k2/down", p.encode(members(1)), "messages_foreign"),
        (topics.store_topic("s2"), p.encode(members(1)), "messages_foreign"),
        ("elsewhere/x", b"{}", "messages_foreign"),
        (DIRECT, b"\xff\xfe not json", "messages_malformed"),
        (DIRECT, b"[1, 2]", "messages_malformed"),
        (DIRECT, json.dumps({"v": 99, "type": "members"}).encode(), "messages_malformed"),
        (
            DIRECT,
            json.dumps({"v": 1, "type": "members", "store_id": "s1"}).encode(),
            "messages_malformed",
        ),
        (DIRECT, p.encode(ack()), "messages_disallowed"),
        (FLEET, p.encode(members(1)), "messages_disallowed"),
        (ACK, p.encode(ack("k2")), "messages_disallowed"),
        (DIRECT, p.encode(members(1, store="s2")), "messages_disallowed"),
    ],
)
def test_read_downstream_refuses_with_the_right_counter(
    topic: str, payload: bytes, counter: str
) -> None:
    with pytest.raises(DownstreamRefused) as info:
        read_downstream(topic, payload, "k1", "s1")
    assert info.value.counter == counter


def test_read_downstream_accepts_each_allowed_kind() -> None:
    assert read_downstream(ACK, p.encode(ack()), "k1", "s1")[0] is Channel.ACK
    assert read_downstream(STORE, p.encode(members(2)), "k1", "s1") == (Channel.STORE, members(2))
    deny = p.DenyListUpdate(version=3, added=(DenyEntry(uid="04A1B2C3", revoked_ms=5),))
    assert read_downstream(FLEET, p.encode(deny), "k1", "s1") == (Channel.FLEET, deny)


def test_every_downstream_type_has_a_handler(ledger: RecordingLedger) -> None:
    link = KioskLink(LinkSettings(), ledger)  # constructing connects nothing
    assert downstream_types() == set(link._handlers)
    assert not link.state().connected


# --- through the broker --------------------------------------------------------------------


def test_updates_are_dispatched_to_the_ledger(
    peer: CoordinatorPeer, ledger: RecordingLedger, make_link: Make
) -> None:
    link = make_link(ledger)
    assert peer.wait(lambda: len(peer.syncs) == 1)
    bundle = p.RuleBundleMessage(bundle=RuleBundle(version=4))
    deny = p.DenyListUpdate(version=2, full=True)
    peer.publish(STORE, p.encode(members(1)))
    peer.publish(FLEET, p.encode(bundle))
    peer.publish(FLEET, p.encode(deny))
    assert link.wait_for(lambda s: s.counters["applied"] == 3, 10)
    assert [m for m, _ in ledger.applied] == [members(1), bundle, deny]
    assert ledger.versions() == p.Versions(rules=4, deny=2, members=1)
    state = link.state()
    assert state.online and state.coordinator_seen_ms is not None


def test_malformed_and_disallowed_messages_are_counted_not_fatal(
    peer: CoordinatorPeer,
    ledger: RecordingLedger,
    make_link: Make,
    caplog: pytest.LogCaptureFixture,
) -> None:
    link = make_link(ledger)
    assert peer.wait(lambda: len(peer.syncs) == 1)
    caplog.set_level(logging.WARNING)
    peer.publish(DIRECT, b"not json at all")
    peer.publish(DIRECT, b'{"v": 2, "type": "members"}')
    peer.publish(DIRECT, b'{"v": 1, "type": "members", "store_id": "s1", "version": -1}')
    peer.publish(DIRECT, b"\x00" * 100)
    peer.publish(FLEET, p.encode(members(1)))  # members never travel on the fleet channel
    peer.publish(DIRECT, p.encode(ack()))  # an Ack on the wrong channel
    peer.publish(ACK, p.encode(ack("k2")))  # someone else's Ack
    peer.publish(DIRECT, p.encode(members(7)))  # and after all that, a good one
    assert link.wait_for(lambda s: s.counters["applied"] == 1, 10)
    counters = link.state().counters
    assert counters["messages_malformed"] == 4
    assert counters["messages_disallowed"] == 3
    assert counters["handler_errors"] == 0
    assert ledger.applied == [(members(7), ApplyOutcome.APPLIED)]
    refusals = [r for r in caplog.records if "refused downstream" in r.getMessage()]
    assert len(refusals) == 7
    assert all("k1" in r.getMessage() and r.exc_info is None for r in refusals)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]


@pytest.mark.allow_logged_exceptions
def test_a_failing_ledger_handler_does_not_stop_the_loop(
    peer: CoordinatorPeer, ledger: RecordingLedger, make_link: Make
) -> None:
    link = make_link(ledger)
    assert peer.wait(lambda: len(peer.syncs) == 1)
    ledger.explode_next_apply = True
    peer.publish(DIRECT, p.encode(members(1)))
    assert link.wait_for(lambda s: s.counters["handler_errors"] == 1, 10)
    peer.publish(DIRECT, p.encode(members(2)))
    assert link.wait_for(lambda s: s.counters["applied"] == 1, 10)
    ledger.append(1)
    link.notify_new_events()
    assert link.wait_for(lambda s: s.acked_seq == 1, 10)


def test_need_sync_sends_a_rate_limited_sync_request(
    peer: CoordinatorPeer, ledger: RecordingLedger, make_link: Make
) -> None:
    link = make_link(ledger, sync_min_interval_s=60)
    assert peer.wait(lambda: len(peer.syncs) == 1)  # the one sent on connect
    for version in (5, 6, 7):  # deltas on a base this kiosk does not have
        peer.publish(DIRECT, p.encode(members(version, base=4)))
    assert link.wait_for(lambda s: s.counters["need_sync"] == 3, 10)
    # The connect sync was just sent: further ones wait out sync_min_interval_s.
    assert not peer.wait(lambda: len(peer.syncs) > 1, timeout_s=0.5)
    assert link.state().counters["syncs_suppressed"] == 2


def test_need_sync_sends_a_sync_request_when_allowed(
    peer: CoordinatorPeer, ledger: RecordingLedger, make_link: Make
) -> None:
    link = make_link(ledger, sync_min_interval_s=0.2)
    assert peer.wait(lambda: len(peer.syncs) == 1)
    ledger.append(4)
    peer.publish(DIRECT, p.encode(members(9, base=8)))
    assert peer.wait(lambda: len(peer.syncs) == 2)
    sync = peer.syncs[-1]
    assert (sync.kiosk_id, sync.store_id, sync.last_seq) == ("k1", "s1", 4)
    assert link.wait_for(lambda s: s.counters["syncs_sent"] == 2, 10)


def test_a_deliberate_ledger_refusal_is_a_warning_and_asks_for_a_sync(
    peer: CoordinatorPeer,
    ledger: RecordingLedger,
    make_link: Make,
    caplog: pytest.LogCaptureFixture,
) -> None:
    link = make_link(ledger, sync_min_interval_s=0.2)
    assert peer.wait(lambda: len(peer.syncs) == 1)
    caplog.set_level(logging.WARNING)
    # Schema-valid, but chunk 3 of a 2-chunk snapshot: the ledger refuses it on purpose.
    bad = p.MemberUpdate(store_id="s1", version=9, full=True, chunk=3, chunks=2)
    peer.publish(DIRECT, p.encode(bad))
    assert link.wait_for(lambda s: s.counters["ledger_refusals"] == 1, 10)
    assert peer.wait(lambda: len(peer.syncs) == 2)
    assert link.state().counters["handler_errors"] == 0
    warned = [r for r in caplog.records if "not applied" in r.getMessage()]
    assert warned and warned[0].exc_info is None and "chunk" in warned[0].getMessage()
