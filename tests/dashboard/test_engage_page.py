"""The engagement page and report: an automation defined in the published rules runs on the
housekeeping schedule, its notification leaves through a signed webhook to a real receiver,
its coupon is redeemed, and the report and page (zh-CN / en) say so."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from coordinator import schema
from coordinator.engage.runner import coupon_id_for
from coordinator.ledger.hq_events import HqFact
from coordinator.security import page_sessions as session
from shared.events import CouponRedeem
from simulators.waiting import poll_until
from simulators.webhook_receiver import WebhookReceiver
from tests.dashboard.ingest_feed import api_without_broker

BIRTHDAY = {
    "automation_id": "bday",
    "name": "生日礼 Birthday gift",
    "trigger": {"kind": "birthday", "days_before": 0},
    "actions": [
        {"kind": "issue_coupon", "title": "生日券", "value": 1000},
        {"kind": "notify", "text_zh": "生日快乐", "text_en": "Happy birthday"},
    ],
}


def test_the_report_and_page_follow_an_automation_end_to_end(tmp_path: Path) -> None:
    with api_without_broker(tmp_path) as api:
        coord = api.coord
        draft = api.call(
            "POST", "/api/v1/rule-bundles", json={"rules": {"automations": [BIRTHDAY]}}, expect=201
        )
        api.call("POST", f"/api/v1/rule-bundles/{draft['bundle_id']}/publish", json={})
        receiver = WebhookReceiver(now_s=lambda: coord.clock.wall_ms() // 1000).start()
        try:
            created = api.call(
                "POST",
                "/api/v1/webhooks/endpoints",
                json={"url": receiver.url, "event_types": ["notification.*"]},
                expect=201,
            )
            receiver.secrets = [created["secret"]]
            api.call(
                "POST",
                "/api/v1/members",
                json={"member_id": "m1", "display_name": "李*"},
                expect=201,
            )
            today = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%m-%d")
            with coord.db.write() as conn:
                conn.execute(
                    sa.update(schema.members)
                    .where(schema.members.c.member_id == "m1")
                    .values(birthday=today)
                )
            coord.housekeeping()  # the automations' hourly run is due at the first one
            assert poll_until(lambda: len(receiver.received) == 1)
            (got,) = receiver.received
            assert got.valid and got.event_type == "notification.birthday"
            assert got.data["payload"]["text_en"] == "Happy birthday"
            (row,) = api.call("GET", "/api/v1/automations/report")
            assert row["runs"] == row["notified"] == row["coupons_issued"] == 1
            assert row["coupons_redeemed"] == 0
            assert poll_until(lambda: api.call("GET", "/api/v1/automations/report")[0]["sent"] == 1)
            year = datetime.now(ZoneInfo("Asia/Shanghai")).year
            coupon_id = coupon_id_for("bday", "m1", f"birthday:{year}-{today}")
            with coord.db.write() as conn:
                coord.recorder.record(
                    conn,
                    [HqFact("m1", CouponRedeem(coupon_id=coupon_id))],
                    coord.clock.wall_ms(),
                )
            (row,) = api.call("GET", "/api/v1/automations/report")
            assert row["coupons_redeemed"] == 1
            coord.housekeeping()
            assert api.call("GET", "/api/v1/automations/report")[0]["runs"] == 1
        finally:
            receiver.stop()

        r = api.client.post(
            "/dashboard/login",
            data={"username": "admin", "password": "admin", "next": "/dashboard/engage"},
            follow_redirects=False,
        )
        api.client.cookies.set(session.COOKIE, r.cookies[session.COOKIE])
        en = api.client.get("/dashboard/engage?lang=en").text
        assert 'data-automation="bday"' in en and "Birthday" in en and "Issue a coupon" in en
        assert 'class="num redeemed">1<' in en and 'class="num sent">1<' in en
        assert receiver.url in en and "Chain-wide" in en
        assert "Revenue in 30 days after" in en and 'class="num revenue">¥0.00<' in en
        zh = api.client.get("/dashboard/engage?lang=zh").text
        assert "会员营销" in zh and "发券" in zh and "全连锁" in zh
        assert "执行后 30 天消费" in zh


def test_members_take_a_birthday_and_tags_and_bad_ones_are_refused(tmp_path: Path) -> None:
    with api_without_broker(tmp_path) as api:
        for birthday in ("13-45", "1990-02-30"):
            body = {"member_id": "mx", "display_name": "X", "birthday": birthday}
            answer = api.call("POST", "/api/v1/members", json=body, expect=422)
            assert answer["error"]["field"].startswith("birthday"), answer
        answer = api.call(
            "POST",
            "/api/v1/members",
            expect=422,
            json={"member_id": "mx", "display_name": "X", "tags": ["x" * 41]},
        )
        assert answer["error"]["field"].startswith("tags"), answer
        api.call(
            "POST",
            "/api/v1/members",
            expect=201,
            json={
                "member_id": "m1",
                "display_name": "Y",
                "birthday": "1992-02-29",
                "tags": ["vip", "yoga"],
            },
        )
        with api.coord.db.read() as conn:
            row = conn.execute(
                sa.select(schema.members).where(schema.members.c.member_id == "m1")
            ).one()
        assert (row.birthday, json.loads(row.tags)) == ("1992-02-29", ["vip", "yoga"])
        answer = api.call(
            "POST",
            "/api/v1/members",
            expect=404,
            json={"member_id": "m2", "display_name": "Z", "referrer_id": "nobody"},
        )
        assert answer["error"]["field"] == "referrer_id"
        api.call(
            "POST",
            "/api/v1/members",
            expect=201,
            json={"member_id": "m2", "display_name": "Z", "referrer_id": "m1"},
        )
        viewer = {"username": "v1", "password": "password-123", "role": "viewer"}
        api.call("POST", "/api/v1/users", json=viewer, expect=201)
        r = api.client.post(
            "/api/v1/auth/token", data={"username": "v1", "password": "password-123"}
        )
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert api.client.post("/api/v1/automations/run", headers=headers).status_code == 403
        assert api.call("POST", "/api/v1/automations/run")["runs"] == 0
