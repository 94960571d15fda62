"""Staff accounts: a store manager adds a front-desk account and sets its kiosk PIN; the
store's kiosk gets the PIN hash in its rule bundle; a PIN that is too short or taken by a
colleague is refused and changes nothing; front desk never reaches the page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from shared.password_hash import verify_password
from tests.dashboard.conftest import login
from tests.dashboard.live import Live
from tests.dashboard.test_members_page import csrf

pytestmark = pytest.mark.browser


def test_manager_sets_staff_pins_that_reach_the_kiosk(live: Live, page: Any) -> None:
    live.add_store("s1", "Downtown")
    live.add_store("s2", "Riverside")
    kiosk = live.kiosk("kA", "s1")
    first = kiosk.bundle
    assert first is not None
    password = live.add_user("mgr1", "store_manager", "s1")
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, live, "mgr1", password, "/dashboard/staff?lang=en")
    assert page.locator("#staff-store option").all_inner_texts() == ["Downtown (s1)"]
    assert page.locator("#staff-role option").all_inner_texts() == ["Front desk", "Coach"]
    for name in ("anna", "bo"):
        page.fill("#staff-username", name)
        page.fill("#staff-password", f"pw-{name}-long")
        page.click("#staff-submit")
        expect(page.locator(f'#staff tr[data-user="{name}"]')).to_have_attribute("data-pin", "0")

    anna = page.locator('#staff tr[data-user="anna"]')
    anna.locator(".pin").fill("4711")
    anna.locator(".pin-submit").click()
    expect(anna).to_have_attribute("data-pin", "1")
    assert kiosk.wait_for(
        lambda: kiosk.bundle is not None and kiosk.bundle.version > first.version
    ), "the kiosk got no new bundle"
    pins = {p.staff_id: p.pin_hash for p in kiosk.bundle.staff_pins("s1")}
    assert set(pins) == {"anna"} and verify_password("4711", pins["anna"])

    # Taken by a colleague, or too short: a message, and nothing changes.
    bo = page.locator('#staff tr[data-user="bo"]')
    bo.locator(".pin").fill("4711")
    bo.locator(".pin-submit").click()
    expect(page.locator("#action-error")).to_contain_text("another staff member")
    expect(bo).to_have_attribute("data-pin", "0")
    r = page.request.post(
        f"{live.url}/dashboard/staff/bo/pin", form={"csrf": csrf(page), "pin": "12"}
    )
    assert r.status == 422 and "at least 4" in r.text()
    expect(page.locator('#staff tr[data-user="bo"]')).to_have_attribute("data-pin", "0")

    # The front desk logs in with their own password; the staff page is not theirs.
    page.context.clear_cookies()
    login(page, live, "anna", "pw-anna-long", "/dashboard/members?lang=en")
    expect(page.locator("#nav-staff")).to_have_count(0)
    page.goto(f"{live.url}/dashboard/staff")
    expect(page.locator("#error-message")).to_contain_text("front-desk")
