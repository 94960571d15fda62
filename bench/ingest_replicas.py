"""Ingest with 1, 2 and 3 coordinator replicas on one PostgreSQL, sharing the ingest.

Tapfleet: the ``ingest`` workload against ``n`` ``tapfleet coordinator`` processes (n = 1,
2, 3) in one MQTT shared-subscription group on a fresh PostgreSQL database each (seeded
with the same rows); every kiosk's batches go to whichever replica the broker picks, the
per-kiosk row lock and the held-events table keep each kiosk's events in seq order.

Baseline: the one-replica figure of the same run. The ratio is 3 replicas / 1 replica.

On this machine the ratio cannot exceed ~1: two cores carry the broker, PostgreSQL, the
simulated kiosks and every replica, and one replica already keeps both cores busy (its
ingest thread, the broker and the server's backend). Replicas add throughput only where
cores are idle: on a machine (or machines) with a core per replica plus PostgreSQL's own,
the ingest scales until the database's commit rate or the per-kiosk ordering (a kiosk's
batches are applied one after another, whichever replica receives them) is the bound. The
target here is that replicas cost nothing: >= 0.8x one replica.
"""

from __future__ import annotations

import time

from bench.common import Result, emit, parse_args, progress, rate, running_broker, work_dir
from bench.ingest import fleet_of, outgoing, seed, stored_events, tapfleet_ingest
from bench.pg import copy_ledger, scratch_database

NAME = "ingest_replicas"
REPLICAS = (1, 2, 3)


def run(kiosks: int, events_per_kiosk: int, keep: bool) -> Result:
    """One run per replica count, each on its own fresh database."""
    total = kiosks * events_per_kiosk
    fleet = fleet_of(kiosks)
    ids = [k for k, _ in fleet]
    now = time.time_ns() // 1_000_000
    figures: dict[int, float] = {}
    lost: dict[int, int] = {}
    with work_dir(NAME, keep) as folder, running_broker(folder) as broker:
        db_path = folder / "seed.db"
        seed(db_path, fleet, now)
        payloads = outgoing(fleet, events_per_kiosk)
        for n in REPLICAS:
            with scratch_database(f"replicas{n}") as pg_url:
                copy_ledger(db_path, pg_url)
                seconds, acked = tapfleet_ingest(
                    folder / f"n{n}",
                    broker.port,
                    fleet,
                    payloads,
                    events_per_kiosk,
                    pg_url,
                    replicas=n,
                )
                lost[n] = total - stored_events(pg_url, ids) + (total - acked)
            figures[n] = rate(total, seconds)
            progress(NAME, f"{n} replica(s): {figures[n]:,.0f} events/s, {lost[n]} lost")
    shown = ", ".join(f"{n} replica(s) {figures[n]:,.0f} events/s" for n in REPLICAS)
    ratio = figures[REPLICAS[-1]] / figures[1]
    return Result(
        name=NAME,
        tapfleet=f"{shown} ({total:,} events from {kiosks} kiosks each run, PostgreSQL)",
        baseline=f"{figures[1]:,.0f} events/s with 1 replica, same run",
        ratio=ratio,
        target="3 replicas >= 0.8x one replica on 2 cores, no loss (scaling needs idle cores)",
        passed=ratio >= 0.8 and not any(lost.values()),
    )


def main() -> None:
    """Entry point."""
    args = parse_args(__doc__ or NAME)
    kiosks, per_kiosk = (3, 50) if args.quick else (21, 1000)
    emit(run(kiosks, per_kiosk, args.keep))


if __name__ == "__main__":
    main()
