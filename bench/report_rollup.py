"""Report rollups: the chain-wide 30-day report over N events, from the rollups and from events.

``make bench-scale`` runs it over 10,000,000 events (``--events``; ``--quick`` 20,000).

Tapfleet: ``Reports.build`` (the coordinator's own report service, in the benchmark process,
on a SQLite ledger seeded in bulk by ``bench.seed.seed_coordinator``: a kiosk per 1,000
events, a store per 10 kiosks, 10,000 members with a home store; the ``bench.reports``
event mix over the last 100 days (every 10th a class sign-in, every 100th a points
redemption, every 100th a staff reversal) with every 1,000th turned into a stored-value
spend; the rollups rebuilt from them as migration 0013 does). The whole chain, 30 days,
the store sections (check-ins, classes, passes, points, coupons, money), every round another
period (ending today, yesterday, ...) so nothing is cached; summed from the rollups.

Baseline, in the same run, alternating with it: the same report with ``from_events=True``
(the period's sums scanned from the events, as before the rollups). Every round checks the
two reports are identical. Judged: the rollup report's median < 1 s.

Not measured here: the member sections (lapsed, RFM), whose year of visit days per member is
not a per store and hour sum; ``bench.reports`` measures the whole report over HTTP.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bench.common import Result, emit, ms, progress, work_dir
from bench.dashboard import fleet, health_rows
from bench.reports import _with_body
from bench.reports import events as report_events
from bench.seed import seed_coordinator

NAME = "report_rollup"
TARGET_S = 1.0
PER_KIOSK = 1_000
TZ = ZoneInfo("Asia/Shanghai")
STORE_SECTIONS = ("checkins", "classes", "passes", "points", "coupons", "money")


def events(
    kiosks: list[tuple[str, str]], per_kiosk: int, members: int, now_ms: int
) -> Iterator[tuple[object, ...]]:
    """The ``bench.reports`` rows with every 1,000th check-in turned into a stored-value spend
    at its kiosk (a kiosk kind, so the same store and time)."""
    for n, row in enumerate(report_events(kiosks, per_kiosk, members, now_ms)):
        if n % 1_000 == 11 and row[5] == "checkin":
            body = {"kind": "sv_spend", "amount_fen": 1_000 + n % 997, "purpose": "coffee"}
            yield _with_body(row, "sv_spend", body)
        else:
            yield row


def run(total_events: int, rounds: int, keep: bool, per_store: int = 10) -> Result:
    """Seed, then per round: the report from the rollups, then from the events.
    ``per_store``: kiosks per store (more: more events per store and hour)."""
    from coordinator.db import Database
    from coordinator.reports.service import Reports

    now = time.time_ns() // 1_000_000
    kiosks_n = max(2, total_events // PER_KIOSK)
    per_kiosk = max(1, total_events // kiosks_n)
    kiosks = fleet(kiosks_n, max(1, kiosks_n // per_store))
    stores = sorted({s for _, s in kiosks})
    members = min(10_000, max(100, kiosks_n * 10))
    total = kiosks_n * per_kiosk + members
    today = datetime.fromtimestamp(now / 1000, UTC).astimezone(TZ).date()
    times: dict[str, list[float]] = {"rollups": [], "events": []}
    with work_dir(NAME, keep) as folder:
        db_path = folder / "coordinator.db"
        progress(NAME, f"seeding {kiosks_n:,} kiosks, {members:,} members, {total:,} events")
        started = time.monotonic()
        seed_coordinator(
            db_path,
            stores=stores,
            kiosks=kiosks,
            members=members,
            now_ms=now,
            events=events(kiosks, per_kiosk, members, now),
            applied_seq={k: per_kiosk for k, _ in kiosks},
            kiosk_health_rows=health_rows(kiosks, per_kiosk, now),
            home_store=lambda i: stores[i % len(stores)],
        )
        progress(NAME, f"seeded in {time.monotonic() - started:.0f} s")
        db = Database(f"sqlite:///{db_path}")
        try:
            reports = Reports(db, lambda: now, cache_s=0)
            for r in range(rounds):
                last = today - timedelta(days=r)
                built = {}
                for key in ("rollups", "events"):
                    t0 = time.perf_counter()
                    built[key] = reports.build(
                        store_id=None,
                        first=last - timedelta(days=29),
                        last=last,
                        lang="zh",
                        sections=STORE_SECTIONS,
                        from_events=key == "events",
                    )
                    times[key].append(time.perf_counter() - t0)
                same = built["rollups"].sections == built["events"].sections
                if not same:
                    raise SystemExit(f"{NAME}: the two reports differ for {last}")
                rows = sum(len(t.rows) for s in built["rollups"].sections for t in s.tables)
                progress(
                    NAME,
                    f"round {r + 1}: rollups {ms(times['rollups'][-1])}, events "
                    f"{ms(times['events'][-1])} (identical, {rows:,} table rows)",
                )
        finally:
            db.dispose()
    med = {k: statistics.median(v) for k, v in times.items()}
    return Result(
        name=NAME,
        tapfleet=(
            f"chain-wide 30-day report (store sections) from rollups median "
            f"{ms(med['rollups'])} (max {ms(max(times['rollups']))}; {rounds} uncached "
            f"periods, {len(stores):,} stores, {members:,} members, {total:,} events)"
        ),
        baseline=(
            f"the same report summed from the events median {ms(med['events'])} "
            f"(identical output every round)"
        ),
        ratio=med["rollups"] / med["events"],
        target=f"rollup report < {TARGET_S:g} s uncached, identical (ratio: rollups / events)",
        passed=med["rollups"] < TARGET_S,
    )


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--events", type=int, default=10_000_000, help="events seeded")
    parser.add_argument("--per-store", type=int, default=10, help="kiosks per store")
    args = parser.parse_args()
    if args.quick:
        emit(run(total_events=20_000, rounds=2, keep=args.keep))
    else:
        emit(run(total_events=args.events, rounds=5, keep=args.keep, per_store=args.per_store))


if __name__ == "__main__":
    main()
