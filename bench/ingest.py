"""Ingest: the coordinator applying events from many kiosks, vs raw QoS 1 publish->subscribe.

Tapfleet: the real ``tapfleet coordinator`` process (SQLite ledger, members bulk-seeded,
each kiosk's members its own store's) behind a private Mosquitto with the shipped config.
Simulated kiosks (``tests.support.mini_kiosk.MiniKiosk``: the real protocol codec and topic
tree over paho, journal in memory) publish their events as EventBatches of 50; the clock
runs from the first publish until every kiosk holds an Ack for its last seq (the
coordinator acks only after its commit). The batches are encoded before the clock starts,
as the raw baseline's payloads are.

Baseline: as many raw paho clients as kiosks publish, QoS 1, the same number of messages as
there are events, each the size of a one-event EventBatch, to a raw paho subscriber process
through the same broker.

Loss is checked on both sides: every event must be in the coordinator's ``events`` table
(and acked), every raw message must reach the subscriber.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from bench.common import (
    CoordinatorProcess,
    Result,
    emit,
    parse_args,
    progress,
    rate,
    running_broker,
    work_dir,
)
from bench.raw_mqtt import measure
from bench.seed import member_id, seed_coordinator

NAME = "ingest"
BATCH = 50
MEMBERS_PER_KIOSK = 50


def run(kiosks: int, events_per_kiosk: int, keep: bool) -> Result:
    """Measure both sides; returns the result line."""
    from shared import topics
    from shared.events import CheckIn
    from shared.protocol import EventBatch, encode
    from shared.topics import Channel
    from tests.support.mini_kiosk import MiniKiosk

    total = kiosks * events_per_kiosk
    fleet = [(f"k{i:03d}", f"s{i:03d}") for i in range(kiosks)]
    now = time.time_ns() // 1_000_000
    with work_dir(NAME, keep) as folder, running_broker(folder) as broker:
        db_path = folder / "coordinator.db"
        progress(NAME, f"seeding {kiosks} kiosks, {kiosks * MEMBERS_PER_KIOSK} members")
        seed_coordinator(
            db_path,
            stores=[s for _, s in fleet],
            kiosks=fleet,
            members=kiosks * MEMBERS_PER_KIOSK,
            now_ms=now,
        )
        coordinator = CoordinatorProcess(folder, broker.port, db_path)
        minis: list[MiniKiosk] = []
        try:
            coordinator.start()
            for kiosk_id, store_id in fleet:
                mini = MiniKiosk(kiosk_id, store_id, broker.host, broker.port, batch_size=BATCH)
                mini.connect()
                minis.append(mini)
            for mini in minis:
                if not mini.wait_for(lambda m=mini: m.bundle is not None, 60):
                    raise RuntimeError(f"kiosk {mini.kiosk_id} got no rules from the coordinator")
            progress(NAME, f"{kiosks} kiosks synced; recording {total} check-ins")
            outgoing: list[tuple[MiniKiosk, str, list[bytes]]] = []
            for n, mini in enumerate(minis):
                own = [member_id(n * MEMBERS_PER_KIOSK + j) for j in range(MEMBERS_PER_KIOSK)]
                for i in range(events_per_kiosk):
                    mini.record(own[i % len(own)], CheckIn(points=0))
                journal = mini.journal
                payloads = [
                    encode(EventBatch(kiosk_id=mini.kiosk_id, events=tuple(journal[i : i + BATCH])))
                    for i in range(0, len(journal), BATCH)
                ]
                outgoing.append((mini, topics.kiosk_topic(mini.kiosk_id, Channel.EVENTS), payloads))
            single = [
                len(encode(EventBatch(kiosk_id=m.kiosk_id, events=(e,))))
                for m in minis
                for e in m.journal[:20]
            ]
            message_size = round(sum(single) / len(single))

            progress(NAME, "tapfleet: publishing")
            start = time.monotonic()
            for mini, topic, payloads in outgoing:
                for payload in payloads:
                    mini.publish_now(topic, payload)
            for mini in minis:
                if not mini.wait_acked(timeout=600):
                    raise RuntimeError(
                        f"kiosk {mini.kiosk_id}: acked {mini.acked_seq} of {len(mini.journal)}"
                    )
            seconds = time.monotonic() - start
            acked = sum(m.acked_seq for m in minis)
        finally:
            for mini in minis:
                mini.close()
            coordinator.stop()
        stored = _stored_events(db_path, [k for k, _ in fleet])
        progress(NAME, f"tapfleet: {total} events in {seconds:.2f} s; baseline next")

        streams: Sequence[list[tuple[str, bytes]]] = [
            [(f"bench/raw/{k}", _payload(k, i, message_size)) for i in range(events_per_kiosk)]
            for k in range(kiosks)
        ]
        raw_seconds, received, distinct = measure(
            broker.port, folder, streams, topic_filter="bench/raw/#"
        )

    events_per_s = rate(total, seconds)
    msgs_per_s = rate(total, raw_seconds)
    lost = total - stored
    raw_lost = total - distinct
    ratio = events_per_s / msgs_per_s
    return Result(
        name=NAME,
        tapfleet=(
            f"{events_per_s:,.0f} events/s ({total:,} events from {kiosks} kiosks in "
            f"{seconds:.2f} s, batches of {BATCH}, {acked:,} acked, {lost} lost)"
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


def _stored_events(db_path: object, kiosk_ids: list[str]) -> int:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(kiosk_ids))
        return int(
            conn.execute(
                f"SELECT count(*) FROM events WHERE source IN ({marks})",  # noqa: S608 (?s only)
                kiosk_ids,
            ).fetchone()[0]
        )
    finally:
        conn.close()


def main() -> None:
    """Entry point."""
    args = parse_args(__doc__ or NAME)
    kiosks, per_kiosk = (2, 50) if args.quick else (20, 1000)
    emit(run(kiosks, per_kiosk, args.keep))


if __name__ == "__main__":
    main()
