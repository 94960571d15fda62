"""Report figures from events fed through the real ingest, on SQLite and PostgreSQL, with
store-local days in two time zones; and on SQLite, proof that no report query scans the
events table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from coordinator.reports.service import Report
from shared.events import (
    CheckIn,
    CouponRedeem,
    CredentialKind,
    CredentialRef,
    Event,
    EventBody,
    PointsRedeem,
    Reversal,
    StoredValueSpend,
)
from shared.protocol import EventBatch
from shared.topics import Channel
from tests.dashboard.ingest_feed import Api, api_without_broker, feed
from tests.support.factories import kiosk_event

SHANGHAI = ZoneInfo("Asia/Shanghai")
LONDON = ZoneInfo("Europe/London")


def local_ms(day: date, hour: int, minute: int, tz: ZoneInfo) -> int:
    return int(datetime.combine(day, time(hour, minute), tz).timestamp() * 1000)


class Kiosk:
    """A kiosk's journal, sent as one event batch per call (the ingest orders by seq)."""

    def __init__(self, api: Api, kiosk_id: str, store_id: str):
        self.api, self.kiosk_id, self.store_id, self.seq = api, kiosk_id, store_id, 0

    def send(self, member: str, body: EventBody, at_ms: int) -> Event:
        self.seq += 1
        event = kiosk_event(
            self.kiosk_id, self.seq, member, body, at_ms=at_ms, store_id=self.store_id, offline=True
        )
        batch = EventBatch(kiosk_id=self.kiosk_id, events=(event,))
        feed(self.api.coord, self.kiosk_id, Channel.EVENTS, batch, self.api.coord.clock.wall_ms())
        return event


@pytest.fixture
def seeded(tmp_path: Path, database: Any) -> Iterator[tuple[Api, date]]:
    with api_without_broker(tmp_path, database=database) as api:
        now = api.coord.clock.wall_ms()
        today = datetime.fromtimestamp(now / 1000, SHANGHAI).date()
        api.call("POST", "/api/v1/stores", json={"store_id": "s1", "name": "上海店"}, expect=201)
        api.call(
            "POST",
            "/api/v1/stores",
            json={"store_id": "s2", "name": "London", "timezone": "Europe/London"},
            expect=201,
        )
        for kiosk, store in (("k1", "s1"), ("k2", "s2")):
            body = {"kiosk_id": kiosk, "store_id": store}
            api.call("POST", "/api/v1/kiosks", json=body, expect=201)
        for member, store in (("m1", "s1"), ("m2", "s2")):
            body = {"member_id": member, "display_name": member.upper(), "home_store_id": store}
            api.call("POST", "/api/v1/members", json=body, expect=201)
        api.call(
            "POST",
            "/api/v1/members/m1/passes",
            json={
                "kind": "punch",
                "name": "10x",
                "valid_from_ms": now - 86_400_000,
                "valid_until_ms": now + 86_400_000 * 100,
                "sessions_total": 10,
                "price_fen": 12_345,
            },
            expect=201,
        )
        campaign = {
            "campaign_id": "c-all",
            "coupon": {
                "title": "Trial",
                "kind": "trial",
                "valid_from_ms": now - 86_400_000,
                "valid_until_ms": now + 86_400_000 * 30,
            },
            "segment": {"all_members": True},
        }
        api.call("POST", "/api/v1/campaigns", json=campaign, expect=201)
        coupon = api.call("GET", "/api/v1/members/m1/balance", params={"trail": False})
        coupon_id = coupon["ledger"]["coupons"][0]["coupon_id"]

        d10, d9, d8 = (today - timedelta(days=n) for n in (10, 9, 8))
        k1, k2 = Kiosk(api, "k1", "s1"), Kiosk(api, "k2", "s2")
        k1.send("m1", CheckIn(points=10), local_ms(d10, 9, 15, SHANGHAI))
        # 7 promotional points that expired yesterday; 5 of them are spent first (soonest
        # expiring lot first), so 2 expire when the expiry job runs.
        yesterday = local_ms(today - timedelta(days=1), 12, 0, SHANGHAI)
        k1.send(
            "m1", CheckIn(points=7, points_expires_ms=yesterday), local_ms(d10, 9, 20, SHANGHAI)
        )
        late = k1.send("m1", CheckIn(points=10), local_ms(d9, 23, 30, SHANGHAI))
        k1.send(
            "m1",
            Reversal(
                target_event_id=late.event_id, target_kind="checkin", staff_id="st1", points=10
            ),
            local_ms(d9, 23, 40, SHANGHAI),
        )
        k1.send("m1", PointsRedeem(points=5, reward_id="water"), local_ms(d8, 10, 0, SHANGHAI))
        # 23:30 in London is already the next day in Shanghai: it belongs to London's d10.
        k2.send("m2", CheckIn(points=10), local_ms(d10, 23, 30, LONDON))
        k1.send("m1", CouponRedeem(coupon_id=coupon_id), api.coord.clock.wall_ms())
        api.coord.housekeeping()  # points expiry: a PointsExpire event naming the 7-point lot
        yield api, today


