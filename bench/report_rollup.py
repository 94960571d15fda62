"""Report rollups: the chain-wide 30-day report over N events on PostgreSQL, from the
rollups and from the events.

``make bench-scale`` runs it over 10,000,000 events in 3,000 stores (``--events``,
``--stores``; ``--quick`` 20,000 events in 30 stores).

Setup, in a database of its own on the machine's PostgreSQL server (``bench.pg``, dropped
afterwards): the coordinator's migrations and first start, then stores (Asia/Shanghai),
three kiosks per store and 10,000 members with a home store and a folded ledger
(``bench.seed.seed_coordinator`` on SQLite, copied over by ``bench.pg.copy_ledger``); then
N kiosk events spread evenly over the last 30 days, written with ``COPY`` (the report
columns ``points``, ``class_session_id``, ``sessions`` filled as the coordinator writes
them; the events table's indexes dropped for the load and built again from
``coordinator.schema``): check-ins (10 points), every 10th a class sign-in, every 100th a
points redemption, every 100th a staff reversal of a check-in, every 1,000th a reversal of
a class sign-in and a stored-value spend; every 50th recorded offline and received six
hours late. The rollups (hours and store-days) are built by the coordinator's own
``rollups.rebuild`` from the events table, as a migration or a repair does.

Tapfleet: ``Reports.build`` (the coordinator's report service, in the benchmark process, on
PostgreSQL), the whole chain, 30 days, the store sections (check-ins, classes, passes,
points, coupons, money), every round another period (ending today, yesterday, ...) so
nothing is cached: p50 and p95 of the rounds.

Baseline, in the same run, alternating with it: the same report with ``from_events=True``
(the period's sums scanned from the events, as before the rollups). Every round checks the
two reports are identical. Judged: the rollup report's p95 < 1 s.

Not measured here: the member sections (lapsed, RFM), whose year of visit days per member is
not a per store and day sum; ``bench.reports`` measures the whole report over HTTP.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import Result, emit, ms, progress, work_dir
from bench.seed import card_uid, member_id, seed_coordinator

NAME = "report_rollup"
TARGET_S = 1.0
KIOSKS_PER_STORE = 3
MEMBERS = 10_000
SPAN_MS = 30 * 86_400_000
TZ = ZoneInfo("Asia/Shanghai")
STORE_SECTIONS = ("checkins", "classes", "passes", "points", "coupons", "money")
COPY_COLUMNS = (
    "event_id",
    "source",
    "seq",
    "store_id",
    "member_id",
    "kind",
    "hlc_ms",
    "hlc_c",
    "wall_ms",
    "received_ms",
    "offline",
    "quarantined",
    "body",
    "points",
    "class_session_id",
    "sessions",
)


def _template(body: dict[str, Any]) -> str:
    """An Event's JSON with ``%(name)s`` holes for what changes per event (checked once
    against the real model, so every body the report parses is a valid Event)."""
    from shared.events import Event

    marks = {
        "event_id": "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
        "kiosk_id": "KIOSKMARK",
        "store_id": "STOREMARK",
        "seq": 7_777_777_001,
        "hlc_ms": 7_777_777_002,
        "wall_ms": 7_777_777_003,
        "member_id": "MEMBERMARK",
        "offline": False,
        "rules_version": 1,
        "credential": {"kind": "card", "uid": "ABCDEF0123ABCD"},
        "body": body,
    }
    text = Event.model_validate(marks).model_dump_json()
    for mark, hole in (
        ('"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"', '"%(eid)s"'),
        ('"KIOSKMARK"', '"%(kiosk)s"'),
        ('"STOREMARK"', '"%(store)s"'),
        ('"MEMBERMARK"', '"%(member)s"'),
        ('"ABCDEF0123ABCD"', '"%(uid)s"'),
        ("7777777001", "%(seq)d"),
        ("7777777002", "%(at)d"),
        ("7777777003", "%(at)d"),
        ('"SESSIONMARK"', '"%(session)s"'),
        ('"offline":false', '"offline":%(offline)s'),
    ):
        assert mark in text or mark == '"SESSIONMARK"', mark
        text = text.replace(mark, hole)
    return text


def copy_lines(kiosks: list[tuple[str, str]], per_kiosk: int, now_ms: int) -> Iterator[str]:
    """``COPY`` text lines of the events (:data:`COPY_COLUMNS`), kiosk by kiosk."""
    checkin = _template({"kind": "checkin", "points": 10, "reward_day": "2026-01-01"})
    signin = _template(
        {
            "kind": "class_signin",
            "class_session_id": "SESSIONMARK",
            "class_type": "yoga",
            "pass_id": "p-punch",
            "sessions": 1,
        }
    )
    redeem = _template({"kind": "points_redeem", "points": 20, "reward_id": "water"})
    undo_checkin = _template(
        {
            "kind": "reversal",
            "target_event_id": "0" * 32,
            "target_kind": "checkin",
            "staff_id": "st1",
            "points": 10,
        }
    )
    undo_signin = _template(
        {
            "kind": "reversal",
            "target_event_id": "0" * 32,
            "target_kind": "class_signin",
            "staff_id": "st1",
            "pass_id": "p-punch",
            "sessions": 1,
            "class_session_id": "SESSIONMARK",
        }
    )
    spend = _template({"kind": "sv_spend", "amount_fen": 1_500, "purpose": "coffee"})
    step = SPAN_MS // per_kiosk
    n = 0
    for k, (kiosk_id, store_id) in enumerate(kiosks):
        base = now_ms - SPAN_MS - 60_000 + (k * 7_919) % step
        for seq in range(1, per_kiosk + 1):
            n += 1
            at = base + seq * step
            m = (n * 7_919) % MEMBERS
            session = f"yoga-{store_id}-{at // 86_400_000}"
            offline = n % 50 == 0
            values = {
                "eid": f"{n:032x}",
                "kiosk": kiosk_id,
                "store": store_id,
                "member": member_id(m),
                "uid": card_uid(m),
                "seq": seq,
                "at": at,
                "session": session,
                "offline": "true" if offline else "false",
            }
            if n % 1_000 == 11:
                kind, body, points, cls, sessions = "sv_spend", spend, "\\N", "\\N", "\\N"
            elif n % 1_000 == 18:
                kind, body, points, cls, sessions = "reversal", undo_signin, "\\N", "\\N", "\\N"
            elif n % 10 == 3:
                kind, body, points, cls, sessions = "class_signin", signin, "\\N", session, "1"
            elif n % 100 == 7:
                kind, body, points, cls, sessions = "points_redeem", redeem, "20", "\\N", "\\N"
            elif n % 100 == 8:
                kind, body, points, cls, sessions = "reversal", undo_checkin, "10", "\\N", "\\N"
            else:
                kind, body, points, cls, sessions = "checkin", checkin, "10", "\\N", "\\N"
            received = at + (6 * 3_600_000 if offline else 200)
            yield (
                f"{values['eid']}\t{kiosk_id}\t{seq}\t{store_id}\t{values['member']}\t{kind}\t"
                f"{at}\t0\t{at}\t{received}\t{'t' if offline else 'f'}\tf\t{body % values}\t"
                f"{points}\t{cls}\t{sessions}\n"
            )


def load_events(url: str, kiosks: list[tuple[str, str]], per_kiosk: int, now_ms: int) -> int:
    """``COPY`` the events into ``url``'s events table, its indexes dropped for the load and
    created again from ``coordinator.schema``; returns the rows written."""
    import psycopg
    import sqlalchemy as sa

    from bench.pg import libpq_dsn
    from coordinator import schema

    table = schema.events
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for index in table.indexes:
                conn.execute(sa.text(f'DROP INDEX "{index.name}"'))
            for constraint in table.constraints:
                if isinstance(constraint, sa.UniqueConstraint):
                    conn.execute(sa.schema.DropConstraint(constraint))
        rows = 0
        with psycopg.connect(libpq_dsn(url)) as raw, raw.cursor() as cur:
            statement = f"COPY events ({', '.join(COPY_COLUMNS)}) FROM STDIN"
            with cur.copy(statement) as copy:
                chunk: list[str] = []
                for line in copy_lines(kiosks, per_kiosk, now_ms):
                    chunk.append(line)
                    if len(chunk) == 20_000:
                        copy.write("".join(chunk))
                        rows += len(chunk)
                        chunk = []
                copy.write("".join(chunk))
                rows += len(chunk)
        progress(NAME, f"copied {rows:,} events; building the events table's indexes")
        with engine.begin() as conn:
            conn.execute(sa.text("SET maintenance_work_mem = '256MB'"))
            for constraint in table.constraints:
                if isinstance(constraint, sa.UniqueConstraint):
                    conn.execute(sa.schema.AddConstraint(constraint))
            for index in table.indexes:
                index.create(conn)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE events"))
    finally:
        engine.dispose()
    return rows


def ledger_summary_s(db: Any, now_ms: int) -> float:
    """Seconds the report's summary of every member's folded ledger takes alone (the
    passes, points, coupons and money sections' liabilities: one pass over the members,
    whatever the period and however many events)."""
    from coordinator.reports import queries, service
    from coordinator.reports.period import period, today_in

    with db.read() as conn:
        span = period(None, None, today_in("Asia/Shanghai", now_ms))
        stores = queries.stores(conn)
        # The service's own (private) summary step, timed on its own.
        ctx = service._Ctx(conn, "zh", None, span, now_ms, stores, "Asia/Shanghai")
        t0 = time.perf_counter()
        service._summarize_ledgers(ctx)
        return time.perf_counter() - t0


def rollup_reads_s(db: Any, first: date, last: date) -> float:
    """Seconds the report's reads of the rollups take alone for the period (the same calls
    the store sections make: daily check-ins and sign-ins, hour of day, sessions used,
    points per store, daily money)."""
    from coordinator.reports import queries, rollups
    from coordinator.reports.period import Period

    with db.read() as conn:
        zones = {store: zone for store, (_name, zone) in queries.stores(conn).items()}
        start, end = Period(first, last).utc_bounds(set(zones.values()))
        t0 = time.perf_counter()
        rollups.day_sums(conn, first, last, ("checkins", "class_signins"), None)
        rollups.period_sums(conn, first, last, rollups.HOUR_OF_DAY, None)
        rollups.day_sums(conn, first, last, ("sessions_used",), None)
        rollups.points_by_store(conn, start, end, zones, None)
        rollups.money_days(conn, start, end, first, last, "Asia/Shanghai", None)
        return time.perf_counter() - t0


def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def run(
    total_events: int, stores_n: int, rounds: int, keep: bool, cprofile: bool = False
) -> Result:
    """Seed, then per round: the report from the rollups, then from the events
    (``cprofile``: the rollup reports profiled, the top functions on stderr)."""
    import cProfile
    import io
    import pstats
    import sys

    import sqlalchemy as sa

    from bench.pg import copy_ledger, scratch_database
    from coordinator import schema
    from coordinator.db import Database
    from coordinator.reports import rollups
    from coordinator.reports.service import Reports

    now = time.time_ns() // 1_000_000
    stores = [f"s{i:04d}" for i in range(stores_n)]
    kiosks = [
        (f"k{i:05d}", stores[i // KIOSKS_PER_STORE]) for i in range(stores_n * KIOSKS_PER_STORE)
    ]
    per_kiosk = max(1, total_events // len(kiosks))
    total = per_kiosk * len(kiosks)
    today = datetime.fromtimestamp(now / 1000, UTC).astimezone(TZ).date()
    times: dict[str, list[float]] = {"rollups": [], "events": [], "ledgers": [], "reads": []}
    with work_dir(NAME, keep) as folder, scratch_database("rollup") as url:
        db_path = folder / "coordinator.db"
        progress(NAME, f"seeding {stores_n:,} stores, {len(kiosks):,} kiosks, {MEMBERS:,} members")
        started = time.monotonic()
        seed_coordinator(
            db_path,
            stores=stores,
            kiosks=kiosks,
            members=MEMBERS,
            now_ms=now,
            applied_seq={k: per_kiosk for k, _ in kiosks},
            home_store=lambda i: stores[i % len(stores)],
        )
        copy_ledger(db_path, url)
        progress(NAME, f"fleet on PostgreSQL in {time.monotonic() - started:.0f} s")
        started = time.monotonic()
        load_events(url, kiosks, per_kiosk, now)
        progress(NAME, f"{total:,} events loaded and indexed in {time.monotonic() - started:.0f} s")
        db = Database(url)
        try:
            started = time.monotonic()
            with db.write() as conn:
                hours = rollups.rebuild(conn)
            with db.read() as conn:
                days = conn.execute(
                    sa.select(sa.func.count()).select_from(schema.report_rollup_days)
                ).scalar_one()
            progress(
                NAME,
                f"rollups rebuilt from the events in {time.monotonic() - started:.0f} s: "
                f"{hours:,} hour rows, {days:,} store-day rows",
            )
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE report_rollups, report_rollup_days"))
            reports = Reports(db, lambda: now, cache_s=0)
            profiler = cProfile.Profile() if cprofile else None
            for r in range(rounds):
                last = today - timedelta(days=r)
                built = {}
                for key in ("rollups", "events"):
                    if profiler is not None and key == "rollups":
                        profiler.enable()
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
                    if profiler is not None:
                        profiler.disable()
                times["ledgers"].append(ledger_summary_s(db, now))
                times["reads"].append(rollup_reads_s(db, last - timedelta(days=29), last))
                if built["rollups"].sections != built["events"].sections:
                    raise SystemExit(f"{NAME}: the two reports differ for {last}")
                rows = sum(len(t.rows) for s in built["rollups"].sections for t in s.tables)
                progress(
                    NAME,
                    f"round {r + 1}: rollups {ms(times['rollups'][-1])}, events "
                    f"{ms(times['events'][-1])} (identical, {rows:,} table rows); members' "
                    f"ledgers alone {ms(times['ledgers'][-1])}, rollup reads alone "
                    f"{ms(times['reads'][-1])}",
                )
            if profiler is not None:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
                print(out.getvalue(), file=sys.stderr)
        finally:
            db.dispose()
    p50 = {k: statistics.median(v) for k, v in times.items()}
    p95 = {k: _pct(v, 0.95) for k, v in times.items()}
    return Result(
        name=NAME,
        tapfleet=(
            f"chain-wide 30-day report (store sections) from rollups p50 {ms(p50['rollups'])} "
            f"p95 {ms(p95['rollups'])}, of which its reads of the rollups p50 "
            f"{ms(p50['reads'])} p95 {ms(p95['reads'])} and the summary of the members' "
            f"folded ledgers (per member, not per event) p50 {ms(p50['ledgers'])} ({rounds} "
            f"uncached periods, PostgreSQL, "
            f"{stores_n:,} stores, {MEMBERS:,} members, {total:,} events over 30 days)"
        ),
        baseline=(
            f"the same report summed from the events p50 {ms(p50['events'])} p95 "
            f"{ms(p95['events'])} (identical output every round)"
        ),
        ratio=p50["rollups"] / p50["events"],
        target=f"rollup report p95 < {TARGET_S:g} s uncached, identical (ratio: p50s)",
        passed=p95["rollups"] < TARGET_S,
    )


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--events", type=int, default=10_000_000, help="events loaded")
    parser.add_argument("--stores", type=int, default=3_000, help="stores (3 kiosks each)")
    parser.add_argument("--rounds", type=int, default=7, help="report periods measured")
    parser.add_argument("--cprofile", action="store_true", help="cProfile the rollup reports")
    args = parser.parse_args()
    if args.quick:
        emit(run(20_000, 30, 2, args.keep, args.cprofile))
    else:
        emit(run(args.events, args.stores, args.rounds, args.keep, args.cprofile))


if __name__ == "__main__":
    main()
