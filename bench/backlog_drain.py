"""Backlog drain: a kiosk reconnecting with 50,000 unacknowledged events, vs raw QoS 1.

Tapfleet: a real kiosk process (``bench.kiosk_child``: KioskApp with its MQTT link) whose
ledger holds 50,000 unacknowledged check-ins, the real ``tapfleet coordinator`` process and
a private Mosquitto. Timed from the link's connection to the Ack of the last seq: sync
request, windowed batches of 200 (at most 2,000 events in flight), the coordinator's
commits and Acks, the kiosk's ``mark_acked``. The same run with a 10,000-event backlog
shows whether the kiosk's memory depends on the backlog (it must not).

Baselines, both with one raw paho client publishing at QoS 1 to a raw subscriber process
through the same broker, timed until all arrived and all are PUBACKed:

* **per event** (judged): the same 50,000 events, one message each (a one-event
  EventBatch): what a kiosk draining without batching would send, and the same kind of
  baseline as the ingest benchmark's;
* **same bytes** (reported): the very bytes the kiosk sends, the events as EventBatches
  of 200 (250 messages of ~75 KB). Moving 19 MB in 250 messages costs the broker almost
  nothing, so its ratio (~0.005) measures per-event work against none and cannot reach
  0.5 for anything that stores, folds and acknowledges every event.

Backlogs are written into the ledgers with ``device.ledger.journal.append`` in one
transaction (``bench.seed.kiosk_journal``): check-ins 100 ms apart ending now (an outage's
worth), each kiosk its own half of the store's 1,000 members (bulk-seeded at the
coordinator), so every event folds incrementally there.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import (
    BENCH_COORDINATOR,
    Child,
    Result,
    emit,
    parse_args,
    progress,
    python_module,
    rate,
    running_broker,
    work_dir,
)
from bench.ingest import mix_bodies
from bench.raw_mqtt import measure
from bench.seed import checkins, kiosk_journal, provision_ledger, seed_coordinator
from simulators.services import CoordinatorProcess

if TYPE_CHECKING:
    from shared.events import EventBody

NAME = "backlog_drain"
STORE = "s1"
MEMBERS = 1_000
BATCH = 200
MB = 1024 * 1024


def drain(folder: Path, port: int, kiosk_id: str, events: int) -> dict[str, Any]:
    """Run the kiosk process on its backlog until the last event is acked."""
    child = Child(
        python_module(
            "bench.kiosk_child",
            "--mode",
            "drain",
            "--ledger",
            str(folder / kiosk_id / "ledger.db"),
            "--kiosk",
            kiosk_id,
            "--store",
            STORE,
            "--mqtt-port",
            str(port),
            "--expect",
            str(events),
        ),
        folder / f"{kiosk_id}.log",
        stdout_pipe=True,
    )
    try:
        return dict(json.loads(child.readline(1800)))
    finally:
        child.stop()


def mixed(
    kiosk_id: str, store_id: str, member_numbers: range, count: int, end_ms: int
) -> Iterator[tuple[str, EventBody, int]]:
    """:func:`bench.seed.checkins` with the bodies of the fleet swarm's mix instead (check-ins
    earning points, class sign-ins paying a punch-pass session, points redemptions)."""
    bodies = mix_bodies(kiosk_id, count)
    for (member, _body, at), body in zip(
        checkins(kiosk_id, store_id, member_numbers, count, end_ms), bodies, strict=True
    ):
        yield member, body, at


def run(sizes: tuple[int, int], keep: bool, mix: bool = False) -> Result:
    """Drain a small and a big backlog; raw-publish the big one's bytes. ``mix``: the
    ``backlog_drain_mix`` line (the swarm's event mix instead of check-ins only)."""
    from device.ledger import KioskLedger
    from device.ports import SystemClock
    from shared import topics
    from shared.protocol import EventBatch, encode
    from shared.topics import Channel

    small, big = sizes
    kiosks = {"k-small": small, "k-big": big}
    now = time.time_ns() // 1_000_000
    with work_dir(NAME, keep) as folder, running_broker(folder) as broker:
        db_path = folder / "coordinator.db"
        seed_coordinator(
            db_path,
            stores=[STORE],
            kiosks=[(k, STORE) for k in kiosks],
            members=MEMBERS,
            now_ms=now,
        )
        for number, (kiosk_id, n) in enumerate(kiosks.items()):
            progress(NAME, f"{kiosk_id}: writing a backlog of {n:,} events")
            own = range(number * MEMBERS // 2, (number + 1) * MEMBERS // 2)
            path = folder / kiosk_id / "ledger.db"
            path.parent.mkdir()
            provision_ledger(path, kiosk_id, STORE, MEMBERS, now).close()  # type: ignore[attr-defined]
            facts = (mixed if mix else checkins)(kiosk_id, STORE, own, n, now)
            kiosk_journal(path, kiosk_id, STORE, facts, now)
        coordinator = CoordinatorProcess(
            folder, mqtt_port=broker.port, db_url=f"sqlite:///{db_path}", settings=BENCH_COORDINATOR
        )
        figures: dict[str, dict[str, Any]] = {}
        try:
            coordinator.start()
            for kiosk_id, n in kiosks.items():
                progress(NAME, f"{kiosk_id}: draining {n:,} events")
                figures[kiosk_id] = drain(folder, broker.port, kiosk_id, n)
        finally:
            coordinator.stop()
        applied = _applied(db_path)

        progress(NAME, "baseline: the same bytes through raw QoS 1")
        ledger = KioskLedger.open(
            folder / "k-big" / "ledger.db", kiosk_id="k-big", store_id=STORE, clock=SystemClock()
        )
        try:
            events = ledger.journal_events(0, big + 1)
        finally:
            ledger.close()
        topic = topics.kiosk_topic("k-big", Channel.EVENTS).replace("tapfleet/", "bench/", 1)
        payloads = [
            (topic, encode(EventBatch(kiosk_id="k-big", events=tuple(events[i : i + BATCH]))))
            for i in range(0, len(events), BATCH)
        ]
        raw_s, _received, distinct = measure(
            broker.port, folder, [payloads], topic_filter="bench/#"
        )
        progress(NAME, "baseline: the same events as one raw QoS 1 message each")
        singles = [(topic, encode(EventBatch(kiosk_id="k-big", events=(e,)))) for e in events]
        single_s, _received, single_distinct = measure(
            broker.port, folder, [singles], topic_filter="bench/#"
        )

    big_fig, small_fig = figures["k-big"], figures["k-small"]
    seconds = big_fig["seconds"]
    ratio = single_s / seconds
    peak_big = big_fig["rss_peak_sampled"] / MB
    peak_small = small_fig["rss_peak_sampled"] / MB
    growth = peak_big / peak_small - 1
    megabytes = sum(len(p) for _, p in payloads) / MB
    lost = big - applied.get("k-big", 0) + small - applied.get("k-small", 0)
    return Result(
        name=f"{NAME}_mix" if mix else NAME,
        tapfleet=(
            f"{big:,} events{' of the swarm mix' if mix else ''} acked in {seconds:.2f} s "
            f"({rate(big, seconds):,.0f} events/s); "
            f"kiosk peak RSS {peak_big:.0f} MB at {big:,} vs {peak_small:.0f} MB at {small:,} "
            f"({growth:+.0%}); {lost} not applied"
        ),
        baseline=(
            f"per event: {big:,} QoS1 msgs (one event each) in {single_s:.2f} s "
            f"({rate(big, single_s):,.0f} events/s), {big - single_distinct} lost; "
            f"same bytes: {megabytes:.1f} MB as {len(payloads)} QoS1 msgs in {raw_s:.2f} s "
            f"({rate(big, raw_s):,.0f} events/s), {len(payloads) - distinct} lost, "
            f"ratio {raw_s / seconds:.4f}"
        ),
        ratio=ratio,
        target=("ratio >= 0.5 (per-event raw time / drain time), peak RSS growth <= 10%"),
        passed=ratio >= 0.5 and growth <= 0.10 and lost == 0 and single_distinct == big,
    )


def _applied(db_path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT kiosk_id, applied_seq FROM kiosks").fetchall())
    finally:
        conn.close()


def main() -> None:
    """Entry point."""
    args = parse_args(__doc__ or NAME)
    emit(run((500, 2_000) if args.quick else (10_000, 50_000), args.keep))


if __name__ == "__main__":
    main()
