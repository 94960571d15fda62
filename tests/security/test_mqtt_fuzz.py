"""Hostile MQTT traffic through the real broker into the real coordinator.

A registered kiosk gone rogue (``k-evil``, with its own valid broker login, so every message
reaches the coordinator) sends what hypothesis makes up — random bytes, random JSON, JSON
shaped like protocol messages, and well-formed but hostile messages (seq gaps and jumps,
events for other kiosks, stores and members, forbidden event kinds, absurd clocks and
versions) — on all of its up-channels. Meanwhile a legitimate real kiosk keeps tapping.

Afterwards: the coordinator never logged an error or failed a handler, refused and counted
the garbage, and applied every one of the legitimate kiosk's events, in order, with
nothing stuck.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import topics
from shared.events import (
    Adjustment,
    CheckIn,
    ClassSignIn,
    CouponRedeem,
    Event,
    PointsRedeem,
    Rejected,
)
from shared.protocol import (
    CouponClaim,
    EventBatch,
    Heartbeat,
    Status,
    SyncRequest,
    Versions,
    encode,
)
from shared.topics import Channel
from simulators.broker import Broker
from simulators.waiting import wait_until
from tests.security.stack import Probe, live_coordinator

CARD = "04A1B2C3D4E5F6"
EVIL = "k-evil"
NOW = time.time_ns() // 1_000_000

ids = st.sampled_from(["m1", "m-ghost", "k-good", EVIL, "s1", "s2", "x" * 64, "a.b:c-d_e"])
times = st.sampled_from([0, 1, NOW, NOW + 1, NOW + 10 * 365 * 86_400_000, 10**14])
seqs = st.sampled_from([1, 2, 3, 7, 1000, 10**9, 2**62])
bodies = st.one_of(
    st.builds(CheckIn, points=st.sampled_from([0, 10, 10**9])),
    st.builds(PointsRedeem, points=st.sampled_from([1, 10**7])),
    st.builds(CouponRedeem, coupon_id=ids),
    st.builds(ClassSignIn, class_session_id=ids, class_type=ids, pass_id=ids),
    st.builds(Rejected, reason=st.just("unknown_card")),
    st.builds(
        Adjustment,
        staff_user=ids,
        reason=st.just("free points"),
        points_delta=st.sampled_from([10**7, -(10**7)]),
    ),
)
events = st.builds(
    Event,
    event_id=st.one_of(st.just("0" * 32), st.uuids().map(lambda u: u.hex)),
    kiosk_id=st.sampled_from([EVIL, EVIL, "k-good"]),
    store_id=st.sampled_from(["s1", "s1", "s2", None]),
    seq=seqs,
    hlc_ms=times,
    wall_ms=times,
    member_id=st.one_of(st.none(), ids),
    offline=st.booleans(),
    body=bodies,
)
hostile_messages = st.one_of(
    st.builds(
        EventBatch,
        kiosk_id=st.sampled_from([EVIL, EVIL, "k-good"]),
        events=st.lists(events, min_size=1, max_size=5).map(tuple),
    ),
    st.builds(
        Heartbeat,
        kiosk_id=st.sampled_from([EVIL, "k-good"]),
        store_id=st.sampled_from(["s1", "s2"]),
        sent_wall_ms=times,
        hlc_ms=times,
        last_seq=seqs,
        acked_seq=seqs,
        clock_offset_ms=st.sampled_from([None, -(10**12)]),
    ),
    st.builds(
        SyncRequest,
        kiosk_id=st.sampled_from([EVIL, "k-good"]),
        store_id=st.sampled_from(["s1", "s2"]),
        versions=st.builds(Versions, rules=seqs, deny=seqs, members=seqs),
        last_seq=seqs,
    ),
    st.builds(CouponClaim, kiosk_id=st.just(EVIL), claim_id=ids, member_id=ids, coupon_id=ids),
    st.builds(
        Status,
        kiosk_id=st.sampled_from([EVIL, "k-good"]),
        state=st.sampled_from(["online", "offline"]),
        at_ms=times,
    ),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
protocol_shaped = st.fixed_dictionaries(
    {"v": st.sampled_from([1, 1, 2, "1", None]),
     "type": st.sampled_from(["events", "heartbeat", "sync", "claim", "status", "ack", "rules",
                              "members", "deny", "x"]),
     "kiosk_id": st.sampled_from([EVIL, "k-good", "", None, 7])},
    optional={"events": json_values, "store_id": json_values, "versions": json_values},
)  # fmt: skip
payloads = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    protocol_shaped.map(lambda v: json.dumps(v).encode()),
    hostile_messages.map(encode),
    hostile_messages.map(encode),  # (twice: well-formed hostility is the interesting part)
    hostile_messages.map(lambda m: encode(m)[:-7]),  # truncated
)
channels = st.sampled_from(sorted(topics.UP_CHANNELS))
traffic = st.lists(st.tuples(channels, payloads, st.booleans()), min_size=1, max_size=6)


def test_hostile_mqtt_traffic_neither_crashes_nor_stalls_the_coordinator(
    secure_broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with live_coordinator(tmp_path, secure_broker) as live:
        live.add_store("s1")
        live.add_store("s2")
        live.add_member("m1", store_scope=["s1"])
        live.call("POST", "/api/v1/members/m1/cards", json={"uid": CARD}, expect=201)
        good = live.provision("k-good", "s1")
        evil = live.provision(EVIL, "s1")
        link, ledger = live.real_kiosk(tmp_path, good)
        wait_until(lambda: ledger.real.member_summary("m1") is not None, what="k-good synced")
        probe = Probe.connect(secure_broker, EVIL, evil["mqtt"]["password"])
        ingest = live.coord.ingest
        sent = {"hostile": 0, "taps": 0}
        sentinel = iter(range(1, 10**6))

        def tap() -> None:
            ledger.real.tap_card(CARD)
            sent["taps"] += 1
            link.notify_new_events()

        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(traffic)
        def hostile_round(messages: list[tuple[Channel, bytes, bool]]) -> None:
            for channel, payload, retain in messages:
                probe.client.publish(
                    topics.kiosk_topic(EVIL, channel), payload, qos=1, retain=retain
                ).wait_for_publish(10)
                sent["hostile"] += 1
            tap()
            # Barrier: a well-formed heartbeat after the junk; once it is recorded and the
            # ingest is idle, everything before it was handled.
            mark = next(sentinel)
            beat = Heartbeat(kiosk_id=EVIL, store_id="s1", sent_wall_ms=NOW, hlc_ms=NOW,
                             uptime_s=mark)  # fmt: skip
            probe.publish(topics.kiosk_topic(EVIL, Channel.HEARTBEAT), encode(beat))
            wait_until(lambda: _uptime(live, EVIL) == mark, what=f"sentinel {mark}")
            assert ingest.wait_idle(10)

        try:
            rejected_before = sum(live.rejections().values())
            hostile_round()
        finally:
            probe.close()

        # The legitimate stream: every tap applied, in seq order, none held back.
        last = ledger.outbox_stats().last_seq
        assert last >= sent["taps"] >= 40
        assert link.wait_for(lambda s: s.acked_seq == last, 30), link.state()
        assert live.applied_seq("k-good") == last
        listed = live.call("GET", "/api/v1/events", source="k-good", limit=1000)["items"]
        assert [e["seq"] for e in listed] == list(range(1, last + 1))
        assert "k-good" not in live.call("GET", "/api/v1/ops/ingest")["held_events"]
        evidence = live.call("GET", "/api/v1/kiosks/k-good")["evidence"]
        assert evidence["poisoned_count"] == 0, evidence

        # The garbage was refused and counted, and nothing failed inside the coordinator.
        totals = live.rejections()
        assert sum(totals.values()) > rejected_before
        assert "handler_error" not in totals, totals
        metrics = live.http.get("/metrics").text
        assert "tapfleet_ingest_rejected_total" in metrics
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not errors, [r.getMessage() for r in errors[:5]]
        assert live.http.get("/healthz").json()["status"] == "ok"
        assert sent["hostile"] >= 40


def _uptime(live: Any, kiosk_id: str) -> int | None:
    beat = live.call("GET", f"/api/v1/kiosks/{kiosk_id}")["evidence"]["heartbeat"] or {}
    return beat.get("uptime_s")
