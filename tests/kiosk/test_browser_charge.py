"""The staff charge screen in real Chromium: look a member up by card, see their stored
value, charge an amount in yuan, confirm, and see the balance after it."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.kiosk.conftest import KioskFactory, open_kiosk_page
from tests.kiosk.seed import ANNA, ANNA_STORED_VALUE, STAFF_CARD

pytestmark = pytest.mark.browser


def test_staff_charges_stored_value(kiosk_factory: KioskFactory, page: Any) -> None:
    kiosk = kiosk_factory()
    open_kiosk_page(page, kiosk)
    kiosk.tap(STAFF_CARD)
    expect(page.locator("#view-staff")).to_be_visible()
    page.click("#lookup-card")
    kiosk.tap(ANNA.card)
    expect(page.locator("#staff-member-name")).to_have_text("李*华")
    expect(page.locator("#staff-member-stored-value")).to_have_text(
        f"¥{ANNA_STORED_VALUE / 100:.2f}"
    )

    page.fill("#staff-charge-amount", "25.5")
    page.click("#staff-charge")
    expect(page.locator("#staff-member")).to_contain_text("从储值扣 ¥25.50？")
    page.click("#staff-confirm")
    after = f"¥{(ANNA_STORED_VALUE - 2_550) / 100:.2f}"
    expect(page.locator("#staff-notice")).to_contain_text(f"储值扣款成功 · 储值余额 {after}")
    expect(page.locator("#staff-member-stored-value")).to_have_text(after)

    ledger = kiosk.app.ledger
    assert ledger is not None
    events = [e.event for e in ledger.recent_events(5)]
    assert [(e.kind, getattr(e.body, "amount_fen", None)) for e in events] == [("sv_spend", 2_550)]
