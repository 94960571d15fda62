"""Conflicts through the page: the queue, the plain-language story, a decision with an
audited adjustment through the resolution API, and the history."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from simulators.waiting import wait_until
from tests.dashboard.conftest import login
from tests.dashboard.live import Live
from tests.dashboard.seed import conflict_run

pytestmark = pytest.mark.browser


def test_conflict_is_resolved_through_the_page_and_history_shows_it(live: Live, page: Any) -> None:
    conflict_run(live)
    password = live.add_user("ops_anna", "hq_admin")
    wait_until(lambda: len(live.call("GET", "/api/v1/conflicts", status="open")["items"]) == 2)
    by_kind = {c["kind"]: c for c in live.call("GET", "/api/v1/conflicts", status="open")["items"]}
    overdrawn = by_kind["pass_overdrawn"]

    login(page, live, "ops_anna", password, "/dashboard/conflicts?lang=en")
    queue = page.locator("#open-conflicts tbody tr")
    expect(queue).to_have_count(2)
    expect(page.locator('#open-conflicts tr[data-kind="pass_overdrawn"]')).to_contain_text(
        "Pass overdrawn"
    )
    page.click(f'tr[data-conflict="{overdrawn["conflict_id"]}"] a')

    # The story: who, which pass, which stores, what happened in which order.
    expect(page.locator("#conflict-member")).to_have_text("李*华 (m1)")
    expect(page.locator("#conflict-subject")).to_have_text("p2")
    expect(page.locator("#conflict-stores")).to_contain_text("Downtown (s1)")
    expect(page.locator("#conflict-stores")).to_contain_text("Riverside (s2)")
    steps = page.locator("#story li")
    expect(steps).to_have_count(4)  # the sale, then three sign-ins
    expect(steps.nth(0)).to_contain_text("2 session(s)")
    expect(steps.nth(3)).to_have_class("target")
    expect(steps.nth(3)).to_contain_text("-1 session(s) left")
    expect(page.locator('#story li[data-offline="1"]')).to_have_count(3)
    expect(page.locator('#story li[data-kiosk="kA"]')).to_have_count(2)
    expect(page.locator('#story li[data-kiosk="kB"]')).to_have_count(1)

    # What each decision would do, then decide: give the session back.
    expect(page.locator('input[value="accept"]')).to_be_checked()
    expect(page.locator("label.option").nth(0)).to_contain_text("stays at -1 session(s) left")
    expect(page.locator("label.option").nth(1)).to_contain_text("will have 0 left")
    page.check('input[value="give_back"]')
    page.fill("#resolve-note", "told the member; one session forgiven")
    page.click("#resolve-submit")

    expect(page.locator("#conflict-status")).to_have_attribute("data-value", "resolved")
    expect(page.locator("#conflict-resolved-by")).to_have_text("ops_anna")
    expect(page.locator("#conflict-note")).to_have_text("told the member; one session forgiven")
    expect(page.locator("#resolve-form")).to_have_count(0)

    # The ledger got the audited adjustment; the queue and the history show the outcome.
    resolved = live.call("GET", f"/api/v1/conflicts/{overdrawn['conflict_id']}")
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "ops_anna"
    balance = live.call("GET", "/api/v1/members/m1/balance")
    adjustment = next(s for s in balance["trail"] if s["kind"] == "adjustment")
    assert adjustment["body"]["sessions_delta"] == 1
    assert adjustment["body"]["staff_user"] == "ops_anna"
    assert adjustment["event_id"] == resolved["resolution_event_id"]
    p2 = next(p for p in balance["ledger"]["passes"] if p["pass_id"] == "p2")
    assert p2["sessions_left"] == 0

    page.click("#nav-conflicts")
    expect(page.locator("#open-conflicts tbody tr")).to_have_count(1)
    history = page.locator(f'#conflict-history tr[data-conflict="{overdrawn["conflict_id"]}"]')
    expect(history).to_have_attribute("data-status", "resolved")
    expect(history.locator(".resolved-by")).to_have_text("ops_anna")
    expect(history).to_contain_text("one session forgiven")

    # The same page in Chinese.
    page.click("#lang-switch")
    expect(page.locator("h1")).to_have_text("对账冲突")
    expect(page.locator('#open-conflicts tr[data-kind="coupon_reused"]')).to_contain_text(
        "单次券重复核销"
    )
