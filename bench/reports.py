"""Reports: building the store-owner report (first, uncached request) over 1,000,000 events.

Not one of the ``make bench`` seven (``run_all`` leaves it out: seeding alone takes about
a minute here). Store owners and chain ops open the report every morning; it is cached per
store, period and language, so the figure that matters is the *first* request.

Tapfleet: the real ``tapfleet coordinator`` process on a SQLite ledger seeded in bulk like
the dashboard benchmark's (``bench.seed.seed_coordinator``: 100 stores, 1,000 kiosks,
10,000 members with a home store, the dashboard's 1,000,000 kiosk events over the last 100
days, of which every 10th is a class sign-in, every 100th a points redemption and every
100th a staff reversal of a check-in; plus one HQ pass sale per member, 300 days ago).
``GET /api/v1/reports`` (JSON, every table) for the whole chain and for one store, 30 days;
every request names another 30-day period (ending today, yesterday, ...) so each one is a
cache miss, as the first request of the morning is. Judged: the chain's median.

Baseline, in the same run, alternating with the requests: a plain ``SELECT count(*)`` over
the same 30 days of events (``hlc_ms`` range; sqlite3 in the benchmark process, same file);
``GET /healthz`` is reported too.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bench.common import (
    BENCH_COORDINATOR,
    Result,
    emit,
    ms,
    parse_args,
    progress,
    running_broker,
    work_dir,
)
from bench.dashboard import events as checkin_rows
from bench.dashboard import fleet, health_rows
from bench.seed import member_id, seed_coordinator
from simulators.services import CoordinatorProcess

NAME = "reports"
DAY_MS = 86_400_000
TZ = ZoneInfo("Asia/Shanghai")
TARGET_S = 1.5
COUNT_PERIOD = "SELECT count(*) FROM events WHERE hlc_ms >= ? AND hlc_ms < ?"


def _with_body(row: tuple[object, ...], kind: str, body: dict[str, object]) -> tuple[object, ...]:
    """The dashboard's check-in row turned into another kind (same identity and time)."""
    event = json.loads(str(row[-1]))
    event["body"] = body
    return (*row[:5], kind, *row[6:-1], json.dumps(event, separators=(",", ":")))


def events(
    kiosks: list[tuple[str, str]], per_kiosk: int, members: int, now_ms: int
) -> Iterator[tuple[object, ...]]:
    """``events`` rows (``bench.seed.EVENT_COLUMNS``): the dashboard's check-ins with some
    turned into other kiosk kinds, then one HQ pass sale per member."""
    for n, row in enumerate(checkin_rows(kiosks, per_kiosk, members, now_ms)):
        store_id, at = row[3], int(str(row[6]))
        if n % 10 == 3:
            yield _with_body(
                row,
                "class_signin",
                {
                    "kind": "class_signin",
                    "class_session_id": f"yoga-{store_id}-{at // DAY_MS}",
                    "class_type": "yoga",
                    "pass_id": "p-punch",
                    "sessions": 1,
                },
            )
        elif n % 100 == 7:
            body = {"kind": "points_redeem", "points": 20, "reward_id": "water"}
            yield _with_body(row, "points_redeem", body)
        elif n % 100 == 8:
            body = {
                "kind": "reversal",
                "target_event_id": uuid.uuid4().hex,
                "target_kind": "checkin",
                "staff_id": "st1",
                "points": 10,
            }
            yield _with_body(row, "reversal", body)
        else:
            yield row
    sold = now_ms - 300 * DAY_MS
    for i in range(members):
        event_id, at = uuid.uuid4().hex, sold + i
        event = {
            "event_id": event_id,
            "kiosk_id": "hq",
            "store_id": None,
            "seq": i + 1,
            "hlc_ms": at,
            "hlc_c": 0,
            "wall_ms": at,
            "member_id": member_id(i),
            "offline": False,
            "rules_version": 0,
            "credential": None,
            "body": {
                "kind": "pass_issue",
                "pass_state": {
                    "pass_id": "p-punch",
                    "kind": "punch",
                    "name": "20-session yoga pass",
                    "valid_from_ms": at,
                    "valid_until_ms": now_ms + 300 * DAY_MS,
                    "sessions_total": 20,
                    "price_fen": 99_900 + 100 * (i % 7),
                },
            },
        }
        text = json.dumps(event, separators=(",", ":"))
        yield (event_id, "hq", i + 1, None, member_id(i), "pass_issue", at, 0, at, at, 0, 0, text)


