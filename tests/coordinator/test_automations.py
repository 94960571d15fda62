"""Automations: birthday gifts, welcome gifts, reminders and win-back, run by the
coordinator with an injected clock across a birthday, a month end and a year; at most once
per member per occasion, across restarts and replicas; an unbounded points grant refused."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pydantic
import pytest
import sqlalchemy as sa

from coordinator import schema
from coordinator.db import Database
from coordinator.engage.runner import AutomationReport, coupon_id_for, run_automations
from coordinator.ledger.hq_events import HqFact
from coordinator.ledger.jsonrows import ledger_from_row
from coordinator.ledger.member_fold import ensure_member_states
from coordinator.runtime import Coordinator
from coordinator.settings import CoordinatorSettings
from shared.automation import MAX_POINTS_PER_MEMBER_YEAR, Automation
from shared.engage import MemberFacts, next_birthday, occasions
from shared.events import EventBody, PassIssue, PassUpdate
from shared.model import DAY_MS, MemberLedger, PassKind, PassState, Rules

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str) -> int:
    """Store-local time (Shanghai) as epoch ms."""
    return int(datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp() * 1000)


class FakeClock:
    def __init__(self, now: int):
        self.now = now

    def wall_ms(self) -> int:
        return self.now


def automation(**fields: Any) -> Automation:
    return Automation.model_validate({"name": fields.get("automation_id", "a"), **fields})


BIRTHDAY = automation(
    automation_id="bday",
    trigger={"kind": "birthday", "days_before": 3},
    actions=[
        {
            "kind": "issue_coupon",
            "title": "生日券 Birthday",
            "coupon_kind": "voucher",
            "value": 2000,
            "valid_days": 14,
        },
        {"kind": "grant_points", "points": 200},
        {"kind": "notify", "text_zh": "生日快乐", "text_en": "Happy birthday"},
    ],
)
WELCOME = automation(
    automation_id="welcome",
    trigger={"kind": "registration", "within_days": 7},
    actions=[{"kind": "issue_coupon", "title": "Welcome", "coupon_kind": "trial"}],
)
RENEW = automation(
    automation_id="renew",
    trigger={"kind": "pass_expiring", "within_days": 3, "sessions_left": 2},
    actions=[{"kind": "notify", "text_zh": "卡快到期了"}],
)
WINBACK = automation(
    automation_id="winback",
    trigger={"kind": "lapsed", "days": 30},
    segment={"tiers": ["basic"]},
    actions=[{"kind": "add_tag", "tag": "lapsed"}, {"kind": "grant_points", "points": 50}],
)
EXPIRING = automation(
    automation_id="expiring",
    trigger={"kind": "points_expiring", "within_days": 14},
    actions=[{"kind": "notify", "text_zh": "积分快过期了"}],
)


class Chain:
    """A coordinator (not started: no threads, no MQTT) on one database, with a clock."""

    def __init__(self, database: Database, clock: FakeClock, automations: list[Automation]):
        self.clock = clock
        self.coord = Coordinator(
            CoordinatorSettings(dev_mode=True, mqtt_enabled=False), clock=clock, database=database
        )
        self.coord.bootstrap()
        self.rules = Rules(automations=tuple(automations))

    @property
    def db(self) -> Database:
        return self.coord.db

    def add_member(self, member_id: str, created_ms: int, **fields: Any) -> None:
        with self.db.write() as conn:
            conn.execute(
                sa.insert(schema.members).values(
                    member_id=member_id, display_name=member_id, created_ms=created_ms, **fields
                )
            )
            ensure_member_states(conn, [member_id], created_ms)

    def hq(self, member_id: str, *bodies: EventBody) -> None:
        with self.db.write() as conn:
            self.coord.recorder.record(conn, [HqFact(member_id, b) for b in bodies], self.clock.now)

    def run(self) -> AutomationReport:
        return run_automations(
            self.db, self.coord.recorder, lambda _conn: self.rules, self.clock.now
        )

    def runs(self, automation_id: str | None = None) -> list[tuple[str, str, str]]:
        r = schema.automation_runs
        query = sa.select(r.c.automation_id, r.c.member_id, r.c.occasion).order_by(r.c.id)
        if automation_id:
            query = query.where(r.c.automation_id == automation_id)
        with self.db.read() as conn:
            return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]

    def central(self, member_id: str) -> MemberLedger:
        ms = schema.member_states
        with self.db.read() as conn:
            return ledger_from_row(
                conn.execute(sa.select(ms.c.ledger).where(ms.c.member_id == member_id)).scalar_one()
            )

    def notifications(self) -> list[dict[str, Any]]:
        n = schema.notifications
        with self.db.read() as conn:
            return [
                {"kind": r.kind, "member_id": r.member_id, **json.loads(r.payload)}
                for r in conn.execute(sa.select(n).order_by(n.c.id))
            ]

    def daily(self, days: int) -> list[int]:
        """Run once a day at 09:00 for ``days`` days; the runs each day made."""
        made = []
        for _ in range(days):
            made.append(self.run().runs)
            self.clock.now += DAY_MS
        return made


@pytest.fixture
def migrated(database: Database) -> Iterator[Database]:
    database.migrate()
    yield database


def test_a_birthday_gift_arrives_once_three_days_before_and_again_next_year(
    migrated: Database,
) -> None:
    clock = FakeClock(at("2026-11-25 09:00"))
    chain = Chain(migrated, clock, [BIRTHDAY])
    chain.add_member("m1", at("2020-01-01 00:00"), birthday="1990-12-05")
    chain.add_member("m2", at("2020-01-01 00:00"), birthday="12-20")
    chain.add_member("m3", at("2020-01-01 00:00"))  # no birthday known
    made = chain.daily(14)  # 25 Nov .. 8 Dec
    assert made == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]  # on 2 Dec only
    assert chain.runs() == [("bday", "m1", "birthday:2026-12-05")]
    ledger = chain.central("m1")
    coupon_id = coupon_id_for("bday", "m1", "birthday:2026-12-05")
    assert [c.coupon_id for c in ledger.coupons] == [coupon_id]
    assert ledger.coupons[0].value == 2000
    assert ledger.points_held(clock.now) == 200
    (note,) = chain.notifications()
    assert note["kind"] == "birthday" and note["text_zh"] == "生日快乐"
    assert (note["lang"], note["coupon_id"]) == ("zh", coupon_id)  # for the gateway's text
    with migrated.read() as conn:
        audit = list(
            conn.execute(
                sa.select(schema.audit_log).where(schema.audit_log.c.action == "automation.run")
            )
        )
    assert [(a.actor, a.target) for a in audit] == [("auto:bday", "m1")]
    # A year later: the next birthday is a new occasion; m2's came in between.
    clock.now = at("2027-12-01 09:00")
    assert chain.daily(3) == [0, 1, 0]
    assert [o for _, m, o in chain.runs() if m == "m1"] == [
        "birthday:2026-12-05",
        "birthday:2027-12-05",
    ]


def test_a_29_february_birthday_is_kept_on_the_28th_and_days_are_store_local() -> None:
    from datetime import date

    assert next_birthday("2000-02-29", date(2027, 2, 1)) == date(2027, 2, 28)
    assert next_birthday("02-29", date(2028, 2, 1)) == date(2028, 2, 29)
    assert next_birthday("bad", date(2028, 2, 1)) is None
    bday = automation(
        automation_id="b0",
        trigger={"kind": "birthday", "days_before": 0},
        actions=[{"kind": "add_tag", "tag": "birthday"}],
    )
    member = MemberFacts("m", 0, MemberLedger(), birthday="03-01")
    # 1 March 00:30 in Shanghai is still 28 February in UTC: the store's day counts.
    assert occasions(bday, member, at("2027-03-01 00:30"), "Asia/Shanghai") == [
        "birthday:2027-03-01"
    ]
    assert occasions(bday, member, at("2027-02-28 23:30"), "Asia/Shanghai") == []


def test_a_month_pass_ending_at_month_end_is_reminded_once_and_again_after_renewal(
    migrated: Database,
) -> None:
    clock = FakeClock(at("2026-11-20 09:00"))
    chain = Chain(migrated, clock, [RENEW])
    chain.add_member("m1", at("2026-01-01 00:00"))
    chain.add_member("m2", at("2026-01-01 00:00"))
    month = PassState(
        pass_id="p-month",
        kind=PassKind.TIME,
        name="月卡",
        valid_from_ms=at("2026-11-01 00:00"),
        valid_until_ms=at("2026-11-30 23:59"),
    )
    punch = PassState(
        pass_id="p-10",
        kind=PassKind.PUNCH,
        name="10次卡",
        valid_from_ms=at("2026-11-01 00:00"),
        valid_until_ms=at("2027-11-01 00:00"),
        sessions_total=10,
        sessions_used=8,
    )
    chain.hq("m1", PassIssue(pass_state=month))
    chain.hq("m2", PassIssue(pass_state=punch))
    made = chain.daily(12)  # 20 Nov .. 1 Dec, across the month end
    assert sum(made) == 2
    assert sorted((m, o.split(":")[0]) for _, m, o in chain.runs()) == [
        ("m1", "pass_ends"),
        ("m2", "pass_sessions"),
    ]
    # Renewed to the end of December: a new occasion at the end of December, once.
    clock.now = at("2026-12-10 09:00")
    chain.hq(
        "m1",
        PassUpdate(pass_id="p-month", staff_user="desk", valid_until_ms=at("2026-12-31 23:59")),
    )
    assert sum(chain.daily(25)) == 1  # 10 Dec .. 3 Jan
    assert [o for _, m, o in chain.runs() if m == "m1"][-1] == (
        f"pass_ends:p-month:{at('2026-12-31 23:59')}"
    )


def test_welcome_winback_and_expiring_points_with_segments(migrated: Database) -> None:
    clock = FakeClock(at("2026-11-01 09:00"))
    chain = Chain(migrated, clock, [WELCOME, WINBACK, EXPIRING])
    chain.add_member("new", at("2026-10-30 12:00"))
    chain.add_member("old", at("2025-01-01 00:00"))
    from shared.events import Adjustment

    chain.hq(
        "old",
        Adjustment(
            staff_user="desk",
            reason="import",
            points_delta=300,
            points_expires_ms=at("2026-11-10 00:00"),
        ),
    )
    report = chain.run()
    assert report.by_automation == {"welcome": 1, "winback": 1, "expiring": 1}
    assert chain.central("new").coupons[0].title == "Welcome"
    with migrated.read() as conn:
        tags = conn.execute(
            sa.select(schema.members.c.tags).where(schema.members.c.member_id == "old")
        ).scalar()
    assert json.loads(tags) == ["lapsed"]
    assert chain.central("old").points_held(clock.now) == 350
    assert [n["kind"] for n in chain.notifications()] == ["points_expiring"]
    assert chain.run().runs == 0  # the same day again: nothing new
    clock.now += 40 * DAY_MS  # the new member never came either: lapsed now
    assert chain.run().by_automation == {"winback": 1}


def test_each_occasion_runs_once_across_restarts_and_two_replicas(migrated: Database) -> None:
    clock = FakeClock(at("2026-12-02 09:00"))
    first = Chain(migrated, clock, [BIRTHDAY, WELCOME])
    for i in range(120):
        first.add_member(f"m{i:03d}", at("2026-11-30 10:00"), birthday="12-05")
    second = Chain(migrated, clock, [BIRTHDAY, WELCOME])  # another replica, same database
    reports: list[AutomationReport] = []

    def go(chain: Chain) -> None:
        reports.append(
            run_automations(
                chain.db, chain.coord.recorder, lambda _c: chain.rules, clock.now, batch=25
            )
        )

    threads = [threading.Thread(target=go, args=(c,)) for c in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sum(r.runs for r in reports) == 240
    runs = first.runs()
    assert len(runs) == len(set(runs)) == 240
    restarted = Chain(migrated, clock, [BIRTHDAY, WELCOME])  # a restart: memory is gone
    assert restarted.run().runs == 0
    assert len(first.notifications()) == 120
    assert all(len(first.central(f"m{i:03d}").coupons) == 2 for i in range(0, 120, 17))


def test_an_automation_that_could_grant_unbounded_points_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="without limit"):
        automation(
            automation_id="loop",
            trigger={"kind": "points_expiring", "within_days": 7},
            actions=[{"kind": "grant_points", "points": 10}],
        )
    with pytest.raises(pydantic.ValidationError, match="the limit is"):
        automation(
            automation_id="greedy",
            trigger={"kind": "at_risk", "days": 7},  # up to 53 absences a year
            actions=[{"kind": "grant_points", "points": 1000}],
        )
    with pytest.raises(pydantic.ValidationError):
        automation(
            automation_id="huge",
            trigger={"kind": "birthday"},
            actions=[{"kind": "grant_points", "points": MAX_POINTS_PER_MEMBER_YEAR + 1}],
        )
    # Within the bound: accepted, and it travels in the rules.
    rules = Rules(automations=(WINBACK,))
    assert Rules.model_validate_json(rules.model_dump_json()) == rules


def _visits(chain: Chain, member_id: str, first_ms: int, every_days: int, n: int) -> None:
    from shared.events import CheckIn

    for i in range(n):
        chain.clock.now = first_ms + i * every_days * DAY_MS
        chain.hq(member_id, CheckIn())


def test_segments_name_lapsed_at_risk_rfm_and_combinations(migrated: Database) -> None:
    from coordinator.engage.audience import audience
    from shared.automation import Segment

    clock = FakeClock(at("2026-09-01 10:00"))
    chain = Chain(migrated, clock, [])
    for member_id, tags in (("regular", '["yoga"]'), ("gone", None), ("fresh", '["yoga"]')):
        chain.add_member(member_id, at("2026-01-01 00:00"), tags=tags, birthday="1990-03-08")
    # Weekly regulars: "regular" last came 12 days ago (1.7 cycles), "gone" 30 days ago.
    # Oldest first: the coordinator's hybrid clock never goes back.
    _visits(chain, "gone", at("2026-08-14 10:00") - 9 * 7 * DAY_MS, 7, 10)
    _visits(chain, "regular", at("2026-09-01 10:00") - 9 * 7 * DAY_MS, 7, 10)
    _visits(chain, "fresh", at("2026-09-10 10:00"), 2, 2)
    now = at("2026-09-13 10:00")

    def who(**segment: Any) -> list[str]:
        with migrated.snapshot() as conn:
            return audience(conn, Segment.model_validate(segment), now, "Asia/Shanghai")

    assert who(activity=["at_risk"]) == ["regular"]
    assert who(activity=["lapsed"]) == ["gone"]
    assert who(activity=["lapsed", "at_risk"]) == ["gone", "regular"]
    assert who(activity=["at_risk"], at_risk_factor_permille=1800) == []
    assert who(rfm_quadrants=["loyal"]) == ["gone", "regular"]  # frequent, no value known
    assert who(rfm_quadrants=["occasional"]) == ["fresh"]
    assert who(tags=["yoga"], rfm_quadrants=["loyal"]) == ["regular"]
    assert who(birthday_months=[3], tags=["yoga"]) == ["fresh", "regular"]
    assert who(birthday_months=[4]) == []
    assert who() == ["fresh", "gone", "regular"]


def test_an_automation_for_at_risk_members_runs_on_its_segment(migrated: Database) -> None:
    clock = FakeClock(at("2026-09-01 10:00"))
    nudge = automation(
        automation_id="nudge",
        trigger={"kind": "at_risk", "days": 7},
        segment={"activity": ["at_risk"]},
        actions=[{"kind": "notify", "text_zh": "想你了", "text_en": "We miss you"}],
    )
    chain = Chain(migrated, clock, [nudge])
    chain.add_member("regular", at("2026-01-01 00:00"))
    chain.add_member("gone", at("2026-01-01 00:00"))
    # Oldest first: the coordinator's hybrid clock never goes back.
    _visits(chain, "gone", at("2026-08-14 10:00") - 9 * 7 * DAY_MS, 7, 10)
    _visits(chain, "regular", at("2026-09-01 10:00") - 9 * 7 * DAY_MS, 7, 10)
    clock.now = at("2026-09-13 10:00")
    assert chain.run().by_automation == {"nudge": 1}
    assert [n["member_id"] for n in chain.notifications()] == ["regular"]


def test_a_coupon_campaign_takes_a_segment_as_its_audience(migrated: Database) -> None:
    from coordinator.security.auth import Principal, Role
    from coordinator.services import coupons

    clock = FakeClock(at("2026-09-01 10:00"))
    chain = Chain(migrated, clock, [])
    chain.add_member("gone", at("2026-01-01 00:00"), status="active")
    chain.add_member("regular", at("2026-01-01 00:00"), status="active")
    _visits(chain, "gone", at("2026-08-14 10:00") - 9 * 7 * DAY_MS, 7, 10)
    _visits(chain, "regular", at("2026-09-01 10:00") - 9 * 7 * DAY_MS, 7, 10)
    clock.now = at("2026-09-13 10:00")
    admin = Principal(username="admin", role=Role.HQ_ADMIN, store_id=None)
    body = coupons.Campaign.model_validate(
        {
            "coupon": {
                "kind": "voucher",
                "title": "新品体验券",
                "value": 1000,
                "valid_from_ms": clock.now,
                "valid_until_ms": clock.now + 14 * DAY_MS,
            },
            "segment": {"audience": {"activity": ["lapsed"]}},
        }
    )
    issued = coupons.create_campaign(chain.coord, admin, body)
    assert issued.member_ids == ["gone"]
    assert [c.title for c in chain.central("gone").coupons] == ["新品体验券"]
    assert chain.central("regular").coupons == ()


def test_first_visit_and_rfm_quadrant_entered_fire_once(migrated: Database) -> None:
    from shared.events import CheckIn

    first = automation(
        automation_id="first",
        trigger={"kind": "first_visit", "within_days": 3},
        actions=[{"kind": "grant_points", "points": 50}],
    )
    loyal = automation(
        automation_id="loyal",
        trigger={"kind": "rfm_entered", "quadrants": ["loyal", "champions"]},
        actions=[{"kind": "add_tag", "tag": "regular"}],
    )
    clock = FakeClock(at("2026-06-01 10:00"))
    chain = Chain(migrated, clock, [first, loyal])
    chain.add_member("old", at("2026-01-01 00:00"))
    chain.add_member("new", at("2026-06-01 09:00"))
    _visits(chain, "old", at("2026-06-01 10:00"), 7, 10)  # ten weekly visits
    clock.now = at("2026-08-12 10:00")
    chain.hq("new", CheckIn())
    assert chain.run().by_automation == {"first": 1, "loyal": 1}
    assert [m for a, m, _ in chain.runs() if a == "first"] == ["new"]
    assert [m for a, m, _ in chain.runs() if a == "loyal"] == ["old"]
    clock.now += DAY_MS
    chain.hq("new", CheckIn())
    assert chain.run().runs == 0  # a second visit is not a first one; "old" stays loyal


def test_a_referral_rewards_the_referrer_and_theirs_once_within_a_yearly_cap(
    migrated: Database,
) -> None:
    from shared.events import CheckIn

    referral = automation(
        automation_id="refer",
        trigger={"kind": "referral", "within_days": 30, "second_level": True, "max_per_year": 2},
        actions=[{"kind": "grant_points", "points": 100}],
    )
    clock = FakeClock(at("2026-06-01 10:00"))
    chain = Chain(migrated, clock, [referral])
    chain.add_member("grand", at("2025-01-01 00:00"))
    chain.add_member("parent", at("2025-06-01 00:00"), referrer_id="grand")
    for i in range(4):
        chain.add_member(f"kid{i}", at("2026-05-30 00:00"), referrer_id="parent")
    chain.add_member("late", at("2026-01-01 00:00"), referrer_id="parent")  # months ago
    assert chain.run().runs == 0  # nobody has visited yet
    for kid in ("kid0", "kid1", "late"):
        chain.hq(kid, CheckIn())
    assert chain.run().runs == 4  # parent for kid0 and kid1, grand for both (level 2)
    assert sorted((m, o) for _, m, o in chain.runs()) == [
        ("grand", "referral2:kid0"),
        ("grand", "referral2:kid1"),
        ("parent", "referral:kid0"),
        ("parent", "referral:kid1"),
    ]
    assert chain.central("parent").points_held(clock.now) == 200
    chain.hq("kid2", CheckIn())
    assert chain.run().runs == 0  # the yearly cap of two referrals each is reached
    assert chain.run().runs == 0


def test_an_uncapped_two_level_referral_grant_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="the limit is"):
        automation(
            automation_id="refer",
            trigger={"kind": "referral", "second_level": True, "max_per_year": 100},
            actions=[{"kind": "grant_points", "points": 100}],  # 200 x 100 a year
        )


def test_a_member_day_reminder_goes_out_the_day_before_each_member_day(
    migrated: Database,
) -> None:
    from shared.model import MemberDay

    remind = automation(
        automation_id="md",
        trigger={"kind": "member_day", "days_before": 1},
        actions=[{"kind": "notify", "text_zh": "明天会员日，积分双倍"}],
    )
    clock = FakeClock(at("2026-12-01 09:00"))  # a Tuesday
    chain = Chain(migrated, clock, [remind])
    chain.rules = chain.rules.model_copy(
        update={"member_days": (MemberDay(weekdays=(3,)), MemberDay(dates=("12-25",)))}
    )
    chain.add_member("m1", at("2026-01-01 00:00"))
    made = chain.daily(28)  # 1 .. 28 December
    # Wednesdays 2, 9, 16, 23 and Christmas (a Friday): each reminded the day before, once.
    assert [i for i, n in enumerate(made) if n] == [0, 7, 14, 21, 23]
    assert [o for _, _, o in chain.runs()][-1] == "member_day:2026-12-25"


def test_the_report_counts_revenue_after_from_the_members_acted_on_within_30_days(
    migrated: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coordinator.security.auth import Principal, Role
    from coordinator.services import engage
    from shared.events import Purchase, PurchaseMethod, StoredValueRefund, StoredValueTopUp
    from shared.money import PaymentMethod

    clock = FakeClock(at("2026-06-01 10:00"))
    chain = Chain(migrated, clock, [WELCOME, BIRTHDAY])
    monkeypatch.setattr(chain.coord, "rules", lambda _conn: chain.rules)
    chain.add_member("new", at("2026-05-30 00:00"))
    chain.add_member("old", at("2025-01-01 00:00"))  # not acted on: never counted

    def buy(member_id: str, fen: int, method: PurchaseMethod = PurchaseMethod.CASH) -> None:
        body = Purchase(
            purchase_id=f"p{clock.now}", list_fen=fen, total_fen=fen, method=method, staff_user="s"
        )
        chain.hq(member_id, body)

    buy("new", 1_000)  # before the run: not "after"
    clock.now += 60_000
    assert chain.run().runs == 1  # welcome for "new"
    run_ms = clock.now
    clock.now = run_ms + DAY_MS
    buy("new", 5_000)
    buy("old", 9_900)
    clock.now = run_ms + 2 * DAY_MS
    buy("new", 3_000, PurchaseMethod.STORED_VALUE)  # counted at its top-up
    clock.now = run_ms + 3 * DAY_MS
    topup = StoredValueTopUp(
        paid_fen=10_000, bonus_fen=1_000, method=PaymentMethod.CASH, staff_user="s"
    )
    chain.hq("new", topup)
    clock.now = run_ms + 4 * DAY_MS
    refund = StoredValueRefund(
        amount_fen=2_000, method=PaymentMethod.CASH, staff_user="s", reason="r"
    )
    chain.hq("new", refund)
    clock.now = run_ms + 5 * DAY_MS
    sold = PassState(
        pass_id="p-month",
        kind=PassKind.TIME,
        name="月卡",
        valid_from_ms=clock.now,
        valid_until_ms=clock.now + 30 * DAY_MS,
        price_fen=9_800,
    )
    chain.hq("new", PassIssue(pass_state=sold, payment_method=PurchaseMethod.CASH))
    clock.now = run_ms + 30 * DAY_MS  # the window is [run, run + 30 days): this is after it
    buy("new", 7_000)
    admin = Principal(username="admin", role=Role.HQ_ADMIN, store_id=None)
    rows = {r.automation_id: r for r in engage.automation_report(chain.coord, admin)}
    # 5,000 cash + 10,000 topped up - 2,000 refunded + 9,800 for the month pass, by hand.
    assert rows["welcome"].revenue_after_fen == 22_800
    assert rows["bday"].revenue_after_fen == 0  # it acted on nobody


def test_a_referral_also_fires_on_the_referees_first_paid_purchase_once(
    migrated: Database,
) -> None:
    from shared.events import CheckIn, Purchase, PurchaseMethod

    referral = automation(
        automation_id="refer",
        trigger={"kind": "referral", "within_days": 30},
        actions=[{"kind": "grant_points", "points": 100}],
    )
    clock = FakeClock(at("2026-06-01 10:00"))
    chain = Chain(migrated, clock, [referral])
    chain.add_member("parent", at("2025-06-01 00:00"))
    for kid in ("buyer", "passbuyer", "granted", "free", "slow"):
        chain.add_member(kid, at("2026-05-30 00:00"), referrer_id="parent")

    def buy(member_id: str, fen: int) -> None:
        body = Purchase(
            purchase_id=f"p-{member_id}-{clock.now}",
            list_fen=max(fen, 1_000),
            coupon_off_fen=max(fen, 1_000) - fen,
            total_fen=fen,
            method=PurchaseMethod.CASH,
            staff_user="s",
        )
        chain.hq(member_id, body)

    def pass_of(member_id: str, price_fen: int) -> PassIssue:
        state = PassState(
            pass_id=f"p-{member_id}",
            kind=PassKind.TIME,
            name="月卡",
            valid_from_ms=clock.now,
            valid_until_ms=clock.now + 30 * DAY_MS,
            price_fen=price_fen,
        )
        return PassIssue(
            pass_state=state, payment_method=PurchaseMethod.CASH if price_fen else None
        )

    buy("buyer", 2_500)  # paid, never visited
    chain.hq("passbuyer", pass_of("passbuyer", 9_800))
    chain.hq("granted", pass_of("granted", 0))  # a gift is not a paid purchase
    buy("free", 0)  # wholly paid by a coupon: not a paid purchase
    assert sorted(o for _, _, o in chain.runs()) == []
    assert chain.run().runs == 2
    assert sorted(o for _, _, o in chain.runs()) == ["referral:buyer", "referral:passbuyer"]
    clock.now += DAY_MS
    chain.hq("buyer", CheckIn())  # the first visit after the first purchase: no second reward
    buy("buyer", 3_000)
    assert chain.run().runs == 0
    clock.now = at("2026-07-05 10:00")  # "slow" registered more than 30 days ago
    buy("slow", 5_000)
    assert chain.run().runs == 0
    assert chain.central("parent").points_held(clock.now) == 200