def tables(report: Report) -> dict[str, list[list[str]]]:
    return {t.name: t.rows for s in report.sections for t in s.tables}


def test_report_figures_on_both_databases(seeded: tuple[Api, date]) -> None:
    api, today = seeded
    reports = api.client.app.state.coordinator.reports  # type: ignore[attr-defined]
    report = reports.build(store_id=None, first=today - timedelta(days=10), last=today, lang="en")
    # Summed from the rollups (two zones, whole hours) or from the events: the same report.
    summed = reports.build(
        store_id=None, first=today - timedelta(days=10), last=today, lang="en", from_events=True
    )
    assert report.sections == summed.sections
    rows = tables(report)
    d10, d9 = ((today - timedelta(days=n)).isoformat() for n in (10, 9))
    daily = {(r[0], r[1]): r[2:] for r in rows["checkins_daily"]}
    assert daily[(d10, "上海店 (s1)")] == ["2", "0"]
    assert daily[(d9, "上海店 (s1)")] == ["0", "0"]  # checked in, then undone by staff
    assert daily[(d10, "London (s2)")] == ["1", "0"]
    assert sum(int(r[2]) for r in rows["checkins_daily"]) == 3
    assert rows["checkins_hourly"] == [
        ["上海店 (s1)", "09:00", "2", "0"],
        ["London (s2)", "23:00", "1", "0"],
    ]
    # s1: 10 + 7 + 10 earned, 10 taken back by the undo; 5 redeemed; 2 of the 7 expired.
    assert rows["points_flow"] == [
        ["上海店 (s1)", "17", "5", "0", "2"],
        ["London (s2)", "10", "0", "0", "0"],
    ]
    assert rows["pass_sales"] == [["上海店 (s1)", "1", "123.45"]]
    assert rows["coupons_by_campaign"] == [["c-all", "Trial", "2", "1", "2", "1", "50.0%"]]
    liability = {r[0]: r[1:] for r in rows["points_liability"]}
    assert liability["上海店 (s1)"] == ["1", "10", "0", "0"]  # the 10-point lot is whole
    assert liability["London (s2)"] == ["1", "10", "0", "0"]

    # One store: only its facts, its members.
    s2 = tables(
        reports.build(store_id="s2", first=today - timedelta(days=10), last=today, lang="zh")
    )
    assert {r[1] for r in s2["checkins_daily"]} == {"London (s2)"}
    assert s2["points_flow"] == [["London (s2)", "10", "0", "0", "0"]]
    assert [r[0] for r in s2["rfm_members"]] == ["m2"]
    assert s2["coupons_by_campaign"] == [["c-all", "Trial", "1", "0", "1", "0", "0.0%"]]


