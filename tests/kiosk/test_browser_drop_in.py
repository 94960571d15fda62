"""A drop-in class paid from stored value on the running kiosk: a member with no pass taps
during the sign-in window of a class with a drop-in price (a class-only chain) and the screen
shows the class, the amount paid from stored value and the balance; a second tap charges
nothing; a member with neither a pass nor enough stored value is sent to the front desk."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.kiosk.conftest import KioskFactory, open_kiosk_page
from tests.kiosk.seed import ANNA_STORED_VALUE, BOB, WALKIN

pytestmark = pytest.mark.browser

PRICE = 8_000


def test_drop_in_paid_from_stored_value_on_screen(kiosk_factory: KioskFactory, page: Any) -> None:
    kiosk = kiosk_factory(with_class=True, drop_in_fen=PRICE, people=(WALKIN, BOB))
    open_kiosk_page(page, kiosk)
    kiosk.tap(WALKIN.card)
    expect(page.locator("#result-headline")).to_have_text("课程签到成功")
    expect(page.locator("#result-class")).to_contain_text("流瑜伽")
    charged = page.locator(".fact", has=page.locator("#result-charged"))
    expect(charged).to_contain_text("储值支付单次课")
    expect(page.locator("#result-charged")).to_have_text("¥80.00")
    expect(page.locator("#result-stored-value")).to_have_text("¥220.00")

    kiosk.tap(WALKIN.card)  # a second tap never charges twice
    expect(page.locator("#result-message")).to_have_text("您已签到这节课，不会重复扣次。")
    ledger = kiosk.app.ledger
    assert ledger is not None
    summary = ledger.member_summary(WALKIN.member_id)
    assert summary is not None and summary.stored_value_fen == ANNA_STORED_VALUE - PRICE

    # No pass and no stored value: refused (a class-only chain has no store visitors).
    kiosk.tap(BOB.card)
    expect(page.locator("#result-card")).to_have_class("result refused")
    bob = ledger.member_summary(BOB.member_id)
    assert bob is not None and bob.stored_value_fen == 0
