"""Staff accounts: a store manager adds a front-desk account and sets its kiosk PIN; the
store's kiosk gets the PIN hash in its rule bundle; a PIN that is too short or taken by a
colleague is refused and changes nothing; front desk never reaches the page. Staff cards:
bound by UID or by tapping at a real kiosk of the store, a member card refused, the card's
keyed hash reaches the store's kiosk (and signs its owner in there), unbound in one action."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from coordinator import schema
from shared.password_hash import verify_password
from shared.staff_cards import card_matches
from simulators.waiting import wait_until
from tests.dashboard.conftest import login
from tests.dashboard.live import Live
from tests.dashboard.test_members_page import csrf
from tests.kiosk.conftest import KioskFactory, kiosk_factory  # noqa: F401 (the fixture)

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


TYPED_CARD = "04AB12CD34EF56"
TAPPED_CARD = "04C0FFEE654321"
MEMBER_CARD = "04EEEEEEEEEE01"


def test_manager_binds_and_unbinds_staff_cards(
    live: Live,
    page: Any,
    kiosk_factory: KioskFactory,  # noqa: F811
) -> None:
    live.add_store("s1", "Downtown")
    live.call("POST", "/api/v1/kiosks", json={"kiosk_id": "kA", "store_id": "s1"}, expect=201)
    live.add_member("m1", "周*", "s1")
    live.call("POST", "/api/v1/members/m1/cards", json={"uid": MEMBER_CARD}, expect=201)
    kiosk = kiosk_factory(broker=live.broker, kiosk_id="kA", store_id="s1", people=())
    ledger: Any = kiosk.app.ledger
    password = live.add_user("mgr1", "store_manager", "s1")
    live.add_user("anna", "front_desk", "s1")
    live.add_user("bo", "front_desk", "s1")
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, live, "mgr1", password, "/dashboard/staff?lang=en")
    anna = page.locator('#staff tr[data-user="anna"]')
    bo = page.locator('#staff tr[data-user="bo"]')
    expect(anna).to_have_attribute("data-card", "0")
    expect(anna.locator(".unbind-submit")).to_have_count(0)

    # A member's card is refused, with what to do; nothing changes.
    anna.locator(".card-uid").fill(MEMBER_CARD)
    anna.locator(".card-submit").click()
    expect(page.locator("#action-error")).to_contain_text("is a member's card")
    expect(anna).to_have_attribute("data-card", "0")
    anna.locator(".card-uid").fill("12345")
    anna.locator(".card-submit").click()
    expect(page.locator("#action-error")).to_contain_text("8, 14, 16 or 20 hex digits")

    # Typed (as a desk reader writes it): bound, and the kiosk gets its keyed hash.
    anna.locator(".card-uid").fill("04:ab:12:cd:34:ef:56")
    anna.locator(".card-submit").click()
    expect(page.locator("#action-notice")).to_have_text(
        "Staff card bound; it goes to the store's kiosks with the rule bundle."
    )
    expect(anna).to_have_attribute("data-card", "1")
    wait_until(
        lambda: any(
            c.staff_id == "anna" and card_matches(TYPED_CARD, c.card_hash)
            for c in (ledger.rule_bundle().staff_cards if ledger.rule_bundle() else ())
        ),
        20,
        "kA to get anna's card hash",
    )
    # The same card for a colleague: refused.
    bo.locator(".card-uid").fill(TYPED_CARD)
    bo.locator(".card-submit").click()
    expect(page.locator("#action-error")).to_contain_text("already the staff card of anna")

    # Tapped at kA: pressed before a tap says so; after the tap, bo's card is bound.
    bo.locator(".tap-submit").click()
    expect(page.locator("#action-error")).to_contain_text("no new card was tapped at kiosk kA")
    kiosk.tap(TAPPED_CARD)
    wait_until(
        lambda: any(
            e["event"].get("credential", {}).get("uid") == TAPPED_CARD
            for e in live.call("GET", "/api/v1/events", source="kA", kind="rejected")["items"]
        ),
        20,
        "the unknown-card tap to reach the coordinator",
    )
    bo.locator(".tap-kiosk").select_option("kA")
    bo.locator(".tap-submit").click()
    expect(page.locator("#action-notice")).to_contain_text("Staff card bound")
    expect(bo).to_have_attribute("data-card", "1")
    # At kA, bo's card now signs bo in.
    staff = kiosk.app.service.staff  # type: ignore[union-attr]
    wait_until(
        lambda: any(c.staff_id == "bo" for c in ledger.rule_bundle().staff_cards),
        20,
        "kA to get bo's card hash",
    )
    kiosk.tap(TAPPED_CARD)
    active = staff.active()
    assert active is not None and active.staff_id == "bo" and active.via == "card"

    # Unbinding is one action; the kiosk's next bundle no longer has the card.
    anna.locator(".unbind-submit").click()
    expect(page.locator("#action-notice")).to_have_text(
        "Staff card unbound; the store's kiosks no longer accept it."
    )
    expect(anna).to_have_attribute("data-card", "0")
    wait_until(
        lambda: [c.staff_id for c in ledger.rule_bundle().staff_cards] == ["bo"],
        20,
        "kA to drop anna's card",
    )
    a = schema.audit_log
    with live.coord.db.read() as conn:
        rows = conn.execute(
            sa.select(a.c.actor, a.c.action, a.c.target)
            .where(a.c.action.like("staff.card%"))
            .order_by(a.c.id)
        )
        assert [tuple(r) for r in rows] == [
            ("mgr1", "staff.card_bind", "anna"),
            ("mgr1", "staff.card_bind", "bo"),
            ("mgr1", "staff.card_unbind", "anna"),
        ]
