"""Stored value at the front desk: the member page shows principal, bonus and expiring bonus;
a top-up shows the rule's bonus before it is confirmed, is recorded once with its audit line,
and a bad amount or one over the cap is refused on the page with nothing recorded; a pass
from the catalogue can be paid from stored value (refused when the balance is short)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from coordinator import schema
from shared.events import ClassSignIn, StoredValueSpend
from simulators.waiting import wait_until
from tests.dashboard.conftest import login
from tests.dashboard.live import Live
from tests.dashboard.test_members_page import audits, csrf, seed
from tests.dashboard.test_products_page import add

pytestmark = pytest.mark.browser

RULES = {
    "money": {
        "topup_tiers": [
            {"min_paid_fen": 100_000, "bonus_fen": 10_000, "bonus_expiry_days": 20},
            {"min_paid_fen": 200_000, "bonus_fen": 30_000},
        ],
        "member_cap_fen": 300_000,
        "max_topup_fen": 250_000,
    }
}


def publish(live: Live) -> None:
    """The chain's rules with two top-up tiers and a ¥3,000 cap."""
    bundle = live.call("POST", "/api/v1/rule-bundles", json={"rules": RULES}, expect=201)
    live.call("POST", f"/api/v1/rule-bundles/{bundle['bundle_id']}/publish", json={}, expect=200)


def money_events(live: Live, kind: str) -> list[Any]:
    """The bodies of member m1's ledger events of one kind."""
    items = live.call("GET", "/api/v1/events", member_id="m1", kind=kind)["items"]
    return [x["event"]["body"] for x in items]


