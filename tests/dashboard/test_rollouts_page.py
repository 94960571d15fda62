"""Rollouts through the page: a rule bundle for a subset of stores and a coupon campaign for
everyone, then watching which kiosks applied each (from the versions in their heartbeats)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import login
from tests.dashboard.live import Heartbeats, Live

pytestmark = pytest.mark.browser


def test_publish_to_a_subset_and_watch_kiosks_apply(live: Live, page: Any) -> None:
    live.add_store("s1", "Downtown")
    live.add_store("s2", "Riverside")
    live.add_member("m1", "李*华", "s1")
    live.add_member("m2", "B*", "s2")
    ka = live.kiosk("kA", "s1")
    kb = live.kiosk("kB", "s2")
    with Heartbeats([ka, kb], interval_s=1):
        login(page, live, "admin", "admin", "/dashboard/rollouts?lang=en")

        # A rule bundle for Downtown only: 20 points per check-in.
        draft = page.locator("#rules-json")
        content = draft.input_value()
        draft.fill(content.replace('"points_per_checkin": 10', '"points_per_checkin": 20'))
        page.check('input[name="rules-scope"][value="some"]')
        page.check('input[name="rules-store"][value="s1"]')
        page.fill("#rules-note", "double points downtown")
        page.click("#rules-publish")
        expect(page.locator("#rules-result")).to_contain_text("Published")
        version = int(page.locator("#rules-result").inner_text().rsplit("v", 1)[1])

        row = page.locator(f'#rollouts li[data-bundle="{version}"]')
        expect(row).to_contain_text("double points downtown")
        expect(row.locator("[data-progress]")).to_have_attribute("data-progress", "1/1")
        assert ka.bundle is not None and ka.bundle.version == version
        assert ka.bundle.rules.points_per_checkin == 20
        assert kb.bundle is not None and kb.bundle.version < version  # not in scope

        # A coupon campaign for every member: applied once each kiosk runs the members
        # version that carried it.
        page.fill("#campaign-title", "Welcome back")
        page.select_option("#campaign-kind", "trial")
        page.click("#campaign-issue")
        expect(page.locator("#campaign-result")).to_contain_text("Published")
        campaign_id = page.locator("#campaign-result").inner_text().split()[1]
        row = page.locator(f'#rollouts li[data-campaign="{campaign_id}"]')
        expect(row.locator("[data-progress]")).to_have_attribute("data-progress", "2/2")
        for kiosk in (ka, kb):
            coupons = [c.title for c in kiosk.members["m1"].record.ledger.coupons]
            assert "Welcome back" in coupons
