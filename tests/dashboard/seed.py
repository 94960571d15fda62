"""Seeding a live coordinator the way a real chain fills it: API calls for stores, members,
passes and campaigns; kiosk facts as event batches over MQTT from mini kiosks.

Backdated visits come from a kiosk that recorded them offline (its clock set to the day of
each visit) and uploads them when it connects, exactly as a kiosk that was offline for a
while does; offline facts with old wall clocks are not flagged as clock skew.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.events import CheckIn, ClassSignIn, CouponRedeem, PointsRedeem
from shared.model import ClassSession
from tests.dashboard.live import Live
from tests.support.mini_kiosk import MiniKiosk

TZ = ZoneInfo("Asia/Shanghai")
DAY_MS = DAY = 86_400_000


def at(day: date, hour: int, minute: int = 0) -> int:
    """Epoch ms of a local (Asia/Shanghai) time."""
    return int(datetime.combine(day, time(hour, minute), TZ).timestamp() * 1000)


class SettableClock:
    """A kiosk wall clock the seeding sets to each fact's time."""

    def __init__(self, ms: int):
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


@dataclass(frozen=True)
class Seeded:
    """What the seeded chain looks like (the expectations of the report test)."""

    today: date
    kiosk: MiniKiosk
    campaign_id: str


def conflict_run(live: Live) -> tuple[MiniKiosk, MiniKiosk]:
    """Two stores offline: a 2-session pass used three times, a coupon redeemed twice."""
    live.add_store("s1", "Downtown")
    live.add_store("s2", "Riverside")
    live.add_member("m1", "李*华", "s1")
    now = live.coord.clock.wall_ms()
    pass_body = {
        "pass_id": "p2",
        "kind": "punch",
        "name": "2-session yoga",
        "class_types": ["yoga"],
        "valid_from_ms": now - DAY_MS,
        "valid_until_ms": now + 60 * DAY_MS,
        "sessions_total": 2,
        "price_fen": 30000,
    }
    live.call("POST", "/api/v1/members/m1/passes", json=pass_body, expect=201)
    coupon = {
        "coupon_id": "c1",
        "title": "¥20 voucher",
        "kind": "voucher",
        "value": 2000,
        "store_ids": ["s1", "s2"],
        "valid_from_ms": now - DAY_MS,
        "valid_until_ms": now + 30 * DAY_MS,
    }
    live.call("POST", "/api/v1/members/m1/coupons", json=coupon, expect=201)
    ka = live.kiosk("kA", "s1")
    kb = live.kiosk("kB", "s2")
    ka.go_offline()
    kb.go_offline()
    ka.record("m1", ClassSignIn(class_session_id="s1-yoga", class_type="yoga", pass_id="p2"))
    ka.record("m1", ClassSignIn(class_session_id="s1-yoga-2", class_type="yoga", pass_id="p2"))
    kb.record("m1", ClassSignIn(class_session_id="s2-yoga", class_type="yoga", pass_id="p2"))
    ka.record("m1", CouponRedeem(coupon_id="c1"))
    kb.record("m1", CouponRedeem(coupon_id="c1"))
    for kiosk in (ka, kb):
        kiosk.connect()
        assert kiosk.wait_acked(), f"{kiosk.kiosk_id} did not get its events acknowledged"
    return ka, kb


def report_run(live: Live) -> Seeded:
    """A month of a small chain (see the report test for what is expected of it)."""
    now = live.coord.clock.wall_ms()
    today = datetime.fromtimestamp(now / 1000, TZ).date()
    live.add_store("s1", "南京西路店")
    live.add_store("s2", "Riverside")
    live.add_member("m1", "王*明", "s1")  # weekly regular, seen yesterday
    live.add_member("m2", "陈*丽", "s1")  # weekly until 39 days ago: lapsed
    live.add_member("m3", "Anna L.", "s2")  # two visits only: never judged lapsed
    yoga = ClassSession(
        class_session_id="s1-yoga-1",
        class_type="yoga",
        store_id="s1",
        title_zh="流瑜伽",
        title_en="Flow yoga",
        starts_ms=now - 5 * 60_000,
        ends_ms=now + 55 * 60_000,
        capacity=20,
    )
    draft = live.call(
        "POST", "/api/v1/rule-bundles", json={"classes": [yoga.model_dump(mode="json")]}, expect=201
    )
    live.call("POST", f"/api/v1/rule-bundles/{draft['bundle_id']}/publish", json={}, expect=200)
    pass_body = {
        "pass_id": "p1",
        "kind": "punch",
        "name": "10 次瑜伽卡",
        "class_types": ["yoga"],
        "valid_from_ms": now - 90 * DAY_MS,
        "valid_until_ms": now + 7 * DAY_MS,
        "sessions_total": 10,
        "price_fen": 100000,
    }
    live.call("POST", "/api/v1/members/m1/passes", json=pass_body, expect=201)
    live.call(
        "POST",
        "/api/v1/members/m2/passes",
        json={**pass_body, "pass_id": "p2", "price_fen": 50000, "valid_until_ms": now + 90 * DAY},
        expect=201,
    )
    campaign = live.call(
        "POST",
        "/api/v1/campaigns",
        json={
            "campaign_id": "spring",
            "coupon": {
                "title": "春季体验券",
                "kind": "trial",
                "valid_from_ms": now - DAY_MS,
                "valid_until_ms": now + 30 * DAY_MS,
            },
            "segment": {"all_members": True},
        },
        expect=201,
    )
    assert campaign["issued"] == 3
    m1_coupon = next(
        c["coupon_id"]
        for c in live.call("GET", "/api/v1/members/m1/balance", trail=False)["ledger"]["coupons"]
    )

    clock = SettableClock(now)
    kiosk = live.kiosk("kS1", "s1", connect=False, clock=clock)
    visits = [("m1", d) for d in (28, 21, 14, 7, 1)] + [("m2", d) for d in (60, 53, 46, 39)]
    visits += [("m3", d) for d in (3, 2)]
    for member, days_ago in sorted(visits, key=lambda v: -v[1]):
        clock.ms = at(today - timedelta(days=days_ago), 10)
        kiosk.record(member, CheckIn(points=10))
    clock.ms = now
    kiosk.connect()
    assert kiosk.wait_acked(), "the seeding kiosk's visits were not acknowledged"
    # Today, online and after the pass sale: a class sign-in, a coupon and a reward.
    clock.ms = live.coord.clock.wall_ms()
    kiosk.record("m1", ClassSignIn(class_session_id="s1-yoga-1", class_type="yoga", pass_id="p1"))
    kiosk.record("m1", CouponRedeem(coupon_id=m1_coupon))
    kiosk.record("m1", PointsRedeem(points=20, reward_id="water"))
    kiosk.flush()
    assert kiosk.wait_acked(), "today's facts were not acknowledged"
    return Seeded(today=today, kiosk=kiosk, campaign_id="spring")