def _bounds(last: date) -> tuple[int, int]:
    """UTC ms bounds of the 30 local days ending ``last`` (Shanghai, like every store here)."""
    first = last - timedelta(days=29)
    start = datetime.combine(first, datetime.min.time(), TZ)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), TZ)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def run(kiosks_n: int, per_kiosk: int, rounds: int, keep: bool) -> Result:
    """Seed, start, then per round: chain report, one store's report, the baselines."""
    import httpx

    now = time.time_ns() // 1_000_000
    kiosks = fleet(kiosks_n, max(1, kiosks_n // 10))
    stores = sorted({s for _, s in kiosks})
    members = max(100, kiosks_n * 10)
    total = kiosks_n * per_kiosk + members
    today = datetime.fromtimestamp(now / 1000, UTC).astimezone(TZ).date()
    times: dict[str, list[float]] = {"chain": [], "store": [], "count": [], "healthz": []}
    store = stores[1 % len(stores)]
    with work_dir(NAME, keep) as folder, running_broker(folder) as broker:
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
        progress(NAME, f"seeded in {time.monotonic() - started:.0f} s; starting the coordinator")
        coordinator = CoordinatorProcess(
            folder, mqtt_port=broker.port, db_url=f"sqlite:///{db_path}", settings=BENCH_COORDINATOR
        )
        plain = sqlite3.connect(db_path)
        try:
            coordinator.start(timeout_s=120)
            headers = {"Authorization": f"Bearer {coordinator.token()}"}
            with httpx.Client(base_url=coordinator.url, headers=headers, timeout=300) as client:
                client.get("/healthz").raise_for_status()
                for r in range(rounds):
                    last = today - timedelta(days=r)
                    period = {"from": (last - timedelta(days=29)).isoformat(), "to": str(last)}
                    scoped = {**period, "store_id": store}
                    for key, params in (("chain", period), ("store", scoped)):
                        t0 = time.perf_counter()
                        response = client.get("/api/v1/reports", params=params)
                        times[key].append(time.perf_counter() - t0)
                        response.raise_for_status()
                    t0 = time.perf_counter()
                    found = plain.execute(COUNT_PERIOD, _bounds(last)).fetchone()[0]
                    times["count"].append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    client.get("/healthz").raise_for_status()
                    times["healthz"].append(time.perf_counter() - t0)
                    progress(
                        NAME,
                        f"round {r + 1}: chain {ms(times['chain'][-1])}, store "
                        f"{ms(times['store'][-1])}, count(*) {ms(times['count'][-1])} "
                        f"({found:,} events)",
                    )
        finally:
            plain.close()
            coordinator.stop()

    med = {k: statistics.median(v) for k, v in times.items()}
    return Result(
        name=NAME,
        tapfleet=(
            f"uncached GET /api/v1/reports, 30 days: chain median {ms(med['chain'])} "
            f"(max {ms(max(times['chain']))}), one store median {ms(med['store'])} "
            f"({rounds} requests each, {len(stores)} stores, {members:,} members, "
            f"{total:,} events)"
        ),
        baseline=(
            f"SELECT count(*) of the same 30 days' events median {ms(med['count'])} "
            f"(GET /healthz {ms(med['healthz'])})"
        ),
        ratio=med["chain"] / med["count"],
        target=f"chain-wide report <= {TARGET_S} s uncached (ratio: chain / count(*))",
        passed=med["chain"] <= TARGET_S,
    )


def main() -> None:
    """Entry point."""
    args = parse_args(__doc__ or NAME)
    if args.quick:
        emit(run(kiosks_n=20, per_kiosk=50, rounds=2, keep=args.keep))
    else:
        emit(run(kiosks_n=1_000, per_kiosk=1_000, rounds=5, keep=args.keep))


if __name__ == "__main__":
    main()
