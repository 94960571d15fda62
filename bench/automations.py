"""Automations: one daily run over N members (default 100,000) vs the bare read it needs.

Tapfleet: ``coordinator.engage.runner.run_automations`` (timed: the next day's run, after
a first run that found every occasion due at once, also printed) with three automations of a chain
(birthday greeting with a coupon, expiring-points reminder, a lapsed tag) over N members
in SQLite (WAL, ``synchronous=FULL``, on the repository's disk): batches of 500 members,
each locked, their ledgers parsed, every trigger and segment judged by ``shared.engage``,
the occasions written with their runs, audit rows, coupons (hq events folded) and
notifications (fanned out to webhooks). Birthdays are spread over the year, so about
N/365 members have theirs today; each has one points lot, 1 in 12 expiring within a month.

Baseline: the same batches read with no decision: each member's row and state, and the
ledger JSON parsed (what any daily pass over the members must do). Target: a daily run
within 5x the bare read. ``BENCH_AUTOMATIONS_N`` overrides N (``--quick``: 2,000).
"""

from __future__ import annotations

import os
import random
import time

from bench.common import Result, emit, parse_args, progress, work_dir

NAME = "automations"
DAY_MS = 86_400_000


def main() -> int:
    """Run the benchmark; prints one line."""
    args = parse_args(__doc__ or NAME)
    n = int(os.environ.get("BENCH_AUTOMATIONS_N", 2_000 if args.quick else 100_000))

    import sqlalchemy as sa

    from coordinator import schema
    from coordinator.db import Database
    from coordinator.engage.runner import run_automations
    from coordinator.ledger.jsonrows import ledger_from_row
    from coordinator.runtime import Coordinator
    from coordinator.settings import CoordinatorSettings
    from shared.automation import Automation
    from shared.model import MemberLedger, PointsLot, Rules

    rng = random.Random(16)
    now = time.time_ns() // 1_000_000
    automations = (
        Automation.model_validate({
            "automation_id": "birthday", "name": "birthday",
            "trigger": {"kind": "birthday", "days_before": 0},
            "actions": [{"kind": "issue_coupon", "title": "生日券", "value": 2000},
                        {"kind": "notify", "text_zh": "生日快乐"}],
        }),
        Automation.model_validate({
            "automation_id": "expiring", "name": "expiring",
            "trigger": {"kind": "points_expiring", "within_days": 30},
            "actions": [{"kind": "notify", "text_zh": "积分快过期了"}],
        }),
        Automation.model_validate({
            "automation_id": "lapsed", "name": "lapsed",
            "trigger": {"kind": "lapsed", "days": 60},
            "actions": [{"kind": "add_tag", "tag": "lapsed"}],
        }),
    )  # fmt: skip
    rules = Rules(automations=automations)
    with work_dir(NAME, args.keep) as folder:
        db = Database(f"sqlite:///{folder / 'coordinator.db'}")
        coord = Coordinator(CoordinatorSettings(dev_mode=True, mqtt_enabled=False), database=db)
        db.migrate()
        coord.bootstrap()
        progress(NAME, f"seeding {n} members")
        for start in range(0, n, 5_000):
            members, states = [], []
            for i in range(start, min(n, start + 5_000)):
                member_id = f"m{i:07d}"
                birthday = time.strftime(
                    "%Y-%m-%d", time.gmtime(now / 1000 - rng.randrange(365) * 86_400)
                )
                expires = now + rng.randrange(1, 360) * DAY_MS
                ledger = MemberLedger(
                    points_lots=(PointsLot(lot_id=f"l{i}", earned_ms=now - DAY_MS,
                                           expires_ms=expires, amount=100, remaining=100),),
                    last_checkin_ms=now - rng.randrange(120) * DAY_MS,
                )  # fmt: skip
                members.append(
                    {"member_id": member_id, "display_name": member_id,
                     "created_ms": now - 400 * DAY_MS, "birthday": birthday, "status": "active"}
                )  # fmt: skip
                states.append(
                    {"member_id": member_id, "ledger": ledger.model_dump_json(), "tier": "basic",
                     "updated_ms": now}
                )  # fmt: skip
            with db.write() as conn:
                conn.execute(sa.insert(schema.members), members)
                conn.execute(sa.insert(schema.member_states), states)

        progress(NAME, "baseline: the bare read")
        started = time.perf_counter()
        cursor, seen = "", 0
        m, ms = schema.members, schema.member_states
        while True:
            with db.write() as conn:
                ids = list(
                    conn.execute(
                        sa.select(m.c.member_id)
                        .where(m.c.member_id > cursor)
                        .order_by(m.c.member_id)
                        .limit(500)
                    ).scalars()
                )
                if not ids:
                    break
                list(conn.execute(sa.select(m).where(m.c.member_id.in_(ids))))
                for row in conn.execute(sa.select(ms).where(ms.c.member_id.in_(ids))):
                    ledger_from_row(row.ledger)
                seen += len(ids)
            cursor = ids[-1]
        bare = time.perf_counter() - started

        progress(NAME, "tapfleet: the first run (every occasion due at once)")
        started = time.perf_counter()
        first = run_automations(db, coord.recorder, lambda _conn: rules, now)
        first_s = time.perf_counter() - started
        progress(NAME, "tapfleet: the next day's run")
        started = time.perf_counter()
        report = run_automations(db, coord.recorder, lambda _conn: rules, now + DAY_MS)
        ours = time.perf_counter() - started
        db.dispose()
    ratio = bare / ours if ours else None
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.by_automation.items()))
    emit(
        Result(
            name=NAME,
            tapfleet=(
                f"daily run over {report.members_seen} members in {ours:.1f} s: "
                f"{report.runs} new occasions ({counts}), {report.hq_events} hq events "
                f"(first run, everything due: {first.runs} occasions in {first_s:.1f} s)"
            ),
            baseline=f"bare read of {seen} members in {bare:.1f} s",
            ratio=ratio,
            target="within 5x the bare read (ratio >= 0.2)",
            passed=report.members_seen == n and ratio is not None and ratio >= 0.2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
