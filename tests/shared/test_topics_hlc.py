"""Topic tree and hybrid logical clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import topics
from shared.errors import TopicError
from shared.hlc import HLC, ZERO, merge, tick
from shared.protocol import Ack, Heartbeat
from shared.topics import Channel
from tests.support.factories import T0


def test_build_and_parse_round_trip() -> None:
    for channel in topics.UP_CHANNELS | topics.KIOSK_DOWN_CHANNELS:
        parsed = topics.parse(topics.kiosk_topic("s1-k1", channel))
        assert parsed == topics.ParsedTopic(channel, kiosk_id="s1-k1")
    assert topics.parse(topics.store_topic("s1")).store_id == "s1"
    assert topics.parse(topics.fleet_topic()).channel is Channel.FLEET


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "tapfleet",
        "tapfleet/v2/kiosk/k1/events",
        "tapfleet/v1/kiosk/k1/teleport",
        "tapfleet/v1/kiosk/k+1/events",
        "tapfleet/v1/kiosk/#/events",
        "tapfleet/v1/store/s1",
        "tapfleet/v1/kiosk/k1/events/extra",
        "other/v1/kiosk/k1/events",
    ],
)
def test_parse_refuses_topics_outside_the_tree(bad: str) -> None:
    with pytest.raises(TopicError):
        topics.parse(bad)


def test_subscriptions_and_acl() -> None:
    assert topics.subscription(Channel.EVENTS, "coord") == "$share/coord/tapfleet/v1/kiosk/+/events"
    assert topics.subscription(Channel.STATUS, "coord") == "tapfleet/v1/kiosk/+/status"
    with pytest.raises(TopicError):
        topics.subscription(Channel.ACK)
    acl = topics.kiosk_acl("s1-k1", "s1")
    writes = {t for a, t in acl if a == "write"}
    reads = {t for a, t in acl if a == "read"}
    assert all(t.startswith("tapfleet/v1/kiosk/s1-k1/") for t in writes)
    assert "tapfleet/v1/store/s1/down" in reads and "tapfleet/v1/store/s2/down" not in reads
    assert not any("s2" in t for t in writes | reads)


def test_allowed_messages_per_channel() -> None:
    ack = Ack(kiosk_id="k1", acked_seq=1, hlc_ms=T0, coordinator_wall_ms=T0)
    hb = Heartbeat(kiosk_id="k1", store_id="s1", sent_wall_ms=T0, hlc_ms=T0)
    assert topics.allowed(Channel.ACK, ack) and not topics.allowed(Channel.EVENTS, ack)
    assert topics.allowed(Channel.HEARTBEAT, hb) and not topics.allowed(Channel.FLEET, hb)


def test_hlc_never_goes_backwards_when_the_wall_clock_does() -> None:
    t = tick(ZERO, T0)
    later = tick(t, T0 - 10**9)  # clock jumped back years after a reboot
    assert later > t
    pulled = merge(later, HLC(T0 + 5_000, 3), T0 - 10**9)
    assert pulled == HLC(T0 + 5_000, 4)
    assert HLC.decode(pulled.encode()) == pulled


@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(0, 10**13), st.integers(0, 10**13), st.integers(0, 50))
    )
)
def test_hlc_is_monotonic(steps) -> None:  # type: ignore[no-untyped-def]
    clock = ZERO
    for is_merge, physical, remote_wall, remote_c in steps:
        new = (
            merge(clock, HLC(remote_wall, remote_c), physical)
            if is_merge
            else tick(clock, physical)
        )
        assert new > clock
        if is_merge:
            assert new > HLC(remote_wall, remote_c)
        clock = new
