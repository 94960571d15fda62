"""A pass activated on first use, on the dashboard in a real browser: the manager adds the
product with its deadline, the front desk sells it from the member page, the page says it is
not activated and by when it starts (zh and en) and offers no freeze or extension; after the
member's first visit at a kiosk the page shows the real window and the freeze is back."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from coordinator import schema
from coordinator.ledger.jsonrows import ledger_from_row
from shared.events import CheckIn, CredentialKind, CredentialRef
from simulators.waiting import wait_until
from tests.dashboard.conftest import login
from tests.dashboard.live import Live
from tests.dashboard.test_members_page import UID, seed
from tests.dashboard.test_products_page import add

pytestmark = pytest.mark.browser

DAY_MS = 86_400_000
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, SHANGHAI).date().isoformat()


def _pass(live: Live, name: str) -> Any:
    ms = schema.member_states
    with live.coord.db.read() as conn:
        text = conn.execute(sa.select(ms.c.ledger).where(ms.c.member_id == "m1")).scalar_one()
    return next(p for p in ledger_from_row(text).passes if p.name == name)


def test_a_first_use_pass_waits_for_the_first_visit_on_the_member_page(
    live: Live, page: Any
) -> None:
    seed(live)
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, live, "admin", "admin", "/dashboard/products?lang=en")
    page.fill("#product-activate-within", "60")
    add(page, "Month pass", "time", "399", days=30, first_use=True, stores=["s1"])
    expect(page.locator("#products tbody tr", has_text="Month pass")).to_contain_text(
        "starts 60 days after sale at the latest"
    )

    page.goto(f"{live.url}/dashboard/members/m1?lang=en")
    offered = page.locator("#catalogue li", has_text="Month pass")
    expect(offered.locator(".first-use")).to_have_text("activated on first use")
    offered.locator(".sell-submit").click()
    expect(page.locator("#action-notice")).to_be_visible()
    held = _pass(live, "Month pass")
    assert held.first_use is not None and held.first_use.started_ms is None
    by = _date(held.first_use.activate_by_ms)
    assert held.first_use.activate_by_ms - held.valid_from_ms == 60 * DAY_MS
    row = page.locator(f'#passes tr[data-pass="{held.pass_id}"]')
    expect(row.locator(".not-started")).to_have_text(
        f"not activated — starts at first visit (30 days), by {by} at the latest"
    )
    expect(row).to_contain_text("not activated")
    expect(row.locator(".waiting-note")).to_be_visible()
    expect(row.locator(".freeze-form")).to_have_count(0)
    expect(row.locator(".extend-form")).to_have_count(0)
    page.goto(f"{live.url}/dashboard/members/m1?lang=zh")
    expect(row.locator(".not-started")).to_have_text(
        f"未开卡 — 首次到店时开始计算（30 天），最晚 {by} 自动开始"
    )

    # The member's first visit, at a kiosk of the store: the kiosk names the pass it starts.
    kiosk = live.kiosk("kB", "s1")
    visit = kiosk.record(
        "m1",
        CheckIn(points=10, first_use_of=held.pass_id),
        CredentialRef(kind=CredentialKind.CARD, uid=UID),
    )
    kiosk.flush()
    wait_until(lambda: _pass(live, "Month pass").first_use.started_ms is not None)
    started = _pass(live, "Month pass")
    assert started.valid_from_ms == visit.hlc_ms
    assert started.valid_until_ms == visit.hlc_ms + 30 * DAY_MS
    page.goto(f"{live.url}/dashboard/members/m1?lang=en")
    expect(row.locator(".not-started")).to_have_count(0)
    expect(row).to_contain_text(f"{_date(started.valid_from_ms)} – {_date(started.valid_until_ms)}")
    expect(row.locator(".freeze-form")).to_have_count(1)
    expect(row).to_contain_text("usable")


def test_the_phone_card_says_a_first_use_pass_is_not_activated(live: Live, browser: Any) -> None:
    live.add_store("s1", "Store 1")
    live.add_member("m1", "Anna L.", "s1")
    sale = {"pass_id": "fu1", "kind": "time", "name": "Month pass", "store_ids": ["s1"],
            "first_use_days": 30, "activate_within_days": 45}  # fmt: skip
    sold = live.call("POST", "/api/v1/members/m1/passes", json=sale, expect=201)
    by_ms = sold["pass"]["first_use"]["activate_by_ms"]
    assert by_ms - sold["pass"]["valid_from_ms"] == 45 * DAY_MS
    link = live.call("POST", "/api/v1/members/m1/page-link")
    card = live.http.get("/api/v1/member/card", params={"link": link["link_token"]}).json()
    assert [(p["pass_id"], p["activate_by_ms"], p["days"]) for p in card["passes"]] == [
        ("fu1", by_ms, 30)
    ]
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    errors: list[str] = []
    try:
        phone = context.new_page()
        phone.on("pageerror", lambda exc: errors.append(str(exc)))
        phone.goto(f"{live.url}{link['path']}")
        phone.wait_for_selector("body[data-balances='live']")
        passes = phone.locator("#b-passes").inner_text()
        assert "Month pass" in passes
        assert "未开卡 — 首次到店时开始计算（30 天），最晚 " in passes and "自动开始" in passes
        assert "有效期至" not in passes
        phone.click("#lang-switch")
        passes = phone.locator("#b-passes").inner_text()
        assert "not activated — starts at first visit (30 days), by " in passes
        assert passes.rstrip().endswith("at the latest")
    finally:
        context.close()
    assert not errors, errors
