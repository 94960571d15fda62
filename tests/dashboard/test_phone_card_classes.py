"""Booking classes from the member's phone card: real Chromium at 390 px, real coordinator.

The card lists the home store's sessions with seats left, books one, shows it under "my
bookings", cancels it; a full session offers the waitlist; a refusal shows the API's message;
offline the buttons are disabled with a note.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from coordinator.services.bookings import MESSAGES
from shared.booking import BookingProblem
from tests.dashboard.live import Live

pytestmark = pytest.mark.browser

ZONE = ZoneInfo("Asia/Shanghai")


def _slot(slot_id: str, title_en: str, start: datetime, capacity: int) -> dict[str, Any]:
    return {
        "slot_id": slot_id,
        "room": slot_id,
        "class_type": "yoga",
        "title_zh": "瑜伽",
        "title_en": title_en,
        "coach": "coach-li",
        "weekday": start.weekday(),
        "start": f"{start:%H:%M}",
        "length_min": 60,
        "capacity": capacity,
    }


def _sell_pass(live: Live, member_id: str) -> None:
    now = live.coord.clock.wall_ms()
    body = {
        "pass_id": f"p-{member_id}",
        "kind": "punch",
        "name": "10-session pass",
        "class_types": ["yoga"],
        "valid_from_ms": now - 86_400_000,
        "valid_until_ms": now + 60 * 86_400_000,
        "sessions_total": 10,
    }
    live.call("POST", f"/api/v1/members/{member_id}/passes", json=body, expect=201)


def studio(live: Live) -> tuple[str, str]:
    """Store s1 with an open session and a full one (m2 holds its only seat); their ids."""
    live.add_store("s1", "Store 1")
    for member, name in (("m1", "Anna L."), ("m2", "Bo W."), ("m3", "Cai Z.")):
        live.add_member(member, name, "s1")
    for member in ("m1", "m2"):
        _sell_pass(live, member)
    now = datetime.fromtimestamp(live.coord.clock.wall_ms() / 1000, UTC).astimezone(ZONE)
    later = (now + timedelta(days=2)).replace(hour=18, minute=30, second=0, microsecond=0)
    slots = [_slot("flow", "Flow yoga", later, 2), _slot("hot", "Hot yoga", later, 1)]
    live.call("PUT", "/api/v1/stores/s1/timetable", json={"slots": slots})
    open_id, full_id = (f"{s}:{later:%Y%m%d}" for s in ("flow", "hot"))
    live.call(
        "POST", f"/api/v1/stores/s1/sessions/{full_id}/bookings", json={"member_id": "m2"},
        expect=201,
    )  # fmt: skip
    return open_id, full_id


def open_card(live: Live, page: Any, member_id: str) -> None:
    link = live.call("POST", f"/api/v1/members/{member_id}/page-link")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live.url}{link['path']}")
    expect(page.locator("#classes")).to_be_visible()


def test_a_member_books_a_session_sees_it_and_cancels_it(live: Live, page: Any) -> None:
    open_id, full_id = studio(live)
    open_card(live, page, "m1")
    upcoming = page.locator("#c-sessions li")
    mine = page.locator("#c-mine li")
    open_row = page.locator(f'#c-sessions li[data-session="{open_id}"]')
    full_row = page.locator(f'#c-sessions li[data-session="{full_id}"]')
    expect(open_row).to_contain_text("Flow yoga")
    expect(open_row).to_contain_text("2 seats left")
    expect(open_row.get_by_role("button")).to_have_text("Book")
    expect(full_row).to_contain_text("Full")
    expect(full_row.get_by_role("button")).to_have_text("Join waitlist")
    expect(mine).to_have_text(["None"])
    box = open_row.get_by_role("button").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390, f"button off screen: {box}"

    open_row.get_by_role("button").click()
    expect(page.locator("#c-message")).to_have_text("Booked")
    booked = page.locator(f'#c-mine li[data-session="{open_id}"]')
    expect(booked).to_contain_text("Booked")
    expect(upcoming).to_have_count(1)  # only the full one is left to book
    roster = live.call("GET", f"/api/v1/stores/s1/sessions/{open_id}/roster")
    assert "m1" in {e["member_id"] for e in roster["booked"]}, roster

    booked.get_by_role("button", name="Cancel").click()
    expect(page.locator("#c-message")).to_have_text("Cancelled")
    expect(mine).to_have_text(["None"])
    expect(open_row.get_by_role("button")).to_have_text("Book")
    roster = live.call("GET", f"/api/v1/stores/s1/sessions/{open_id}/roster")
    assert "m1" not in {e["member_id"] for e in roster["booked"]}, roster

    full_row.get_by_role("button").click()
    expect(page.locator("#c-message")).to_have_text("On the waitlist, #1")
    waiting = page.locator(f'#c-mine li[data-session="{full_id}"]')
    expect(waiting).to_contain_text("Waitlist #1")

    page.locator("#lang-switch").click()  # the same section in zh-CN
    expect(page.locator("#c-message")).to_have_text("已加入候补，第 1 位")
    expect(waiting).to_contain_text("候补第 1 位")
    expect(waiting.get_by_role("button")).to_have_text("取消")
    expect(open_row.get_by_role("button")).to_have_text("预约")


def test_a_refusal_shows_the_reason_and_offline_disables_booking(live: Live, page: Any) -> None:
    open_id, _ = studio(live)
    open_card(live, page, "m3")  # m3 holds no pass
    row = page.locator(f'#c-sessions li[data-session="{open_id}"]')
    row.get_by_role("button").click()
    _zh, en = MESSAGES[BookingProblem.NO_USABLE_PASS]
    expect(page.locator("#c-message")).to_contain_text(en)
    expect(page.locator("#c-message")).to_have_class("refused")

    page.context.set_offline(True)
    expect(page.locator("#c-offline")).to_be_visible()
    expect(row.get_by_role("button")).to_be_disabled()
    page.context.set_offline(False)
    expect(row.get_by_role("button")).to_be_enabled()
    expect(page.locator("#c-offline")).to_be_hidden()
