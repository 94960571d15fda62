"""The front desk's member pages: search (name, phone, member id, card UID), paging, CSV,
and a member's profile, cards, passes, points with expiry, coupons and timeline. Role checks:
front desk sees its own store, a viewer reads masked data, every profile view is audited."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from coordinator import schema
from shared.events import CheckIn, CredentialKind, CredentialRef
from simulators.waiting import wait_until
from tests.dashboard.conftest import login
from tests.dashboard.live import Live

pytestmark = pytest.mark.browser

DAY_MS = 86_400_000
UID = "04A1B2C3D4E5F6"


def seed(live: Live) -> None:
    """Two stores; m1 (s1) with a card, a pass, points and a kiosk check-in; m2 in s2."""
    live.add_store("s1", "Downtown")
    live.add_store("s2", "Riverside")
    body = {"member_id": "m1", "display_name": "李*华", "full_name": "李小华",
            "phone": "13800001234", "home_store_id": "s1"}  # fmt: skip
    live.call("POST", "/api/v1/members", json=body, expect=201)
    body = {"member_id": "m2", "display_name": "W*i", "full_name": "Wang Wei",
            "phone": "13800005678", "home_store_id": "s2"}  # fmt: skip
    live.call("POST", "/api/v1/members", json=body, expect=201)
    live.call("POST", "/api/v1/members/m1/cards", json={"uid": UID}, expect=201)
    now = live.coord.clock.wall_ms()
    sale = {"pass_id": "p10", "kind": "punch", "name": "10-session yoga",
            "valid_from_ms": now - DAY_MS, "valid_until_ms": now + 90 * DAY_MS,
            "sessions_total": 10, "price_fen": 98000, "store_ids": ["s1"]}  # fmt: skip
    live.call("POST", "/api/v1/members/m1/passes", json=sale, expect=201)
    grant = {"points": 50, "reason": "opening balance"}
    live.call("POST", "/api/v1/members/m1/points", json=grant, expect=201)
    kiosk = live.kiosk("kA", "s1")
    staff = CredentialRef(kind=CredentialKind.STAFF, staff_id="desk-anna")
    kiosk.record("m1", CheckIn(points=10), staff)
    kiosk.flush()
    wait_until(
        lambda: any(
            e["kind"] == "checkin"
            for e in live.call("GET", "/api/v1/events", member_id="m1")["items"]
        )
    )


def audits(live: Live, action: str) -> list[Any]:
    """Audit rows of one action."""
    a = schema.audit_log
    with live.coord.db.read() as conn:
        return list(conn.execute(sa.select(a).where(a.c.action == action).order_by(a.c.id)))


def test_front_desk_finds_a_member_and_reads_the_whole_story(live: Live, page: Any) -> None:
    seed(live)
    password = live.add_user("fd1", "front_desk", "s1")
    login(page, live, "fd1", password, "/dashboard/members?lang=en")

    # Their own store only: m2 (s2) matches the phone prefix but is not listed.
    expect(page.locator("tr[data-member]")).to_have_count(1)
    page.fill("#q", "1380000")
    page.click("#search-submit")
    expect(page.locator("tr[data-member]")).to_have_count(1)
    expect(page.locator('tr[data-member="m1"] .phone')).to_have_text("13800001234")
    # By card UID (typed in lower case with separators, as a reader app shows it).
    page.fill("#q", "04:a1:b2:c3:d4:e5:f6")
    page.click("#search-submit")
    expect(page.locator('tr[data-member="m1"]')).to_have_count(1)
    page.fill("#q", "nobody-like-this")
    page.click("#search-submit")
    expect(page.locator("#no-members")).to_be_visible()

    page.goto(f"{live.url}/dashboard/members?q=%E5%B0%8F%E5%8D%8E")  # 小华
    page.click('tr[data-member="m1"] a')
    expect(page.locator("#member-title")).to_contain_text("m1")
    expect(page.locator("#full-name")).to_have_text("李小华")
    expect(page.locator("#phone")).to_have_text("13800001234")
    expect(page.locator(f'#cards tr[data-uid="{UID}"]')).to_have_count(1)
    expect(page.locator('#passes tr[data-pass="p10"]')).to_contain_text("10 / 10")
    expect(page.locator("#points-available")).to_have_text("60")
    expect(page.locator("#points-lots tbody tr")).to_have_count(2)
    checkin = page.locator('#timeline tr[data-what="checkin"]')
    expect(checkin.locator(".kiosk")).to_have_text("kA")
    expect(checkin.locator(".staff")).to_have_text("desk-anna")
    sold = page.locator('#timeline tr[data-what="pass_issue"]')
    expect(sold.locator(".staff")).to_have_text("admin")
    expect(page.locator('#timeline tr[data-what="card.bind"] .staff')).to_have_text("admin")
    expect(page.locator("#masked-note")).to_have_count(0)

    views = audits(live, "member.view")
    assert [(r.actor, r.target, json.loads(r.detail)["masked"]) for r in views] == [
        ("fd1", "m1", False)
    ]

    # Another store's member: refused with a reason, and nothing audited as seen.
    page.goto(f"{live.url}/dashboard/members/m2")
    expect(page.locator("#error-message")).to_contain_text("own store")
    assert len(audits(live, "member.view")) == 1

    # Front desk never reaches settings: rule rollouts and kiosk provisioning are refused.
    desk = live.login("fd1", password)
    for path, body in (
        ("/api/v1/fleet/rollouts/rules", {"store_ids": ["s1"]}),
        ("/api/v1/kiosks", {"kiosk_id": "kX", "store_id": "s1"}),
    ):
        r = live.http.post(path, json=body, headers=desk)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"]["code"] == "manager_only"


def test_viewer_reads_masked_and_exports_masked_csv(live: Live, page: Any) -> None:
    seed(live)
    password = live.add_user("watcher", "viewer")
    login(page, live, "watcher", password, "/dashboard/members?lang=en")
    expect(page.locator("#masked-note")).to_be_visible()
    expect(page.locator("tr[data-member]")).to_have_count(2)  # a chain-wide viewer
    expect(page.locator('tr[data-member="m1"] .phone')).to_have_text("*******1234")
    expect(page.locator('tr[data-member="m1"] .full-name')).to_have_text("李*华")
    expect(page.locator('tr[data-member="m2"] .full-name')).to_have_text("Wang W.")

    with page.expect_download() as info:
        page.click("#members-csv")
    text = Path(info.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["member_id"], r["phone"], r["full_name"], r["cards"]) for r in rows] == [
        ("m1", "*******1234", "李*华", UID),
        ("m2", "*******5678", "Wang W.", ""),
    ]
    exports = audits(live, "member.export")
    assert [(r.actor, json.loads(r.detail)["masked"]) for r in exports] == [("watcher", True)]

    page.goto(f"{live.url}/dashboard/members/m1")
    expect(page.locator("#phone")).to_have_text("*******1234")
    expect(page.locator("#full-name")).to_have_text("李*华")
    assert [r.actor for r in audits(live, "member.view")] == ["watcher"]


def test_paging_through_members(live: Live, page: Any) -> None:
    live.add_store("s1", "Downtown")
    for n in range(30):
        live.add_member(f"m{n:02d}", f"Member {n:02d}", "s1")
    login(page, live, "admin", "admin", "/dashboard/members?lang=en")
    expect(page.locator("tr[data-member]")).to_have_count(25)
    expect(page.locator("#prev-page")).to_have_count(0)
    page.click("#next-page")
    expect(page.locator("tr[data-member]")).to_have_count(5)
    expect(page.locator("tr[data-member]").first).to_have_attribute("data-member", "m25")
    expect(page.locator("#next-page")).to_have_count(0)
    page.click("#prev-page")
    expect(page.locator("tr[data-member]").first).to_have_attribute("data-member", "m00")
