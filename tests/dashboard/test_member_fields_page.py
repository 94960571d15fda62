"""Custom member fields in the browser: HQ defines a choice field and a required date field
on /dashboard/member-fields; the front desk registers a member filling them, sees the error
for the missing required one with everything typed kept, sees the values on the member page,
edits them, and exports them as CSV columns."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import login
from tests.dashboard.live import Live

pytestmark = pytest.mark.browser


def _accept_dialogs(page: Any) -> list[str]:
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    return asked


def test_hq_defines_fields_and_the_desk_fills_them_in(live: Live, page: Any) -> None:
    live.add_store("s1", "Downtown")
    asked = _accept_dialogs(page)
    password = live.add_user("hq", "hq_admin")
    login(page, live, "hq", password, "/dashboard/member-fields?lang=en")
    expect(page.locator("#no-fields")).to_be_visible()

    # A choice field with two options.
    page.fill("#field-key", "level")
    page.fill("#field-label-zh", "水平")
    page.fill("#field-label-en", "Level")
    page.select_option("#field-kind", "choice")
    page.fill("#field-options", "beginner | 初级 | Beginner\nadvanced | 高级 | Advanced")
    page.click("#field-submit")
    expect(page.locator("#action-notice")).to_have_text("Saved.")
    expect(page.locator('#fields tr[data-field="level"] .pill')).to_have_text(
        ["Beginner", "Advanced", "In use"]
    )
    # A malformed option line is refused with the reason and the typed form kept.
    page.fill("#field-key", "shoe")
    page.fill("#field-label-zh", "鞋")
    page.fill("#field-label-en", "Shoe")
    page.select_option("#field-kind", "choice")
    page.fill("#field-options", "small")
    page.click("#field-submit")
    expect(page.locator("#action-error")).to_contain_text("option line 1 should read")
    expect(page.locator("#field-key")).to_have_value("shoe")
    expect(page.locator("#field-options")).to_have_value("small")
    expect(page.locator("#fields tr[data-field]")).to_have_count(1)
    # A required date field.
    page.fill("#field-key", "health_check")
    page.fill("#field-label-zh", "体检日期")
    page.fill("#field-label-en", "Health check")
    page.select_option("#field-kind", "date")
    page.fill("#field-options", "")
    page.check("#field-required")
    page.click("#field-submit")
    expect(page.locator("#action-notice")).to_have_text("Saved.")
    expect(page.locator("#fields tr[data-field]")).to_have_count(2)
    assert asked[0] == "Save this field?"

    # The front desk: no fields page in the menu; the register form shows both fields.
    page.context.clear_cookies()
    desk_password = live.add_user("fd1", "front_desk", "s1")
    login(page, live, "fd1", desk_password, "/dashboard/members/new?lang=en")
    expect(page.locator("#nav-fields")).to_have_count(0)
    expect(page.locator('label[data-custom="health_check"] .required-mark')).to_have_count(1)
    expect(page.locator('label[data-custom="level"] .required-mark')).to_have_count(0)
    page.fill("#display_name", "赵*")
    page.fill("#phone", "13900000009")
    page.select_option("#custom-level", "advanced")
    page.click("#register-submit")
    # Missing the required date: the error names it, the typed input is kept.
    expect(page.locator("#action-error")).to_contain_text(
        "Health check (health_check): this field is required"
    )
    expect(page.locator("#custom-health_check-error")).to_be_visible()
    expect(page.locator("#custom-level")).to_have_value("advanced")
    expect(page.locator("#display_name")).to_have_value("赵*")
    expect(page.locator("#phone")).to_have_value("13900000009")
    assert live.call("GET", "/api/v1/members")["items"] == []

    page.fill("#custom-health_check", "2026-03-01")
    page.click("#register-submit")
    expect(page.locator("#action-notice")).to_have_text("Member registered.")
    member_id = page.url.split("/dashboard/members/")[1].split("?")[0]
    expect(page.locator("#custom-level")).to_have_text("Advanced")
    expect(page.locator("#custom-health_check")).to_have_text("2026-03-01")

    # Edit: blanking the required date is refused next to it, the new choice kept.
    page.select_option("#edit-custom-level", "beginner")
    page.fill("#edit-custom-health_check", "")
    page.click("#edit-submit")
    expect(page.locator("#edit-custom-health_check-error")).to_contain_text("required")
    expect(page.locator("#edit-custom-level")).to_have_value("beginner")
    expect(page.locator("#custom-level")).to_have_text("Advanced")
    page.fill("#edit-custom-health_check", "2026-04-02")
    page.click("#edit-submit")
    expect(page.locator("#action-notice")).to_have_text("Profile saved.")
    expect(page.locator("#custom-level")).to_have_text("Beginner")
    expect(page.locator("#custom-health_check")).to_have_text("2026-04-02")

    # The CSV export has a column per field.
    page.goto(f"{live.url}/dashboard/members")
    with page.expect_download() as info:
        page.click("#members-csv")
    text = Path(info.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["member_id"], r["custom.level"], r["custom.health_check"]) for r in rows] == [
        (member_id, "beginner", "2026-04-02")
    ]

    # In Chinese: the labels and the required message.
    page.goto(f"{live.url}/dashboard/members/new?lang=zh")
    expect(page.locator('label[data-custom="level"]')).to_contain_text("水平")
    page.fill("#display_name", "钱*")
    page.click("#register-submit")
    expect(page.locator("#custom-health_check-error")).to_have_text(
        "体检日期（health_check）：此项必填，请填写"
    )

    # HQ again, in Chinese: a type change for a field members hold is refused with the
    # reason; removing a field hides it from the member page and keeps the value.
    page.context.clear_cookies()
    login(page, live, "hq", password, "/dashboard/member-fields?lang=zh")
    row = page.locator('#fields tr[data-field="level"]')
    row.locator("summary").click()
    row.locator('select[name="kind"]').select_option("text")
    row.locator(".edit-field-submit").click()
    expect(page.locator("#action-error")).to_contain_text("已有 1 位会员填写了此项")
    expect(page.locator('#fields tr[data-field="level"] td').nth(3)).to_have_text("单选")
    page.locator('#fields tr[data-field="health_check"] .removed-submit').click()
    expect(page.locator('#fields tr[data-field="health_check"]')).to_have_attribute(
        "data-removed", "1"
    )
    page.goto(f"{live.url}/dashboard/members/{member_id}")
    expect(page.locator("#custom-level")).to_have_count(1)
    expect(page.locator("#custom-health_check")).to_have_count(0)
    live.call("POST", "/api/v1/member-fields/health_check/restore")
    kept = live.call("GET", f"/api/v1/members/{member_id}")["custom"]
    assert kept == {"level": "beginner", "health_check": "2026-04-02"}
