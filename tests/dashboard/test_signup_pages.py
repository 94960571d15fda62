"""Self sign-up as people do it: the store prints its poster from the dashboard, a new member
scans it on the phone, fills the form and lands on their phone card; an existing member
gets their card back with the one-time code the delivery hook received."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from coordinator.outbound import notify
from tests.dashboard.conftest import login
from tests.dashboard.live import Live
from tests.dashboard.test_phone_card import screenshot_codes

pytestmark = pytest.mark.browser


def test_poster_sign_up_and_self_access(live: Live, page: Any) -> None:
    live.add_store("s1", "Store 1")
    login(page, live, "admin", "admin", "/dashboard/stores/s1/poster?lang=en")
    expect(page.locator("#poster-store")).to_have_text("Store 1")
    expect(page.locator("#poster-headline")).to_have_text("Scan to become a member")
    (url,) = screenshot_codes(page)
    assert url == f"{live.url}/join/s1"
    assert page.locator("#poster-url").inner_text() == url

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#name", "Anna Lee")
    page.fill("#phone", "13800138000")
    page.click("#signup-submit")
    expect(page.locator("#message")).to_have_text("Please accept the privacy terms first.")
    page.check("#terms")
    page.click("#signup-submit")
    page.wait_for_url(f"{live.url}/m/**")
    expect(page.locator("h1")).to_have_text("Anna L.")
    expect(page.locator("body")).to_have_attribute("data-code", "phone")

    # The same phone again: routed to self access, the code comes from the delivery hook.
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#name", "Anna Lee")
    page.fill("#phone", "13800138000")
    page.check("#terms")
    page.click("#signup-submit")
    page.wait_for_selector("body[data-step='verify']")
    with live.coord.db.read() as conn:
        (sent,) = [n for n in notify.recent(conn) if n["kind"] == "self_access_code"]
    page.fill("#code", sent["payload"]["code"])
    page.click("#verify-submit")
    page.wait_for_url(f"{live.url}/m/**")
    expect(page.locator("h1")).to_have_text("Anna L.")


def test_poster_of_another_store_is_refused_to_a_store_manager(live: Live, page: Any) -> None:
    live.add_store("s1", "Store 1")
    live.add_store("s2", "Store 2")
    password = live.add_user("mgr", "store_manager", "s1")
    # The manager reaches the poster from the members page: their own store's only.
    login(page, live, "mgr", password, "/dashboard/members?lang=en")
    expect(page.locator("#posters summary")).to_have_text("Print a sign-up poster")
    assert page.locator("#posters [data-poster]").evaluate_all(
        "links => links.map(a => a.dataset.poster)"
    ) == ["s1"]
    page.click("#posters [data-poster='s1']")
    page.wait_for_url(f"{live.url}/dashboard/stores/s1/poster")
    expect(page.locator("#poster-headline")).to_have_text("Scan to become a member")
    page.goto(f"{live.url}/dashboard/stores/s2/poster")
    expect(page.locator("#error-message")).to_be_visible()
    page.goto(f"{live.url}/dashboard/stores/s1/poster?lang=zh")
    expect(page.locator("#poster-headline")).to_have_text("扫码加入会员")
