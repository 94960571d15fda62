"""Ingest: the coordinator applying events from many kiosks, vs raw QoS 1 publish->subscribe.

Tapfleet: the real ``tapfleet coordinator`` process (SQLite ledger, members bulk-seeded,
each kiosk's members its own store's) behind a private Mosquitto with the shipped config.
Simulated kiosks (:class:`SimKiosk`: one paho client each, the real codec and topic tree)
publish check-ins as EventBatches of 50; the clock runs from the first publish until every
kiosk holds an Ack for its last seq (the coordinator acks only after its commit). The
batches are encoded before the clock starts, as the raw baseline's payloads are.

Baseline: as many raw paho clients as kiosks publish, QoS 1, the same number of messages as
there are events, each the size of a one-event EventBatch, to a raw paho subscriber process
through the same broker.

Loss is checked on both sides: every event must be in the coordinator's ``events`` table
(and acked), every raw message must reach the subscriber.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH_COORDINATOR,
    Result,
    emit,
    parse_args,
    progress,
    rate,
    running_broker,
    work_dir,
)
from bench.raw_mqtt import measure
from bench.seed import card_uid, member_id, seed_coordinator
from simulators.services import CoordinatorProcess

NAME = "ingest"
BATCH = 50
MEMBERS_PER_KIOSK = 50


class SimKiosk:
    """A simulated kiosk: what a kiosk sends, on the real protocol, and nothing else.

    A paho client (MQTT v5, client id = kiosk id) that publishes its EventBatches on its
    events topic and follows the coordinator's Acks on its ack topic. It does not subscribe
    to member deltas and rule bundles: decoding those is a kiosk's own CPU, and 20 kiosks'
    worth of it in this one process would make the simulator, not the coordinator, the
    bottleneck.
    """

    def __init__(self, kiosk_id: str, store_id: str, port: int, pushes: bool = False) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        from shared import topics
        from shared.topics import Channel

        self.kiosk_id = kiosk_id
        self.store_id = store_id
        self.events_topic = topics.kiosk_topic(kiosk_id, Channel.EVENTS)
        self.acked_seq = 0
        self.resends = 0
        self.pushes = 0
        """Messages on the kiosk's other down topics (member deltas, bundles), not decoded."""
        self._cond = threading.Condition()
        self._subscribed = False
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=kiosk_id, protocol=mqtt.MQTTv5)
        ack_topic = topics.kiosk_topic(kiosk_id, Channel.ACK)
        self._ack_topic = ack_topic
        if pushes:  # every topic a kiosk follows, as a real one (acks among them)
            wanted = list(topics.kiosk_subscriptions(kiosk_id, store_id))
            client.on_connect = lambda c, *_: c.subscribe(wanted)
        else:
            client.on_connect = lambda c, *_: c.subscribe(ack_topic, qos=1)
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.connect("127.0.0.1", port, keepalive=60, clean_start=True)
        client.loop_start()
        self._client = client
        with self._cond:
            if not self._cond.wait_for(lambda: self._subscribed, 10):
                raise RuntimeError(f"simulated kiosk {kiosk_id} could not subscribe")

    def _on_subscribe(self, *_args: object) -> None:
        with self._cond:
            self._subscribed = True
            self._cond.notify_all()

    def _on_message(self, _client: object, _userdata: object, msg: object) -> None:
        from shared.protocol import Ack, decode

        if msg.topic != self._ack_topic:  # type: ignore[attr-defined]
            with self._cond:
                self.pushes += 1
            return
        ack = decode(msg.payload)  # type: ignore[attr-defined]
        if isinstance(ack, Ack):
            with self._cond:
                self.acked_seq = max(self.acked_seq, ack.acked_seq)
                self.resends += ack.resend_from is not None
                self._cond.notify_all()

    def publish(self, payload: bytes) -> None:
        """Queue one EventBatch (QoS 1)."""
        self._client.publish(self.events_topic, payload, qos=1)

    def wait_acked(self, seq: int, timeout: float) -> bool:
        """Wait for an Ack of ``seq``."""
        with self._cond:
            return self._cond.wait_for(lambda: self.acked_seq >= seq, timeout)

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


def mix_bodies(kiosk_id: str, count: int) -> list[Any]:
    """``count`` event bodies in the fleet swarm's mix (``simulators.swarm.Mix``: 70 %
    check-ins earning points, 20 % class sign-ins paying a punch-pass session, 10 % points
    redemptions), drawn from a generator seeded by the kiosk id."""
    from shared.events import CheckIn, ClassSignIn, PointsRedeem
    from simulators.swarm import Mix

    mix, rng = Mix(), random.Random(kiosk_id)
    out: list[Any] = []
    for _ in range(count):
        roll = rng.random()
        if roll < mix.checkin:
            out.append(CheckIn(points=10))
        elif roll < mix.checkin + mix.signin:
            out.append(
                ClassSignIn(
                    class_session_id=mix.class_session_id, class_type="yoga", pass_id=mix.pass_id
                )
            )
        else:
            out.append(PointsRedeem(points=mix.reward_points, reward_id=mix.reward_id))
    return out


