"""A coach's own classes: the coach sees only the sessions they teach (with the roster),
marks a started one taught (credited with its attendance); other staff have no such page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import login
from tests.dashboard.live import Live

pytestmark = pytest.mark.browser


def _slot(slot_id: str, at: datetime, coach: str) -> dict[str, Any]:
    return {"slot_id": slot_id, "room": slot_id, "class_type": "yoga", "title_zh": "瑜伽",
            "title_en": f"Yoga {slot_id}", "coach": coach, "weekday": at.weekday(),
            "start": f"{at:%H:%M}", "length_min": 60, "capacity": 8}  # fmt: skip


def test_a_coach_sees_and_marks_their_own_classes(live: Live, page: Any) -> None:
    live.add_store("s1", "Downtown")
    coach = live.add_user("coach-li", "coach", "s1")
    desk = live.add_user("fd1", "front_desk", "s1")
    now = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    started = (now - timedelta(minutes=30)).replace(second=0, microsecond=0)
    slots = [_slot("li", started, "coach-li"), _slot("wang", started, "coach-wang")]
    live.call("PUT", "/api/v1/stores/s1/timetable", json={"slots": slots})
    session = f"li:{started:%Y%m%d}"

    page.on("dialog", lambda dialog: dialog.accept())
    login(page, live, "coach-li", coach, f"/dashboard/my-classes?day={started:%Y-%m-%d}&lang=en")
    expect(page.locator("#nav-my_classes")).to_have_count(1)
    rows = page.locator("#my-classes tbody tr")
    expect(rows).to_have_count(1)  # Wang's class at the same hour is not Li's
    row = page.locator(f'#my-classes tr[data-session="{session}"]')
    expect(row).to_have_attribute("data-taught", "0")
    row.locator(".mark-taught").click()
    expect(page.locator("#action-done")).to_contain_text("Marked as taught")
    page.goto(f"{live.url}/dashboard/my-classes?day={started:%Y-%m-%d}&lang=zh")
    row = page.locator(f'#my-classes tr[data-session="{session}"]')
    expect(row).to_have_attribute("data-taught", "1")
    expect(row).to_contain_text("上课 0 人")

    # The front desk has no "my classes" (not in the nav; the page refuses).
    page.context.clear_cookies()
    login(page, live, "fd1", desk, "/dashboard/members?lang=en")
    expect(page.locator("#nav-my_classes")).to_have_count(0)
    page.goto(f"{live.url}/dashboard/my-classes")
    expect(page.locator("#error-message")).to_contain_text("coaches")
