"""Binding a card by tapping it at a real kiosk of the store: the kiosk (KioskApp on real
parts: nfcpy reading a simulated card over its udp transport, SQLite ledger, MQTT link)
refuses the unknown card and records that fact with the UID; the front desk then binds
"the card just tapped at kA" from the member page, and the member's next tap there is
theirs, on their timeline."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from simulators.waiting import wait_until
from tests.dashboard.conftest import login
from tests.dashboard.live import Live
from tests.kiosk.conftest import KioskFactory, kiosk_factory  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser

NEW_CARD = "04C0FFEE123456"


def test_bind_a_card_tapped_at_a_real_kiosk(
    live: Live,
    page: Any,
    kiosk_factory: KioskFactory,  # noqa: F811
) -> None:
    live.add_store("s1", "Downtown")
    live.call("POST", "/api/v1/kiosks", json={"kiosk_id": "kA", "store_id": "s1"}, expect=201)
    body = {"member_id": "m7", "display_name": "周*", "full_name": "周杰",
            "phone": "13600000007", "home_store_id": "s1"}  # fmt: skip
    live.call("POST", "/api/v1/members", json=body, expect=201)
    kiosk = kiosk_factory(broker=live.broker, kiosk_id="kA", store_id="s1", people=())
    password = live.add_user("fd1", "front_desk", "s1")
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, live, "fd1", password, "/dashboard/members/m7?lang=en")

    # Pressed before any tap: a clear message, nothing bound.
    page.click("#tap-bind-submit")
    expect(page.locator("#action-error")).to_contain_text("no new card was tapped at kiosk kA")

    # The member taps the new card at kA: unknown there, and the fact reaches HQ.
    kiosk.tap(NEW_CARD)
    wait_until(
        lambda: any(
            e["event"].get("credential", {}).get("uid") == NEW_CARD
            for e in live.call("GET", "/api/v1/events", source="kA", kind="rejected")["items"]
        ),
        20,
        "the unknown-card tap to reach the coordinator",
    )
    page.select_option("#tap-kiosk", "kA")
    page.click("#tap-bind-submit")
    expect(page.locator("#action-notice")).to_have_text("Card bound.")
    expect(page.locator(f'#cards tr[data-uid="{NEW_CARD}"]')).to_have_attribute(
        "data-status", "active"
    )
    expect(page.locator('#timeline tr[data-what="card.bind"] .staff')).to_have_text("fd1")

    # The kiosk learns the card with the member's record; the next tap is m7's check-in.
    ledger: Any = kiosk.app.ledger
    wait_until(lambda: ledger.member_for_card(NEW_CARD) == "m7", 20, "kA to learn the card")
    kiosk.tap(NEW_CARD)
    wait_until(
        lambda: live.call("GET", "/api/v1/events", member_id="m7", kind="checkin")["items"],
        20,
        "m7's check-in to reach the coordinator",
    )
    page.reload()
    checkin = page.locator('#timeline tr[data-what="checkin"]')
    expect(checkin.locator(".kiosk")).to_have_text("kA")
