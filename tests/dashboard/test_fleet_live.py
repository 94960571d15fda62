"""The live fleet view in headless Chromium: a kiosk goes silent, offline and back, and the
page shows each fact change without a reload (Server-Sent Events from the coordinator)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import login
from tests.dashboard.live import Heartbeats, Live

pytestmark = pytest.mark.browser


def fact(page: Any, kiosk_id: str, name: str) -> Any:
    """The pill that states one fact of one kiosk on the fleet page."""
    return page.locator(f'tr[data-kiosk="{kiosk_id}"] td[data-fact="{name}"] .pill').first


def test_kiosk_goes_silent_offline_and_back_without_reload(live: Live, page: Any) -> None:
    live.add_store("s1", "南京西路店")
    live.add_store("s2", "Riverside")
    ka = live.kiosk("kA", "s1")
    kb = live.kiosk("kB", "s2")
    with Heartbeats([ka, kb], interval_s=1) as beats:
        login(page, live, "admin", "admin")
        expect(page.locator("#live")).to_have_attribute("data-state", "live")
        page.evaluate("window.__sameDocument = 'yes'")
        # The page judges "alive" itself against the server's 1.5x-interval deadline, so a
        # silent kiosk turns dead on time even between two server pushes.
        assert page.evaluate(
            "[TF.aliveAt({alive_until_ms: 1000}, 1000), TF.aliveAt({alive_until_ms: 1000}, 1001)]"
        ) == [True, False]

        # Both kiosks alive, connected, grouped under their stores.
        for kiosk in ("kA", "kB"):
            expect(fact(page, kiosk, "alive")).to_have_attribute("data-value", "yes")
            expect(fact(page, kiosk, "connected")).to_have_attribute("data-value", "online")
        expect(page.locator('section[data-store="s1"] h2')).to_have_text("南京西路店 (s1)")
        expect(page.locator('section[data-store="s2"] tr[data-kiosk="kB"]')).to_have_count(1)

        # Heartbeats stop but the connection stays: dead, yet still connected (separate facts).
        beats.paused.add("kA")
        expect(fact(page, "kA", "alive")).to_have_attribute("data-value", "no")
        expect(fact(page, "kA", "connected")).to_have_attribute("data-value", "online")
        expect(fact(page, "kB", "alive")).to_have_attribute("data-value", "yes")
        beats.paused.discard("kA")
        expect(fact(page, "kA", "alive")).to_have_attribute("data-value", "yes")

        # The network drops: the broker publishes the last will, heartbeats stop.
        ka.go_offline()
        expect(fact(page, "kA", "connected")).to_have_attribute("data-value", "offline")
        expect(fact(page, "kA", "alive")).to_have_attribute("data-value", "no")
        offline_alert = page.locator('#alerts li[data-alert="offline"][data-kiosk="kA"]')
        expect(offline_alert).to_have_count(1)
        expect(page.locator('tr[data-kiosk="kA"]')).to_have_attribute("data-problem", "1")

        # "Problems only" hides the healthy kiosk.
        page.check("#filter-problems")
        expect(page.locator('tr[data-kiosk="kB"]')).to_have_count(0)
        expect(page.locator('tr[data-kiosk="kA"]')).to_have_count(1)
        page.uncheck("#filter-problems")

        # Back online: birth message, heartbeats resume; the alert clears after hysteresis.
        ka.connect()
        expect(fact(page, "kA", "connected")).to_have_attribute("data-value", "online")
        expect(fact(page, "kA", "alive")).to_have_attribute("data-value", "yes")
        expect(offline_alert).to_have_count(0)
        assert page.evaluate("window.__sameDocument") == "yes", "the page was reloaded"

    # The kiosk's detail page has the timeline of those changes, newest first.
    page.click('tr[data-kiosk="kA"] a')
    page.wait_for_url(f"{live.url}/dashboard/kiosks/kA")
    timeline = page.locator("#timeline")
    for fact_name, value in (
        ("connected", "offline"),
        ("connected", "online"),
        ("alive", "dead"),
        ("alive", "alive"),
        ("alert:offline", "raised"),
        ("alert:offline", "cleared"),
    ):
        expect(
            timeline.locator(f'li[data-fact="{fact_name}"][data-value="{value}"]').first
        ).to_be_visible()
    expect(page.locator('#kiosk-facts [data-fact="connected"] .pill')).to_have_attribute(
        "data-value", "online"
    )
