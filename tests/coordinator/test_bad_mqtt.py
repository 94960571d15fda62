"""Bad MQTT input is refused, counted per reason and kiosk, visible to ops, and never stops
ingest or poisons a kiosk's stream."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest

from shared import topics
from shared.events import Adjustment, CheckIn, Event
from shared.protocol import (
    MAX_PAYLOAD_BYTES,
    MAX_VERSION,
    Ack,
    EventBatch,
    Heartbeat,
    SyncRequest,
    Versions,
    decode,
    encode,
)
from shared.topics import Channel
from simulators.waiting import poll_until
from tests.coordinator.harness import Harness


class Rogue:
    """A raw MQTT client that publishes anything and records the acks it hears."""

    def __init__(self, harness: Harness, client_id: str = "rogue"):
        self.acks: list[Ack] = []
        self._cond = threading.Condition()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.connect(harness.broker.host, harness.broker.port)
        self.client.loop_start()
        self.client.subscribe("tapfleet/v1/kiosk/+/ack", qos=1)
        assert subscribed.wait(10), "rogue client could not subscribe"

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        message = decode(msg.payload)
        with self._cond:
            if isinstance(message, Ack):
                self.acks.append(message)
            self._cond.notify_all()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def wait_ack(self, kiosk_id: str, acked: int, timeout: float = 10.0) -> Ack:
        with self._cond:
            ok = self._cond.wait_for(
                lambda: any(a.kiosk_id == kiosk_id and a.acked_seq >= acked for a in self.acks),
                timeout,
            )
        assert ok, f"no ack >= {acked} for {kiosk_id}; acks: {self.acks}"
        return next(a for a in self.acks if a.kiosk_id == kiosk_id and a.acked_seq >= acked)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def rogue(harness: Harness) -> Iterator[Rogue]:
    harness.add_store("s1")
    harness.add_member("m1")
    harness.add_kiosk("k1", "s1")
    r = Rogue(harness)
    try:
        yield r
    finally:
        r.close()


def event(seq: int, kiosk_id: str = "k1", body: object = None, **kw: object) -> Event:
    now = 1_795_000_000_000 + seq
    return Event(
        event_id=uuid.uuid4().hex,
        kiosk_id=kiosk_id,
        store_id=kw.pop("store_id", "s1"),  # type: ignore[arg-type]
        seq=seq,
        hlc_ms=now,
        wall_ms=now,
        member_id="m1",
        offline=True,
        body=body or CheckIn(points=10),
        **kw,  # type: ignore[arg-type]
    )


def batch(*events: Event, kiosk_id: str = "k1") -> bytes:
    return encode(EventBatch(kiosk_id=kiosk_id, events=tuple(events)))


EVENTS = topics.kiosk_topic("k1", Channel.EVENTS)


def test_bad_messages_are_counted_and_ingest_goes_on(harness: Harness, rogue: Rogue) -> None:
    h = harness
    good = batch(event(1))
    wrong_version = json.loads(good)
    wrong_version["v"] = 2
    rogue.publish(EVENTS, b"{not json")
    rogue.publish(EVENTS, b"x" * (MAX_PAYLOAD_BYTES + 1))
    rogue.publish(EVENTS, json.dumps(wrong_version).encode())
    rogue.publish(EVENTS, batch(event(1, kiosk_id="k2"), kiosk_id="k2"))  # names another kiosk
    rogue.publish(
        EVENTS,
        encode(Heartbeat(kiosk_id="k1", store_id="s1", sent_wall_ms=1, hlc_ms=1)),
    )  # a heartbeat on the events channel
    rogue.publish(
        topics.kiosk_topic("ghost", Channel.EVENTS), batch(event(1, "ghost"), kiosk_id="ghost")
    )
    rogue.publish(EVENTS, b"")
    # ... and a good batch after all that is applied and acknowledged.
    rogue.publish(EVENTS, good)
    rogue.wait_ack("k1", 1)
    assert h.applied_seq("k1") == 1

    expected = {
        "protocol_error": 2,
        "payload_too_large": 1,
        "unsupported_version": 1,
        "kiosk_mismatch": 1,
        "wrong_message_type": 1,
        "unknown_kiosk": 1,
    }
    assert poll_until(lambda: h.rejections() == expected), h.rejections()
    rows = h.call("GET", "/api/v1/ops/rejections", expect=200)["items"]
    by_key = {(r["kiosk_key"], r["reason"]): r for r in rows}
    assert ("_unknown", "unknown_kiosk") in by_key
    assert "ghost" in by_key[("_unknown", "unknown_kiosk")]["last_detail"]
    assert "field: v" in by_key[("k1", "unsupported_version")]["last_detail"]
    metrics = h.client.get("/metrics").text
    assert 'tapfleet_ingest_rejected_total{kiosk="k1",reason="payload_too_large"} 1.0' in metrics


def test_gap_is_held_and_resend_is_asked_for(harness: Harness, rogue: Rogue) -> None:
    h = harness
    e1, e2, e3, e4 = (event(s) for s in (1, 2, 3, 4))
    rogue.publish(EVENTS, batch(e1, e3, e4))
    ack = rogue.wait_ack("k1", 1)
    assert (ack.acked_seq, ack.resend_from) == (1, 2)
    assert h.call("GET", "/api/v1/ops/ingest")["held_events"] == {
        "k1": {"held": 2, "lowest_seq": 3}
    }
    rogue.publish(EVENTS, batch(e2))
    ack = rogue.wait_ack("k1", 4)
    assert ack.resend_from is None
    assert [e.seq for e in h.events(source="k1")] == [1, 2, 3, 4]
    assert h.call("GET", "/api/v1/ops/ingest")["held_events"] == {}
    # Duplicates of everything: no-ops, still acknowledged.
    rogue.acks.clear()
    rogue.publish(EVENTS, batch(e1, e2, e3, e4))
    assert rogue.wait_ack("k1", 4).resend_from is None
    assert len(h.events(source="k1")) == 4
    assert h.central("m1") == h.reference("m1")
    assert h.central("m1").points_earned_total == 40


def test_poisoned_seq_is_rejected_and_never_overwrites(harness: Harness, rogue: Rogue) -> None:
    h = harness
    original = event(1)
    rogue.publish(EVENTS, batch(original))
    rogue.wait_ack("k1", 1)
    impostor = event(1, body=CheckIn(points=500))
    rogue.publish(EVENTS, batch(impostor, event(2)))
    rogue.wait_ack("k1", 2)
    stored = h.events(source="k1")
    assert (stored[0].seq, stored[0].event_id) == (1, original.event_id)
    assert h.central("m1").points_earned_total == 20
    assert poll_until(lambda: h.rejections().get("poisoned_seq") == 1)
    [conflict] = h.conflicts(kind="poisoned_seq")
    assert (
        impostor.event_id in conflict["explanation"]
        and original.event_id in conflict["explanation"]
    )
    assert h.call("GET", "/api/v1/kiosks/k1")["evidence"]["poisoned_count"] == 1


def test_forbidden_event_is_recorded_but_not_folded_and_the_stream_continues(
    harness: Harness, rogue: Rogue
) -> None:
    h = harness
    forged = event(1, body=Adjustment(staff_user="k1", reason="free points", points_delta=9999))
    wrong_store = event(2, store_id="s9")
    rogue.publish(EVENTS, batch(forged, wrong_store, event(3)))
    rogue.wait_ack("k1", 3)
    assert h.applied_seq("k1") == 3
    assert h.central("m1").points_available(h.coord.clock.wall_ms()) == 10
    kinds = sorted(c["kind"] for c in h.conflicts())
    assert kinds == ["quarantined_event", "quarantined_event"]
    listed = h.call("GET", "/api/v1/events", source="k1")["items"]
    assert [e["quarantined"] for e in listed] == [True, True, False]
    assert poll_until(lambda: h.rejections().get("event_quarantined") == 2)


def test_revoked_kiosk_is_refused(harness: Harness, rogue: Rogue) -> None:
    h = harness
    h.call("POST", "/api/v1/kiosks/k1/revoke", expect=200)
    rogue.publish(EVENTS, batch(event(1)))
    assert poll_until(lambda: h.rejections().get("kiosk_revoked") == 1)
    assert h.applied_seq("k1") == 0


def test_subscriptions_come_from_the_handler_registry(harness: Harness) -> None:
    ingest = harness.coord.ingest
    assert set(ingest.handlers) == set(topics.UP_CHANNELS)
    assert ingest.subscriptions() == [
        (topics.subscription(channel, "coordinators"), topics.QOS[channel])
        for channel in ingest.handlers
    ]
    # Status is never shared (retained messages skip shared subscriptions).
    assert ("tapfleet/v1/kiosk/+/status", 1) in ingest.subscriptions()


def test_garbage_on_a_stranger_topic_is_pooled_under_unknown(
    harness: Harness, rogue: Rogue
) -> None:
    for n in range(5):
        rogue.publish(topics.kiosk_topic(f"stranger{n}", Channel.EVENTS), b"junk")
    assert poll_until(lambda: harness.rejections().get("protocol_error") == 5)
    rows = harness.call("GET", "/api/v1/ops/rejections")["items"]
    assert {r["kiosk_key"] for r in rows} == {"_unknown"}
    assert "stranger4" in rows[0]["last_detail"]


def test_a_sync_at_the_version_limit_is_refused_and_counted(harness: Harness, rogue: Rogue) -> None:
    """A kiosk reporting a version no newer one can follow (the wire's largest) is refused
    in words and counted; the coordinator's counters stay where they were and it answers the
    next honest sync as before (hypothesis found the overflow this guards against)."""
    h = harness
    sync = topics.kiosk_topic("k1", Channel.SYNC)
    limit = SyncRequest(
        kiosk_id="k1", store_id="s1", versions=Versions(deny=MAX_VERSION, members=MAX_VERSION)
    )
    rogue.publish(sync, encode(limit))
    assert poll_until(lambda: h.rejections().get("version_out_of_range") == 1), h.rejections()
    rows = h.call("GET", "/api/v1/ops/rejections", expect=200)["items"]
    [row] = [r for r in rows if r["reason"] == "version_out_of_range"]
    assert "deny, members version at the protocol's limit" in row["last_detail"]
    versions = h.call("GET", "/api/v1/ops/ingest", expect=200)["versions"]
    assert versions["deny"] < MAX_VERSION and versions["members"] < MAX_VERSION
    # An honest kiosk is answered as before (its sync is acknowledged).
    rogue.publish(sync, encode(SyncRequest(kiosk_id="k1", store_id="s1", versions=Versions())))
    rogue.wait_ack("k1", 0)