def test_no_report_query_scans_the_events_table(seeded: tuple[Api, date]) -> None:
    api, today = seeded
    db = api.coord.db
    if not db.is_sqlite:
        pytest.skip("query plans are checked on SQLite")
    statements: list[tuple[str, Any]] = []

    def remember(_conn: Any, _cursor: Any, statement: str, params: Any, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "events" in statement:
            statements.append((statement, params))

    sa.event.listen(db.engine, "before_cursor_execute", remember)
    try:
        api.client.app.state.coordinator.reports.build(  # type: ignore[attr-defined]
            store_id=None, first=today - timedelta(days=30), last=today, lang="zh"
        )
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", remember)
    checked = 0
    with db.engine.connect() as conn:
        for statement, params in statements:
            if " events" not in statement and "events." not in statement:
                continue
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            details = [str(row[-1]) for row in plan]
            assert not any(d.startswith(("SCAN events", "SCAN TABLE events")) for d in details), (
                statement,
                details,
            )
            checked += 1
    assert checked >= 10


def test_migrations_0004_0006_0024_fill_report_columns_of_older_rows(database: Any) -> None:
    """Rows stored before the report columns get ``body.points`` (check-ins, redemptions,
    reversals), a class sign-in's ``class_session_id`` and ``sessions``, NULL otherwise,
    and who performed the fact (``staff_id``: the body's staff, else the credential's),
    as the ingest writes new rows (``report_columns``)."""
    from coordinator import schema
    from coordinator.reports.indexes import REPORT_COLUMNS, report_columns
    from shared.events import ClassSignIn

    database.migrate("0003")
    bodies: list[EventBody] = [
        CheckIn(points=7),
        PointsRedeem(points=5),
        Reversal(target_event_id="e" * 32, target_kind="checkin", staff_id="st1", points=3),
        ClassSignIn(class_session_id="c1", class_type="yoga", pass_id="p1"),
        ClassSignIn(class_session_id="c2", class_type="yoga", pass_id="p2", sessions=0),
        CheckIn(points=0),
    ]
    events = [
        kiosk_event("k1", n + 1, "m1", body, at_ms=1_795_000_000_000 + n, store_id="s1")
        for n, body in enumerate(bodies)
    ]
    by_staff = CredentialRef(kind=CredentialKind.STAFF, staff_id="fd7")
    events[1] = events[1].model_copy(update={"credential": by_staff})
    events.append(
        kiosk_event("k1", 7, "m1", StoredValueSpend(amount_fen=300, staff_id="fd8")).model_copy(
            update={"credential": by_staff}
        )
    )
    columns = [c for c in schema.events.c if c.name not in ("id", *REPORT_COLUMNS)]
    old_events = sa.Table("events", sa.MetaData(), *(sa.Column(c.name, c.type) for c in columns))
    with database.write() as conn:
        conn.execute(
            sa.insert(old_events),
            [
                {
                    "event_id": e.event_id,
                    "source": e.kiosk_id,
                    "seq": e.seq,
                    "store_id": e.store_id,
                    "member_id": e.member_id,
                    "kind": e.kind,
                    "hlc_ms": e.hlc_ms,
                    "hlc_c": e.hlc_c,
                    "wall_ms": e.wall_ms,
                    "received_ms": e.wall_ms,
                    "offline": False,
                    "quarantined": False,
                    "body": e.model_dump_json(),
                }
                for e in events
            ],
        )
    database.migrate()
    ev = schema.events
    with database.read() as conn:
        rows = conn.execute(
            sa.select(ev.c.event_id, *(ev.c[name] for name in REPORT_COLUMNS))
        ).all()
    stored = {row[0]: dict(zip(REPORT_COLUMNS, row[1:], strict=True)) for row in rows}
    assert stored == {e.event_id: report_columns(e) for e in events}
    assert [tuple(stored[e.event_id].values()) for e in events] == [
        (7, None, None, None),
        (5, None, None, "fd7"),
        (3, None, None, "st1"),
        (None, "c1", 1, None),
        (None, "c2", 0, None),
        (0, None, None, None),
        (None, None, None, "fd8"),
    ]