def test_front_desk_tops_up_and_sells_from_stored_value(live: Live, page: Any) -> None:
    seed(live)
    publish(live)
    answers: list[str] = []
    page.on("dialog", lambda dialog: (answers.append(dialog.message), dialog.accept()))
    login(page, live, "admin", "admin", "/dashboard/products?lang=en")
    add(page, "5x swim", "punch", "300", sessions=5, days=60, stores=["s1"])
    expect(page.locator("#action-notice")).to_be_visible()
    password = live.add_user("fd1", "front_desk", "s1")
    page.context.clear_cookies()
    login(page, live, "fd1", password, "/dashboard/members/m1?lang=en")

    expect(page.locator("#sv-available")).to_have_text("¥0.00")
    expect(page.locator("#topup-tiers")).to_contain_text("Pay ¥1,000.00, get ¥100.00")

    # A bad amount and one over the cap: the reason on the page, nothing recorded.
    for typed, reason in (("12.345", "give an amount like 980"), ("abc", "give an amount"),
                          ("0", "at least 1 fen"), ("2600", "chain's maximum top-up")):  # fmt: skip
        page.fill("#topup-amount", typed)
        page.click("#topup-submit")
        expect(page.locator("#action-error")).to_contain_text(reason)
        expect(page.locator("#topup-preview")).to_have_count(0)

    # The bonus is shown before anything is recorded; cancelling records nothing.
    page.fill("#topup-amount", "1000")
    page.select_option("#topup-method", "wechat")
    page.fill("#topup-reference", "WX-001")
    page.click("#topup-submit")
    expect(page.locator("#topup-bonus")).to_have_text(
        "Pay ¥1,000.00 by WeChat Pay; the rules give a bonus of ¥100.00."
    )
    expect(page.locator("#topup-expires")).to_be_visible()
    expect(page.locator("#topup-after")).to_contain_text("available ¥1,100.00")
    assert money_events(live, "sv_topup") == []
    page.click("#topup-cancel")
    expect(page.locator("#topup-preview")).to_have_count(0)
    assert money_events(live, "sv_topup") == []

    page.fill("#topup-amount", "1000")
    page.select_option("#topup-method", "wechat")
    page.fill("#topup-reference", "WX-001")
    page.click("#topup-submit")
    page.click("#topup-confirm")
    expect(page.locator("#action-notice")).to_have_text("Top-up recorded.")
    assert answers[-1] == (
        "Has the member paid ¥1,000.00? Record the top-up with a bonus of ¥100.00?"
    )
    expect(page.locator("#sv-principal")).to_have_text("¥1,000.00")
    expect(page.locator("#sv-bonus")).to_have_text("¥100.00")
    expect(page.locator("#sv-expiring")).to_have_text("¥100.00")  # 20-day bonus
    expect(page.locator("#sv-available")).to_have_text("¥1,100.00")
    topups = money_events(live, "sv_topup")
    assert len(topups) == 1
    assert topups[0]["paid_fen"] == 100_000 and topups[0]["method"] == "wechat"
    rows = audits(live, "stored_value.top_up")
    assert [(r.actor, r.target) for r in rows] == [("fd1", "m1")]

    # Over the member's cap (¥3,000 principal): refused at the preview with the room left.
    page.fill("#topup-amount", "2500")
    page.click("#topup-submit")
    expect(page.locator("#action-error")).to_contain_text("top up at most 200000 fen")
    # A forged confirm over the cap is refused by the service itself.
    forged = page.request.post(
        f"{live.url}/dashboard/members/m1/topup",
        form={"csrf": csrf(page), "amount_fen": "250000", "method": "cash"},
    )
    assert forged.status == 422 and "cap" in forged.text()
    assert len(money_events(live, "sv_topup")) == 1

    # Sell a pass paid from stored value: bonus first, the pass on the account.
    page.goto(f"{live.url}/dashboard/members/m1?lang=en")
    swim = page.locator("#catalogue li", has_text="5x swim")
    swim.locator(".sell-method").select_option("stored_value")
    swim.locator(".sell-submit").click()
    expect(page.locator("#action-notice")).to_contain_text("Sold")
    expect(page.locator("#sv-available")).to_have_text("¥800.00")
    expect(page.locator("#sv-bonus")).to_have_text("¥0.00")
    expect(page.locator("#sv-principal")).to_have_text("¥800.00")
    spends = money_events(live, "sv_spend")
    assert [x["amount_fen"] for x in spends] == [30_000]
    issue = money_events(live, "pass_issue")[-1]
    assert issue["payment_method"] == "stored_value"

    # Three more swims would need ¥900 of ¥800: the third is refused, nothing recorded.
    for _ in range(2):
        swim.locator(".sell-method").select_option("stored_value")
        swim.locator(".sell-submit").click()
        expect(page.locator("#action-notice")).to_contain_text("Sold")
    swim.locator(".sell-method").select_option("stored_value")
    swim.locator(".sell-submit").click()
    expect(page.locator("#action-error")).to_contain_text("stored value holds 20000 fen")
    expect(page.locator("#sv-available")).to_have_text("¥200.00")
    s = schema.product_sales
    with live.coord.db.read() as conn:
        sold = conn.execute(sa.select(sa.func.count()).select_from(s)).scalar_one()
    assert sold == 3
    assert len(money_events(live, "sv_spend")) == 3

    # 会员充次 at the desk: five sessions more for ¥100 from stored value, on the event.
    row = page.locator("#passes tbody tr", has_text="5x swim").first
    row.locator(".add-sessions").fill("5")
    row.locator(".extend-price").fill("100")
    row.locator(".extend-method").select_option("stored_value")
    row.locator(".extend-submit").click()
    expect(page.locator("#action-notice")).to_be_visible()
    expect(page.locator("#sv-available")).to_have_text("¥100.00")
    update = money_events(live, "pass_update")[-1]
    assert (update["price_fen"], update["payment_method"]) == (10_000, "stored_value")
    assert update["sessions_total"] == 10
    # The timeline tells the money story: the top-up and the paid session top-up.
    expect(page.locator('#timeline tr[data-what="sv_topup"] .sub')).to_contain_text(
        "paid_fen=100000"
    )
    expect(page.locator('#timeline tr[data-what="pass_update"] .sub').first).to_contain_text(
        "payment_method=stored_value"
    )


def test_a_kiosk_drop_in_reaches_the_coordinator_without_a_conflict(live: Live) -> None:
    """The two linked events of a drop-in (a pass-less class_signin and its sv_spend) from a
    kiosk over Mosquitto: folded like any spend, the balance down, no conflict."""
    seed(live)
    top = {"amount_fen": 10_000, "method": "cash"}
    live.call("POST", "/api/v1/members/m1/stored-value/top-ups", json=top, expect=201)
    kiosk = live.kiosk("kB", "s1")
    kiosk.record("m1", StoredValueSpend(amount_fen=3_000, purpose="drop-in yoga-1"))
    kiosk.record(
        "m1", ClassSignIn(class_session_id="yoga-1", class_type="yoga", pass_id=None, sessions=0)
    )
    kiosk.flush()

    def balance() -> int:
        return int(live.call("GET", "/api/v1/members/m1/stored-value")["available_fen"])

    wait_until(lambda: balance() == 7_000)
    assert live.call("GET", "/api/v1/conflicts")["items"] == []
    signins = money_events(live, "class_signin")
    assert [(x["class_session_id"], x["pass_id"]) for x in signins] == [("yoga-1", None)]