def batches(
    kiosk_id: str, store_id: str, members: list[str], count: int, mix: bool = False
) -> list[bytes]:
    """``count`` check-ins (seq 1..count, now), or events of the swarm's mix, as encoded
    EventBatches of ``BATCH``."""
    from shared.events import CheckIn, CredentialKind, CredentialRef, Event
    from shared.protocol import EventBatch, encode

    bodies = mix_bodies(kiosk_id, count) if mix else [CheckIn(points=0)] * count
    now = time.time_ns() // 1_000_000
    events = [
        Event(
            event_id=uuid.uuid4().hex,
            kiosk_id=kiosk_id,
            store_id=store_id,
            seq=seq,
            hlc_ms=now,
            hlc_c=seq,
            wall_ms=now,
            member_id=members[seq % len(members)],
            rules_version=1,
            credential=CredentialRef(kind=CredentialKind.CARD, uid=card_uid(seq % 1000)),
            body=bodies[seq - 1],
        )
        for seq in range(1, count + 1)
    ]
    return [
        encode(EventBatch(kiosk_id=kiosk_id, events=tuple(events[i : i + BATCH])))
        for i in range(0, count, BATCH)
    ]


Fleet = list[tuple[str, str]]


def fleet_of(kiosks: int) -> Fleet:
    """(kiosk id, store id) of ``kiosks`` kiosks, one store each."""
    return [(f"k{i:03d}", f"s{i:03d}") for i in range(kiosks)]


def seed(db_path: Path, fleet: Fleet, now_ms: int) -> None:
    """The SQLite ledger every ingest run starts from (PostgreSQL runs copy it)."""
    progress(NAME, f"seeding {len(fleet)} kiosks, {len(fleet) * MEMBERS_PER_KIOSK} members")
    seed_coordinator(
        db_path,
        stores=[s for _, s in fleet],
        kiosks=fleet,
        members=len(fleet) * MEMBERS_PER_KIOSK,
        now_ms=now_ms,
    )


def outgoing(fleet: Fleet, events_per_kiosk: int, mix: bool = False) -> list[list[bytes]]:
    """Every kiosk's encoded EventBatches (built before any clock starts)."""
    return [
        batches(
            k,
            s,
            [member_id(n * MEMBERS_PER_KIOSK + j) for j in range(MEMBERS_PER_KIOSK)],
            events_per_kiosk,
            mix,
        )
        for n, (k, s) in enumerate(fleet)
    ]


def one_event_size(fleet: Fleet, now_ms: int, mix: bool = False) -> int:
    """Bytes of a one-event EventBatch (the raw baseline's message size; with ``mix``, the
    mean over the mix's first 100 bodies)."""
    from shared.events import CheckIn, CredentialKind, CredentialRef, Event
    from shared.protocol import EventBatch, encode

    one = Event(
        event_id=uuid.uuid4().hex,
        kiosk_id=fleet[0][0],
        store_id=fleet[0][1],
        seq=1,
        hlc_ms=now_ms,
        wall_ms=now_ms,
        member_id=member_id(0),
        rules_version=1,
        credential=CredentialRef(kind=CredentialKind.CARD, uid=card_uid(0)),
        body=CheckIn(points=0),
    )
    if not mix:
        return len(encode(EventBatch(kiosk_id=fleet[0][0], events=(one,))))
    sizes = [
        len(encode(EventBatch(kiosk_id=fleet[0][0], events=(one.model_copy(update={"body": b}),))))
        for b in mix_bodies(fleet[0][0], 100)
    ]
    return round(sum(sizes) / len(sizes))


