"""Cold sync: a new kiosk loading a 100,000-member store snapshot until ready to serve.

Tapfleet: the real ``tapfleet coordinator`` process with 100,000 members (bulk-seeded: one
card and a realistic folded ledger each) and a new kiosk process (``bench.kiosk_child``:
KioskApp with a fresh ledger). Timed from ``KioskApp.start()`` to ready (rules and the
complete snapshot applied): connect, sync request, the coordinator building the snapshot
(50 chunks of 2,000), transfer, staging each chunk durably, the switch with the card and
sign-in indexes rebuilt. Then the kiosk's resident memory.

Baseline: the same snapshot bytes (the coordinator's own ``snapshots.payloads`` over the
same database) published by a raw paho client at QoS 1 to a raw subscriber process
that commits each message to SQLite (WAL, ``synchronous=FULL``) before acknowledging it:
the floor of "receive and keep durably". The ratio is baseline time / Tapfleet time.

Second line, ``cold_sync_kiosk``: what the new kiosk itself must do with those bytes, with
no broker and no coordinator: the same messages decoded (validated: a kiosk never caches a
record it has not checked) and applied to a fresh ledger in this process by the kiosk's
own code (each chunk staged durably, then the switch that rebuilds the card and sign-in
indexes). Ready time over that floor shows what connecting, the coordinator and the
transfer add; the floor over the raw transfer shows what is left for them at all.
"""

from __future__ import annotations

import json
import time
from typing import Any

from bench.common import (
    BENCH_COORDINATOR,
    Child,
    Result,
    emit,
    parse_args,
    progress,
    python_module,
    running_broker,
    work_dir,
)
from bench.raw_mqtt import measure
from bench.seed import seed_coordinator
from simulators.services import CoordinatorProcess

NAME = "cold_sync"
STORE = "s1"
KIOSK = "k-new"
MB = 1024 * 1024


def snapshot_payloads(db_path: object, now_ms: int) -> list[bytes]:
    """The snapshot messages the coordinator sends a new kiosk of the store, encoded."""
    from coordinator.db import Database
    from coordinator.downstream import snapshots
    from shared.hlc import HLC

    db = Database(f"sqlite:///{db_path}")
    try:
        with db.snapshot() as conn:
            hlc = HLC(now_ms, 0)
            return list(snapshots.payloads(conn, STORE, hlc, version=1, included={KIOSK: 0}))
    finally:
        db.dispose()


def kiosk_floor(payloads: list[bytes], ledger_path: object) -> tuple[float, float, int]:
    """(decode seconds, apply seconds, members cached): the kiosk's work on the snapshot."""
    import gc

    from device.kiosk_cli import tune_gc
    from device.ledger.kiosk_ledger import KioskLedger
    from device.ports import SystemClock
    from shared import protocol
    from shared.protocol import MemberUpdate

    ledger = KioskLedger.open(str(ledger_path), kiosk_id=KIOSK, store_id=STORE, clock=SystemClock())
    threshold = gc.get_threshold()
    tune_gc()  # the collector as a running kiosk has it
    try:
        t0 = time.perf_counter()
        messages = [protocol.decode_as(p, MemberUpdate) for p in payloads]
        t1 = time.perf_counter()
        for message in messages:
            ledger.apply_member_update(message)
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, ledger.sync_status().members
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        ledger.close()


def run(members: int, keep: bool) -> list[Result]:
    """Seed, cold-start a kiosk, then the raw baseline."""
    now = time.time_ns() // 1_000_000
    with work_dir(NAME, keep) as folder, running_broker(folder) as broker:
        db_path = folder / "coordinator.db"
        progress(NAME, f"seeding {members:,} members")
        seed_coordinator(
            db_path, stores=[STORE], kiosks=[(KIOSK, STORE)], members=members, now_ms=now
        )
        coordinator = CoordinatorProcess(
            folder, mqtt_port=broker.port, db_url=f"sqlite:///{db_path}", settings=BENCH_COORDINATOR
        )
        try:
            coordinator.start()
            progress(NAME, "new kiosk starting")
            child = Child(
                python_module(
                    "bench.kiosk_child",
                    "--mode",
                    "cold",
                    "--ledger",
                    str(folder / "kiosk" / "ledger.db"),
                    "--kiosk",
                    KIOSK,
                    "--store",
                    STORE,
                    "--mqtt-port",
                    str(broker.port),
                ),
                folder / "kiosk.log",
                stdout_pipe=True,
            )
            try:
                figures: dict[str, Any] = json.loads(child.readline(900))
            finally:
                child.stop()
        finally:
            coordinator.stop()
        payloads = snapshot_payloads(db_path, now)
        progress(NAME, f"baseline: {len(payloads)} snapshot messages through raw QoS 1")
        raw_s, _received, distinct = measure(
            broker.port,
            folder,
            [[("bench/snapshot", p) for p in payloads]],
            topic_filter="bench/#",
            store=str(folder / "raw.db"),
        )
        progress(NAME, "floor: the kiosk's own decoding and staging of the same messages")
        decode_s, apply_s, floor_cached = kiosk_floor(payloads, folder / "floor.db")

    seconds = figures["seconds"]
    rss = figures["rss_after"] / MB
    cached = figures["status"]["members"]
    megabytes = sum(len(p) for p in payloads) / MB
    floor_s = decode_s + apply_s
    return [
        Result(
            name=NAME,
            tapfleet=(
                f"ready in {seconds:.2f} s ({figures['from_connect_s']:.2f} s from connect), "
                f"{cached:,} members cached, kiosk RSS {rss:.0f} MB after "
                f"(peak {figures['rss_peak_sampled'] / MB:.0f} MB)"
            ),
            baseline=(
                f"same {megabytes:.1f} MB as {len(payloads)} QoS1 msgs received and committed in "
                f"{raw_s:.2f} s ({len(payloads) - distinct} lost)"
            ),
            ratio=raw_s / seconds,
            target="ready < 10 s, RSS <= 150 MB",
            passed=seconds < 10 and rss <= 150 and cached == members,
        ),
        Result(
            name="cold_sync_kiosk",
            tapfleet=f"ready in {seconds:.2f} s",
            baseline=(
                f"the kiosk's own work on the same {len(payloads)} messages in {floor_s:.2f} s, "
                f"no broker or coordinator: decode and validate {decode_s:.2f} s, stage durably "
                f"and switch {apply_s:.2f} s ({floor_cached:,} members); that floor alone is "
                f"{raw_s / floor_s:.3f} of the raw transfer's speed"
            ),
            ratio=floor_s / seconds,
            target="ready <= 2x the kiosk's own work (connect and transfer overlap it)",
            passed=seconds <= 2 * floor_s and floor_cached == members,
        ),
    ]


def main() -> None:
    """Entry point."""
    args = parse_args(__doc__ or NAME)
    for result in run(5_000 if args.quick else 100_000, args.keep):
        emit(result)


if __name__ == "__main__":
    main()
