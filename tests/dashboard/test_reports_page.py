"""Store-owner reports in headless Chromium, from a seeded run (API + events over MQTT):
both languages, charts drawn, and every CSV download equal to the table on the page."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from simulators.waiting import wait_until
from tests.dashboard.conftest import login
from tests.dashboard.live import Live
from tests.dashboard.seed import report_run

pytestmark = pytest.mark.browser


def page_table(page: Any, name: str) -> tuple[list[str], list[list[str]]]:
    """Headings and rows of a report table as shown."""
    table = page.locator(f'table[data-table="{name}"]')
    headings = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    rows = [
        [c.strip() for c in row.locator("td").all_inner_texts()]
        for row in table.locator("tbody tr").all()
    ]
    return headings, rows


def download_csv(page: Any, name: str, folder: Path) -> list[list[str]]:
    """Click the table's CSV link and read the downloaded file."""
    with page.expect_download() as info:
        page.click(f'a[data-csv="{name}"]')
    target = folder / f"{name}.csv"
    info.value.save_as(target)
    with target.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def row_of(rows: list[list[str]], first: str) -> list[str]:
    """The row whose first cell is ``first``."""
    return next(r for r in rows if r[0] == first)


def test_reports_render_seeded_run_in_both_languages_with_csv(
    live: Live, page: Any, tmp_path: Path
) -> None:
    seeded = report_run(live)
    wait_until(
        lambda: live.call("GET", "/api/v1/rule-bundles/current", store_id="s1")["classes"] != [],
        what="the class bundle",
    )
    today = seeded.today
    login(page, live, "admin", "admin", "/dashboard/reports?lang=zh")

    # Chinese: section titles, figures from the seeded month, charts drawn as inline SVG.
    expect(page.locator("#sec-checkins h2")).to_have_text("到店签到")
    expect(page.locator("#sec-lapsed h2")).to_have_text("会员流失")
    assert page.locator("#sec-checkins svg.chart rect").count() > 0
    assert page.locator("#sec-rfm svg.chart circle").count() == 3

    headings, daily = page_table(page, "checkins_daily")
    assert headings == ["日期", "门店", "签到", "上课签到"]
    week_ago = (today - timedelta(days=7)).isoformat()
    assert [week_ago, "南京西路店 (s1)", "1", "0"] in daily
    assert [week_ago, "Riverside (s2)", "0", "0"] in daily
    assert len(daily) == 30 * 2  # every day of the default period, both stores

    _, classes = page_table(page, "class_attendance")
    assert [r[3:] for r in classes] == [["流瑜伽", "20", "1", "5.0%"]]

    _, lapsed = page_table(page, "lapsed_members")
    assert [r[0] for r in lapsed] == ["m2"]  # m1 comes weekly, m3 has only two visit days
    assert lapsed[0][3:] == [
        "4",
        "7.0",
        (today - timedelta(days=39)).isoformat(),
        "39",
        "5.6",
    ]
    _, attention = page_table(page, "passes_attention")
    pass_row = row_of(attention, "m1")
    assert pass_row[2:4] == ["10 次瑜伽卡", "9/10"] and pass_row[5] == "14 天内到期"
    _, sales = page_table(page, "pass_sales")
    assert sales == [["南京西路店 (s1)", "2", "1500.00"]]
    _, flow = page_table(page, "points_flow")
    assert flow == [["南京西路店 (s1)", "70", "20", "0", "0"]]
    _, coupons = page_table(page, "coupons_by_campaign")
    assert row_of(coupons, "spring") == ["spring", "春季体验券", "3", "1", "3", "1", "33.3%"]
    _, quadrants = page_table(page, "rfm_quadrants")
    assert [q[:2] for q in quadrants] == [
        ["核心会员（高频高值）", "1"],
        ["忠诚会员（高频低值）", "1"],
        ["高值低频（需唤回）", "0"],
        ["一般会员", "1"],
    ]

    # Every CSV download is the table on the page, headings included (UTF-8, BOM for Excel).
    for name in ("checkins_daily", "lapsed_members", "rfm_members", "coupons_by_campaign"):
        shown_headings, shown_rows = page_table(page, name)
        assert download_csv(page, name, tmp_path) == [shown_headings, *shown_rows]

    # English: same figures, English words; the choice sticks across pages.
    page.click("#lang-switch")
    expect(page.locator("#sec-checkins h2")).to_have_text("Check-ins")
    expect(page.locator("#sec-lapsed h2")).to_have_text("Lapsed members")
    headings, lapsed_en = page_table(page, "lapsed_members")
    assert headings[:4] == ["Member ID", "Member", "Home store", "Visit days"]
    assert lapsed_en == lapsed
    _, classes_en = page_table(page, "class_attendance")
    assert [r[3] for r in classes_en] == ["Flow yoga"]
    _, attention_en = page_table(page, "passes_attention")
    assert row_of(attention_en, "m1")[5] == "expires within 14 days"
    assert download_csv(page, "lapsed_members", tmp_path)[0] == headings
    page.click("#nav-fleet")
    expect(page.locator("h1")).to_have_text("Fleet")

    # One store, chosen on the page: the other store's rows are gone.
    page.click("#nav-reports")
    page.select_option("#report-store", "s2")
    page.click("#report-show")
    expect(page.locator("#report-store")).to_have_value("s2")
    _, daily_s2 = page_table(page, "checkins_daily")
    assert {r[1] for r in daily_s2} == {"Riverside (s2)"}
    expect(page.locator('[data-empty="lapsed_members"]')).to_be_visible()