def tapfleet_ingest(
    folder: Path,
    broker_port: int,
    fleet: Fleet,
    payloads: list[list[bytes]],
    events_per_kiosk: int,
    db_url: str,
    *,
    replicas: int = 1,
    pushes: list[int] | None = None,
) -> tuple[float, int]:
    """Start ``replicas`` coordinator processes on ``db_url`` (one MQTT share group), let
    every kiosk publish its batches, wait for every Ack; returns (seconds, events acked).
    With ``pushes`` (a list), the kiosks follow every topic a kiosk does, and the number of
    pushes they received is appended to it."""
    coordinators = [
        CoordinatorProcess(
            folder / f"replica{i}",
            mqtt_port=broker_port,
            db_url=db_url,
            settings={**BENCH_COORDINATOR, "mqtt_client_id": f"coordinator-bench-{i}"},
        )
        for i in range(replicas)
    ]
    sims: list[SimKiosk] = []
    try:
        for coordinator in coordinators:  # one by one: the first one migrates
            coordinator.start(timeout_s=120)
        sims = [SimKiosk(k, s, broker_port, pushes is not None) for k, s in fleet]
        total = len(fleet) * events_per_kiosk
        progress(NAME, f"{replicas} coordinator(s): {len(fleet)} kiosks publishing {total:,}")
        start = time.monotonic()
        for sim, kiosk_payloads in zip(sims, payloads, strict=True):
            for payload in kiosk_payloads:
                sim.publish(payload)
        for sim in sims:
            if not sim.wait_acked(events_per_kiosk, 600):
                raise RuntimeError(
                    f"kiosk {sim.kiosk_id}: acked {sim.acked_seq} of {events_per_kiosk}"
                )
        seconds = time.monotonic() - start
        if pushes is not None:
            pushes.append(sum(sim.pushes for sim in sims))
        return seconds, sum(sim.acked_seq for sim in sims)
    finally:
        for sim in sims:
            sim.close()
        for coordinator in coordinators:
            coordinator.stop()


def raw_broker(
    broker_port: int, folder: Path, kiosks: int, events_per_kiosk: int, size: int
) -> tuple[float, int, int]:
    """The raw QoS 1 baseline: (seconds, received, distinct)."""
    streams: Sequence[list[tuple[str, bytes]]] = [
        [(f"bench/raw/{k}", _payload(k, i, size)) for i in range(events_per_kiosk)]
        for k in range(kiosks)
    ]
    return measure(broker_port, folder, streams, topic_filter="bench/raw/#")


def run(kiosks: int, events_per_kiosk: int, keep: bool, mix: bool = False) -> Result:
    """Measure both sides; returns the result line. ``mix``: the ``ingest_mix`` line (the
    swarm's event mix, kiosks subscribed to their pushes)."""
    total = kiosks * events_per_kiosk
    pushes: list[int] | None = [] if mix else None
    fleet = fleet_of(kiosks)
    now = time.time_ns() // 1_000_000
    with work_dir(NAME, keep) as folder, running_broker(folder) as broker:
        db_path = folder / "coordinator.db"
        seed(db_path, fleet, now)
        payloads = outgoing(fleet, events_per_kiosk, mix)
        message_size = one_event_size(fleet, now, mix)
        db_url = f"sqlite:///{db_path}"
        seconds, acked = tapfleet_ingest(
            folder, broker.port, fleet, payloads, events_per_kiosk, db_url, pushes=pushes
        )
        stored = stored_events(db_url, [k for k, _ in fleet])
        progress(NAME, f"tapfleet: {total} events in {seconds:.2f} s; baseline next")
        raw_seconds, received, distinct = raw_broker(
            broker.port, folder, kiosks, events_per_kiosk, message_size
        )

    events_per_s = rate(total, seconds)
    msgs_per_s = rate(total, raw_seconds)
    lost = total - stored
    raw_lost = total - distinct
    ratio = events_per_s / msgs_per_s
    what = (
        f"the swarm's mix: 70 % check-ins, 20 % sign-ins, 10 % redemptions; {pushes[0]:,} "
        "pushes received"
        if pushes
        else "check-ins"
    )
    return Result(
        name="ingest_mix" if mix else NAME,
        tapfleet=(
            f"{events_per_s:,.0f} events/s ({total:,} events from {kiosks} kiosks in "
            f"{seconds:.2f} s, batches of {BATCH}, {acked:,} acked, {lost} lost; {what})"
        ),
        baseline=(
            f"{msgs_per_s:,.0f} msgs/s ({total:,} QoS1 msgs of {message_size} B from "
            f"{kiosks} clients in {raw_seconds:.2f} s, {received:,} received, {raw_lost} lost)"
        ),
        ratio=ratio,
        target="ratio >= 1.0, no loss",
        passed=ratio >= 1.0 and lost == 0 and raw_lost == 0 and acked == total,
    )


def _payload(publisher: int, seq: int, size: int) -> bytes:
    head = f'{{"p":{publisher},"s":{seq},"x":"'.encode()
    return head + b"x" * max(0, size - len(head) - 2) + b'"}'


def stored_events(db_url: str, kiosk_ids: list[str]) -> int:
    """Events of ``kiosk_ids`` in the coordinator's ``events`` table (any engine)."""
    import sqlalchemy as sa

    from coordinator import schema

    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(schema.events)
                    .where(schema.events.c.source.in_(kiosk_ids))
                ).scalar_one()
            )
    finally:
        engine.dispose()


def main() -> None:
    """Entry point."""
    args = parse_args(__doc__ or NAME)
    kiosks, per_kiosk = (2, 50) if args.quick else (20, 1000)
    emit(run(kiosks, per_kiosk, args.keep))


if __name__ == "__main__":
    main()
