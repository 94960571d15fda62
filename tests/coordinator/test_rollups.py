"""Report rollups stay exactly equal to a recomputation from the stored events, on SQLite
and PostgreSQL: online taps, a kiosk's events from two days ago arriving late, reversals
(of check-ins, sign-ins and redemptions, in other hours than their targets), HQ adjustments
and redemptions; stored value topped up at a store and at HQ, spent at a kiosk online and
offline (late), refunded, and purchases paid from stored value and in cash. Compared with
the rollups' own recomputation and with the report queries (``coordinator.reports.queries``,
written independently of the rollups; for money, the facts ``queries.money_events`` reads
for the report's daily money table), and the rollups rebuilt from scratch come out
identical to the ones kept incrementally.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

from coordinator import schema
from coordinator.db import Database
from coordinator.reports import queries, rollups
from coordinator.reports.period import DAY_MS, from_day_number, local
from shared.decide import Accepted
from shared.events import (
    CheckIn,
    ClassSignIn,
    PointsRedeem,
    Purchase,
    Reversal,
    StoredValueRefund,
    StoredValueSpend,
    StoredValueTopUp,
)
from shared.hlc import ZERO
from shared.model import ClassSession
from simulators.broker import Broker
from simulators.waiting import poll_until
from tests.coordinator.conftest import running_harness
from tests.coordinator.harness import Harness

HOUR = rollups.HOUR_MS
MEMBERS = ["m0", "m1", "m2"]
QUERY_METRICS = {"checkins", "class_signins", "sessions_used", "points_earned", "points_redeemed"}
"""The rolled metrics the report queries also compute (per event store)."""
MONEY_METRICS = {
    "sv_topped_up_fen",
    "sv_bonus_fen",
    "sv_spent_fen",
    "sv_refunded_fen",
    "purchases",
    "purchase_total_fen",
}


def _setup(h: Harness) -> int:
    h.add_store("s1")
    h.add_store("s2")
    now = h.coord.clock.wall_ms()
    classes = [
        ClassSession(
            class_session_id=f"{store}-yoga",
            class_type="yoga",
            store_id=store,
            title_zh="瑜伽",
            title_en="Yoga",
            starts_ms=now + 5 * 60_000,
            ends_ms=now + 65 * 60_000,
        ).model_dump(mode="json")
        for store in ("s2",)  # s1 has no class: its taps are check-ins
    ]
    h.publish_rules(
        rules={
            "double_tap_window_s": 0,
            "checkin_reward_once_per_day": False,
            "money": {"topup_tiers": [{"min_paid_fen": 30_000, "bonus_fen": 3_000}]},
        },
        classes=classes,
        rewards=[{"reward_id": "water", "title_zh": "水", "title_en": "Water", "points_cost": 20}],
    )
    for member in MEMBERS:
        h.add_member(member)
        h.sell_pass(member, f"p-{member}", 10)
        h.issue_coupon(member, f"c-{member}", [])
    return now


def _windows(now: int) -> list[tuple[int, int, str | None]]:
    day_start = (now // HOUR) * HOUR
    windows: list[tuple[int, int, str | None]] = []
    for start, end in (
        (day_start - 4 * DAY_MS, day_start + 2 * HOUR),  # everything
        (day_start - 3 * DAY_MS, day_start - DAY_MS),  # the late kiosk's day only
        (day_start - HOUR, day_start + 2 * HOUR),  # today's online hours
    ):
        windows += [(start, end, None), (start, end, "s1"), (start, end, "s2")]
    return windows


def _by_queries(
    db: Database, start: int, end: int, store: str | None
) -> dict[tuple[str, str], int]:
    """The rolled metrics as the report queries compute them from the events."""
    out: dict[tuple[str, str], int] = {}

    def add(key: tuple[str, str], value: int) -> None:
        if value:
            out[key] = out.get(key, 0) + value

    with db.read() as conn:
        for s, kind, _bucket, n in queries.tap_buckets(conn, start, end, DAY_MS, store):
            add((s, "checkins" if kind == "checkin" else "class_signins"), n)
        for s, _bucket, n in queries.sessions_used(conn, start, end, DAY_MS, store):
            add((s, "sessions_used"), n)
        flows = queries.points_flows(conn, start, end, store)
    for s, flow in flows.items():
        if s is not None and (store is None or s == store):
            add((s, "points_earned"), flow.earned)
            add((s, "points_redeemed"), flow.redeemed)
    with db.read() as conn:
        money = queries.money_events(conn, end)
    for event in money:
        if event.hlc_ms < start or (store is not None and event.store_id != store):
            continue
        where, b = event.store_id or "", event.body
        if isinstance(b, StoredValueTopUp):
            add((where, "sv_topped_up_fen"), b.paid_fen)
            add((where, "sv_bonus_fen"), b.bonus_fen)
        elif isinstance(b, StoredValueSpend):
            add((where, "sv_spent_fen"), b.amount_fen)
        elif isinstance(b, StoredValueRefund):
            add((where, "sv_refunded_fen"), b.amount_fen)
        elif isinstance(b, Purchase):
            add((where, "purchases"), 1)
            add((where, "purchase_total_fen"), b.total_fen)
    return out


def test_rollups_equal_a_recomputation_from_events(
    tmp_path: Path, broker: Broker, database: Database
) -> None:
    with running_harness(tmp_path, broker, database=database) as h:
        now = _setup(h)
        k1 = h.kiosk("k1", "s1")
        k2 = h.kiosk("k2", "s2")
        for i, member in enumerate(MEMBERS * 3):
            assert isinstance(k1.tap(member), Accepted)
            k2.tap(member, class_session_id="s2-yoga")
            if i % 2:
                k1.redeem_points(member, "water")
        k1.redeem_coupon("m0", "c-m0")
        # Money: topped up at a store and at HQ (no store), spent at a kiosk, refunded at
        # HQ, purchases at a store paid from stored value (its own sv_spend) and in cash.
        top_ups = (("m0", 50_000, "s1"), ("m1", 30_000, None), ("m2", 20_000, "s2"))
        for member, fen, store in top_ups:
            body: dict[str, object] = {"amount_fen": fen, "method": "wechat"}
            if store:
                body["store_id"] = store
            h.call("POST", f"/api/v1/members/{member}/stored-value/top-ups", json=body, expect=201)
        k1.record("m0", StoredValueSpend(amount_fen=1_250, purpose="coffee"))
        h.call(
            "POST",
            "/api/v1/members/m1/stored-value/refunds",
            json={"amount_fen": 5_000, "method": "wechat", "reason": "moved away"},
            expect=201,
        )
        for i, method in enumerate(("stored_value", "cash")):
            h.call(
                "POST",
                "/api/v1/purchases",
                json={"member_id": "m2", "store_id": "s2", "total_fen": 3_300, "method": method},
                headers={**h.admin, "Idempotency-Key": f"rollup-purchase-{i}"},
                expect=201,
            )

        # A kiosk whose journal holds taps from two days ago, delivered only now, with
        # reversals recorded hours after their targets (other rollup hours).
        k3 = h.kiosk("k3", "s2")
        k3.go_offline()
        late_clock = [now - 2 * DAY_MS]
        k3.clock = lambda: late_clock[0]
        k3.hlc = ZERO  # its journal from two days ago (the HLC of that time)
        late = [
            k3.record("m1", CheckIn(points=10)),
            k3.record(
                "m1",
                ClassSignIn(
                    class_session_id="s2-yoga", class_type="yoga", pass_id="p-m1", sessions=1
                ),
            ),
            k3.record("m2", PointsRedeem(points=20, reward_id="water")),
        ]
        k3.record("m0", StoredValueSpend(amount_fen=800, purpose="late tea"))
        undone_next_day = k3.record("m2", CheckIn(points=10))
        late_clock[0] += 3 * HOUR
        k3.record(
            "m1",
            Reversal(
                target_event_id=late[0].event_id, target_kind="checkin", staff_id="st1", points=10
            ),
        )
        k3.record(
            "m1",
            Reversal(
                target_event_id=late[1].event_id,
                target_kind="class_signin",
                staff_id="st1",
                pass_id="p-m1",
                sessions=1,
                class_session_id="s2-yoga",
            ),
        )
        k3.record(
            "m2",
            Reversal(
                target_event_id=late[2].event_id,
                target_kind="points_redeem",
                staff_id="st1",
                points=20,
            ),
        )
        k3.record("m0", CheckIn(points=10))
        # A reversal a day after its target (another store-day, still offline).
        late_clock[0] += DAY_MS
        k3.record(
            "m2",
            Reversal(
                target_event_id=undone_next_day.event_id,
                target_kind="checkin",
                staff_id="st1",
                points=10,
            ),
        )
        # And an online reversal of an online check-in.
        first = next(e for e in k1.journal if isinstance(e.body, CheckIn))
        k1.record(
            first.member_id,
            Reversal(
                target_event_id=first.event_id, target_kind="checkin", staff_id="st2", points=10
            ),
        )
        k3.clock = h.coord.clock.wall_ms
        k3.connect()  # back online: the journal drains
        for kiosk in (k1, k2, k3):
            kiosk.flush()
            assert kiosk.wait_acked(20), f"{kiosk.kiosk_id} acked {kiosk.acked_seq}"
        # HQ adjustments (audited points grants).
        for member in ("m0", "m2"):
            h.call(
                "POST",
                f"/api/v1/members/{member}/points",
                json={"points": 7, "reason": "goodwill after a broken reader"},
                expect=201,
            )
        assert poll_until(lambda: len(h.events(source="k3")) == len(k3.journal), 10)

        db = h.coord.db
        everything = _windows(now)[0]
        with db.read() as conn:
            whole = rollups.totals(conn, everything[0], everything[1])
        metrics = {m for _, m in whole}
        assert {"checkins", "class_signins", "points_earned", "points_redeemed"} <= metrics
        assert {"sessions_used", "points_adjusted", "coupons_redeemed"} <= metrics
        assert metrics >= MONEY_METRICS
        assert whole[("", "sv_topped_up_fen")] == 30_000  # HQ's top-up: no store
        assert whole[("s2", "purchases")] == 2
        for start, end, store in _windows(now):
            with db.read() as conn:
                kept = rollups.totals(conn, start, end, store)
                again = rollups.recompute(conn, start, end, store)
            assert kept == again, (start, end, store)
            comparable = {k: v for k, v in kept.items() if k[1] in QUERY_METRICS | MONEY_METRICS}
            assert comparable == _by_queries(db, start, end, store), (start, end, store)
        # The late day holds the late kiosk's taps and its reversals, netting to zero for
        # everything it undid (the check-in at +3 h of a reversed one stays).
        late_day = _windows(now)[3 + 2]  # (late day, s2)
        with db.read() as conn:
            assert rollups.totals(conn, late_day[0], late_day[1], "s2") == {
                ("s2", "checkins"): 2,
                ("s2", "points_earned"): 20,
                ("s2", "sv_spent_fen"): 800,
                ("s2", "points_facts"): 6,  # 3 check-ins, a redemption, 2 of their undos
            }
        # Every store-day row equals the recomputation over that store-local day, and its
        # hour-of-day columns the recomputation over each of its hours.
        kept_days = _day_rows(db)
        assert _day_rows_recomputed(db, now) == kept_days
        assert ("s2", local(now - 2 * DAY_MS, "Asia/Shanghai").date()) in kept_days
        assert any(row["checkins"] < 0 for row in kept_days.values())  # the next-day undo

        # The report reads the rollups: the same report as summed from the events, whole
        # chain and each store, over the default 30 days and over the late kiosk's day.
        today = h.coord.reports.build(store_id=None, first=None, last=None, lang="en").period.last
        late_date = today - timedelta(days=2)
        for store, first, last, lang in (
            (None, None, None, "en"),
            ("s1", None, None, "zh"),
            ("s2", None, None, "en"),
            (None, late_date, late_date, "zh"),
            ("s2", late_date - timedelta(days=1), late_date, "en"),
        ):
            spec = {"store_id": store, "first": first, "last": last, "lang": lang}
            rolled = h.coord.reports.build(**spec)
            summed = h.coord.reports.build(**spec, from_events=True)
            assert rolled.sections == summed.sections, spec
        rows = {t.name: t.rows for s in rolled.sections for t in s.tables}
        assert rows["checkins_daily"] and rows["money_daily"]  # the late day's facts

        with db.read() as conn:
            incremental = sorted(conn.execute(sa.select(schema.report_rollups)).all())
        with db.write() as conn:
            rollups.rebuild(conn)
        with db.read() as conn:
            rebuilt = sorted(conn.execute(sa.select(schema.report_rollups)).all())
        # Incremental rows may hold zero sums (a reversal cancelled its target); rebuilt not.
        assert [r for r in incremental if r.value] == rebuilt
        assert _day_rows(db) == kept_days  # rebuilt from the events
        with db.write() as conn:
            rollups.derive_days(conn)
        assert _day_rows(db) == kept_days  # derived from the hours (migration 0022)
        with db.write() as conn:
            rollups.derive_days(conn, ["s2"])
        assert _day_rows(db) == kept_days  # one store's (its registration)


def _day_rows(db: Database) -> dict[tuple[str, date], dict[str, int]]:
    """(store, local date) -> the non-zero columns of every store-day row."""
    days = schema.report_rollup_days
    with db.read() as conn:
        rows = conn.execute(sa.select(days)).all()
    out = {}
    for row in rows:
        values = {name: int(row._mapping[name]) for name in rollups.DAY_COLUMNS}
        if any(values.values()):
            out[(row.store_id, from_day_number(row.day))] = {
                name: value for name, value in values.items() if value
            }
    return out


def _day_rows_recomputed(db: Database, now: int) -> dict[tuple[str, date], dict[str, int]]:
    """The same, recomputed from the events over each store-local day and hour."""
    out: dict[tuple[str, date], dict[str, int]] = {}
    today = local(now, "Asia/Shanghai").date()
    with db.read() as conn:
        for store in ("s1", "s2"):
            for back in range(-1, 6):
                day = today - timedelta(days=back)
                start = rollups.day_start(day, "Asia/Shanghai")
                end = rollups.day_start(day + timedelta(days=1), "Asia/Shanghai")
                values = {
                    metric: value
                    for (_s, metric), value in rollups.recompute(conn, start, end, store).items()
                    if metric in rollups.DAY_METRICS
                }
                for hour_start in range(start, end, HOUR):
                    hour = local(hour_start, "Asia/Shanghai").hour
                    again = rollups.recompute(conn, hour_start, hour_start + HOUR, store)
                    for metric in ("checkins", "class_signins"):
                        if again.get((store, metric)):
                            values[f"{metric}_h{hour:02d}"] = again[(store, metric)]
                if values:
                    out[(store, day)] = values
    return out
