"""The timetable page: a store manager sees the week, adds a weekly class and cancels one
session; each save rolls out to the store's kiosks. In English and Chinese."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import login
from tests.dashboard.live import Live

pytestmark = pytest.mark.browser

MONDAY = date(2026, 12, 7)


def test_a_store_manager_edits_the_week(live: Live, page: Any) -> None:
    live.add_store("s1", "Downtown")
    live.add_store("s2", "Riverside")
    password = live.add_user("mgr1", "store_manager", "s1")
    live.call(
        "PUT",
        "/api/v1/stores/s1/timetable",
        json={
            "slots": [
                {
                    "slot_id": "yoga-mon",
                    "room": "a",
                    "class_type": "yoga",
                    "title_zh": "流瑜伽",
                    "title_en": "Flow yoga",
                    "coach": "coach-li",
                    "weekday": 0,
                    "start": "18:30",
                    "length_min": 60,
                    "capacity": 12,
                    "drop_in_price_fen": 8800,
                }
            ]
        },
        expect=200,
    )
    login(page, live, "mgr1", password, f"/dashboard/timetable?day={MONDAY}&lang=en")
    expect(page.locator("#tt-week")).to_contain_text("2026-12-07 to 2026-12-13")
    monday = page.locator('#tt-grid td[data-day="2026-12-07"] .session')
    expect(monday).to_have_count(1)
    expect(monday).to_contain_text("18:30–19:30")
    expect(monday).to_contain_text("Flow yoga")
    expect(monday).to_contain_text("¥88.00")
    # A store manager sees their own store only.
    expect(page.locator("#tt-store option")).to_have_count(1)

    # Add a Wednesday spin class through the form.
    page.fill("#tt-slot_id", "spin-wed")
    page.select_option("#tt-weekday", "2")
    page.fill("#tt-start", "07:00")
    page.fill("#tt-length_min", "45")
    page.fill("#tt-room", "b")
    page.fill("#tt-class_type", "spin")
    page.fill("#tt-title_zh", "动感单车")
    page.fill("#tt-title_en", "Spin")
    page.fill("#tt-coach", "coach-wang")
    page.fill("#tt-capacity", "20")
    page.fill("#tt-price", "60")
    page.click("#tt-save")
    expect(page.locator("#tt-result")).to_contain_text("Saved")
    wednesday = page.locator('#tt-grid td[data-day="2026-12-09"] .session')
    expect(wednesday).to_contain_text("07:00–07:45")
    saved = live.call("GET", "/api/v1/stores/s1/timetable", expect=200)
    spin = next(s for s in saved["slots"] if s["slot_id"] == "spin-wed")
    assert (spin["capacity"], spin["drop_in_price_fen"], spin["coach"]) == (20, 6000, "coach-wang")
    assert saved["rules_version"] is not None

    # An overlapping class in the same room is refused with the reason, nothing saved.
    page.fill("#tt-slot_id", "clash")
    page.select_option("#tt-weekday", "0")
    page.fill("#tt-start", "19:00")
    page.fill("#tt-room", "a")
    page.fill("#tt-class_type", "pilates")
    page.fill("#tt-title_zh", "普拉提")
    page.fill("#tt-title_en", "Pilates")
    page.click("#tt-save")
    expect(page.locator("#tt-result")).to_contain_text("overlap in room a")
    assert len(live.call("GET", "/api/v1/stores/s1/timetable", expect=200)["slots"]) == 2

    # Cancel Monday's session: it leaves this week, next week's stays.
    page.reload()
    page.locator('#tt-grid td[data-day="2026-12-07"] .cancel-session').click()
    expect(page.locator("#tt-result")).to_contain_text("Saved")
    expect(page.locator('#tt-grid td[data-day="2026-12-07"] .session')).to_have_count(0)
    page.click("#tt-next")
    expect(page.locator('#tt-grid td[data-day="2026-12-14"] .session')).to_have_count(1)

    # The same page in Chinese.
    page.goto(f"{live.url}/dashboard/timetable?day={MONDAY + timedelta(days=7)}&lang=zh")
    expect(page.locator("h1")).to_have_text("课程表")
    expect(page.locator('#tt-grid td[data-day="2026-12-14"] .session')).to_contain_text("流瑜伽")
    expect(page.locator("#nav-timetable")).to_have_attribute("aria-current", "page")
