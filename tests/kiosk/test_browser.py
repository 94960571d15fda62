"""The kiosk as a member and a staff user see it: real Chromium against a running kiosk.

Every kiosk here runs on real parts: the SQLite ledger seeded as after a sync, nfcpy reading
simulated cards over its udp transport, the MQTT link (to a real Mosquitto where the test
needs one, otherwise to a port nobody listens on) and the uvicorn UI pushing results over
Server-Sent Events.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from shared.qrtoken import generate_keypair, issue_token
from simulators.broker import Broker
from simulators.camera.server import SimulatedCamera
from tests.kiosk.claims_stub import ClaimStub
from tests.kiosk.conftest import (
    STAFF_PIN,
    KioskFactory,
    open_kiosk_page,
)
from tests.kiosk.seed import (
    ANNA,
    BOB,
    CHAIN_COUPON,
    CLASS_ID,
    STORE_COUPON,
    STUDENT,
    STUDENT2,
)

pytestmark = pytest.mark.browser


def enter_pin(page: Any, pin: str) -> None:
    """Type a PIN on the on-screen pad and press OK."""
    for digit in pin:
        page.click(f"#pin-pad [data-key='{digit}']")
    page.click("#pin-pad [data-key='ok']")


def platform_fonts(page: Any, selector: str) -> list[str]:
    """Font families Chromium actually used to draw the text of ``selector`` (via CDP)."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument")["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    finally:
        cdp.detach()
    return [f["familyName"] for f in fonts if f["glyphCount"] > 0]


def test_card_tap_appears_on_member_screen(kiosk_factory: KioskFactory, page: Any) -> None:
    kiosk = kiosk_factory()
    open_kiosk_page(page, kiosk)
    expect(page.locator("#idle-prompt")).to_have_text("请刷会员卡或出示会员码")

    kiosk.tap(ANNA.card)

    expect(page.locator("#view-result")).to_be_visible()
    expect(page.locator("#result-headline")).to_have_text("签到成功")
    expect(page.locator("#result-name")).to_have_text("欢迎，李*华")
    expect(page.locator("#result-earned")).to_have_text("+10")
    expect(page.locator("#result-balance")).to_have_text(str(ANNA.points + 10))
    expect(page.locator("#btn-redeem-points")).to_be_visible()
    # The screen only says what the ledger durably recorded.
    ledger = kiosk.app.ledger
    assert ledger is not None
    summary = ledger.member_summary(ANNA.member_id)
    assert summary is not None and summary.points_balance == ANNA.points + 10
    assert [e.event.kind for e in ledger.recent_events(5)] == ["checkin"]


def test_unknown_card_is_refused_with_what_to_do(kiosk_factory: KioskFactory, page: Any) -> None:
    kiosk = kiosk_factory()
    open_kiosk_page(page, kiosk)
    kiosk.tap("04999999999999")
    expect(page.locator("#result-message")).to_have_text("这张卡还没有登记，请到前台办理。")
    expect(page.locator("#result-actions")).to_be_hidden()


def test_points_redemption_then_staff_undo(kiosk_factory: KioskFactory, page: Any) -> None:
    kiosk = kiosk_factory()
    open_kiosk_page(page, kiosk)
    kiosk.tap(ANNA.card)
    balance = ANNA.points + 10
    expect(page.locator("#result-balance")).to_have_text(str(balance))

    page.click("#btn-redeem-points")
    expect(page.locator("#rewards-balance")).to_have_text(str(balance))
    expect(page.locator("[data-reward='mat']")).to_be_disabled()  # 5000 points: too dear
    page.click("[data-reward='towel']")
    expect(page.locator("#confirm-question")).to_have_text("用 200 积分兑换「毛巾」？")
    page.click("#btn-confirm")

    expect(page.locator("#result-headline")).to_have_text("兑换成功")
    expect(page.locator("#result-reward")).to_have_text("毛巾")
    expect(page.locator("#result-spent")).to_have_text("-200")
    expect(page.locator("#result-balance")).to_have_text(str(balance - 200))

    # Staff undo the redemption: an audited reversal, the points come back.
    page.click("#staff-button")
    enter_pin(page, STAFF_PIN)
    expect(page.locator("#view-staff")).to_be_visible()
    page.click(".tab[data-tab='undo']")
    row = page.locator("#recent-list .row[data-kind='points_redeem']")
    expect(row).to_have_count(1)
    row.locator("button.undo").click()
    expect(page.locator("#staff-notice")).to_contain_text(f"积分余额 {balance}")
    expect(row).to_contain_text("已撤销")
    expect(page.locator("#recent-list .row[data-kind='reversal']")).to_have_count(1)

    ledger = kiosk.app.ledger
    assert ledger is not None
    kinds = [e.event.kind for e in ledger.recent_events(10)]
    assert kinds == ["reversal", "points_redeem", "checkin"]  # nothing deleted
    reversal = ledger.recent_events(1)[0].event
    assert reversal.credential is not None and reversal.credential.staff_id == "store-staff"
    summary = ledger.member_summary(ANNA.member_id)
    assert summary is not None and summary.points_balance == balance


def test_zh_and_en_screens_render(
    kiosk_factory: KioskFactory, page: Any, artifacts_dir: Path
) -> None:
    kiosk = kiosk_factory()
    open_kiosk_page(page, kiosk)
    expect(page.locator("#idle-prompt")).to_have_text("请刷会员卡或出示会员码")
    expect(page.locator("#idle-prompt-other")).to_have_text(
        "Tap your card or show your member code"
    )
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    page.screenshot(path=str(artifacts_dir / "idle-zh.png"))

    page.click("#lang-toggle")
    expect(page.locator("#idle-prompt")).to_have_text("Tap your card or show your member code")
    expect(page.locator("#lang-toggle")).to_have_text("中文")
    page.screenshot(path=str(artifacts_dir / "idle-en.png"))

    # A member whose language is English gets the English result screen...
    kiosk.tap(BOB.card)
    expect(page.locator("#result-headline")).to_have_text("Checked in")
    expect(page.locator("#result-name")).to_have_text("Welcome, Bob S.")
    expect(page.locator("#result-card")).to_contain_text("Points balance")
    expect(page.locator("#btn-redeem-points")).to_have_text("Redeem points")
    page.screenshot(path=str(artifacts_dir / "welcome-en.png"))

    # ...and can switch it to Chinese on screen.
    page.click("#lang-toggle")
    expect(page.locator("#result-name")).to_have_text("欢迎，Bob S.")
    expect(page.locator("#result-card")).to_contain_text("积分余额")
    page.click("#btn-done")
    expect(page.locator("#idle-prompt")).to_have_text("请刷会员卡或出示会员码")

    # A Chinese member's refusal says what to do next, in Chinese (tapping twice).
    kiosk.tap(ANNA.card)
    expect(page.locator("#result-headline")).to_have_text("签到成功")
    kiosk.tap(ANNA.card)
    expect(page.locator("#result-message")).to_have_text("您刚刚已签到，无需重复刷卡。")
    page.screenshot(path=str(artifacts_dir / "refusal-zh.png"))
    # The Chinese text is drawn with the installed CJK font (fonts-noto-cjk), not boxes.
    fonts = platform_fonts(page, "#result-message")
    assert any("CJK" in name for name in fonts), fonts


def test_offline_indicator_follows_the_broker(
    kiosk_factory: KioskFactory, broker: Broker, page: Any
) -> None:
    kiosk = kiosk_factory(broker=broker)
    open_kiosk_page(page, kiosk)
    link = kiosk.app.link
    assert link is not None
    assert link.wait_for(lambda s: s.online, 10) is not None
    expect(page.locator("#offline-indicator")).to_be_hidden()

    broker.stop()
    expect(page.locator("#offline-indicator")).to_be_visible()
    expect(page.locator("#offline-indicator")).to_have_text("离线")

    # Offline, a tap still works (decided locally, queued in the outbox).
    kiosk.tap(ANNA.card)
    expect(page.locator("#result-headline")).to_have_text("签到成功")
    ledger = kiosk.app.ledger
    assert ledger is not None
    assert ledger.outbox_stats().depth == 1


def test_offline_indicator_when_broker_unreachable(kiosk_factory: KioskFactory, page: Any) -> None:
    kiosk = kiosk_factory()  # the link points at a port nobody listens on
    open_kiosk_page(page, kiosk)
    expect(page.locator("#offline-indicator")).to_be_visible()
    page.click("#lang-toggle")
    expect(page.locator("#offline-indicator")).to_have_text("Offline")


def test_reader_unavailable_message(kiosk_factory: KioskFactory, page: Any) -> None:
    kiosk = kiosk_factory(nfc="usb")  # no USB reader (nor libusb) on this machine
    open_kiosk_page(page, kiosk)
    warning = page.locator("#reader-warning")
    expect(warning).to_be_visible()
    expect(warning).to_have_text("读卡器暂时不可用，请出示会员码（二维码）。")
    page.click("#lang-toggle")
    expect(warning).to_have_text("Card reader unavailable, use QR.")
    status = kiosk.app.health().readers["nfc"]
    assert status.state == "unavailable" and "usb" in status.detail


def test_staff_pin_and_live_roster(kiosk_factory: KioskFactory, page: Any) -> None:
    kiosk = kiosk_factory(with_class=True)
    open_kiosk_page(page, kiosk)

    page.click("#staff-button")
    enter_pin(page, "1111")
    expect(page.locator("#pin-error")).to_have_text("密码错误")
    expect(page.locator("#view-staff")).to_be_hidden()

    enter_pin(page, STAFF_PIN)
    expect(page.locator("#view-staff")).to_be_visible()
    page.click(".tab[data-tab='roster']")
    block = page.locator(f".class-block[data-class='{CLASS_ID}']")
    expect(block).to_contain_text("流瑜伽")
    expect(block.locator(".count")).to_have_text("已签到 0 / 20")

    # Students tap while staff watch: the roster updates live.
    kiosk.tap(STUDENT.card)
    expect(block.locator(f".student[data-member='{STUDENT.member_id}']")).to_contain_text("王*明")
    expect(block.locator(".count")).to_have_text("已签到 1 / 20")
    kiosk.tap(STUDENT2.card)
    expect(block.locator(".count")).to_have_text("已签到 2 / 20")
    expect(page.locator("#staff-notice")).to_contain_text("Chen Y.")

    page.click("#staff-exit")
    expect(page.locator("#view-idle")).to_be_visible()


def test_class_signin_shows_pass_result(kiosk_factory: KioskFactory, page: Any) -> None:
    kiosk = kiosk_factory(with_class=True)
    open_kiosk_page(page, kiosk)
    kiosk.tap(STUDENT.card)
    expect(page.locator("#result-headline")).to_have_text("课程签到成功")
    expect(page.locator("#result-class")).to_contain_text("流瑜伽")
    expect(page.locator("#result-sessions")).to_have_text("7 次")  # 10 sold, 2 used, 1 now
    expect(page.locator("#result-expiry")).to_have_text(re.compile(r"^\d{4}-\d{2}-\d{2}$"))

    kiosk.tap(STUDENT.card)  # a second tap never deducts twice
    expect(page.locator("#result-message")).to_have_text("您已签到这节课，不会重复扣次。")
    ledger = kiosk.app.ledger
    assert ledger is not None
    summary = ledger.member_summary(STUDENT.member_id)
    assert summary is not None and summary.passes[0].sessions_left == 7

    # A member with no pass for the class is checked in as a visitor, with a pointer to the
    # front desk (Bob reads English).
    kiosk.tap(BOB.card)
    expect(page.locator("#result-headline")).to_have_text("Checked in")
    expect(page.locator("#result-message")).to_have_text(
        "You have no pass for Flow yoga. If you're here for the class, please see the front desk."
    )


def test_staff_card_lookup_and_redeem_on_behalf(kiosk_factory: KioskFactory, page: Any) -> None:
    from tests.kiosk.seed import STAFF_CARD

    kiosk = kiosk_factory()
    open_kiosk_page(page, kiosk)
    kiosk.tap(STAFF_CARD)  # a staff card opens staff mode without a PIN
    expect(page.locator("#view-staff")).to_be_visible()

    page.click("#lookup-card")
    expect(page.locator("#staff-notice")).to_have_text("请让会员刷卡…")
    kiosk.tap(ANNA.card)  # looked up, not checked in
    expect(page.locator("#staff-member-name")).to_have_text("李*华")
    expect(page.locator("#staff-member-balance")).to_have_text(str(ANNA.points))
    # The staff view shows each coupon's kind with its value too.
    expect(page.locator(f"[data-staff-coupon='{STORE_COUPON}']")).to_have_text(
        "使用 ¥20 代金券 · 代金券 ¥20"
    )

    page.click("[data-staff-reward='water']")
    page.click("#staff-confirm")
    expect(page.locator("#staff-notice")).to_contain_text(f"积分余额 {ANNA.points - 20}")
    expect(page.locator("#staff-member-balance")).to_have_text(str(ANNA.points - 20))

    ledger = kiosk.app.ledger
    assert ledger is not None
    events = [e.event for e in ledger.recent_events(5)]
    assert [e.kind for e in events] == ["points_redeem"]
    assert events[0].credential is not None
    assert events[0].credential.staff_id == f"card-{STAFF_CARD}"


def test_sync_status_page(kiosk_factory: KioskFactory, broker: Broker, page: Any) -> None:
    kiosk = kiosk_factory(broker=broker)
    open_kiosk_page(page, kiosk)
    kiosk.tap(ANNA.card)
    page.click("#staff-button")
    enter_pin(page, STAFF_PIN)
    page.click(".tab[data-tab='sync']")
    expect(page.locator("#sync-connected")).to_have_text("是")
    expect(page.locator("#sync-nfc")).to_have_text("正常")
    # No coordinator acknowledges here: the check-in waits in the outbox.
    expect(page.locator("#sync-outbox")).to_have_text("1")
    expect(page.locator("#sync-versions")).to_have_text("1 / 1 / 0")  # rules/members/deny


def open_coupons(page: Any, kiosk: Any) -> None:
    """Tap Anna's card and open her coupons."""
    kiosk.tap(ANNA.card)
    expect(page.locator("#btn-my-coupons")).to_be_visible()
    page.click("#btn-my-coupons")


def test_coupons_offline(kiosk_factory: KioskFactory, page: Any) -> None:
    kiosk = kiosk_factory()  # offline: no broker
    open_kiosk_page(page, kiosk)
    open_coupons(page, kiosk)
    # Each coupon shows its kind with its value.
    expect(page.locator(f"[data-coupon='{STORE_COUPON}'] .cost")).to_contain_text("代金券 ¥20 · ")
    expect(page.locator(f"[data-coupon='{CHAIN_COUPON}'] .cost")).to_contain_text("体验券 · ")

    # Valid in every store: offline it would risk a double spend, so the kiosk explains.
    page.click(f"[data-coupon='{CHAIN_COUPON}']")
    expect(page.locator("#confirm-question")).to_have_text("现在使用「免费体验课」？")
    page.click("#btn-confirm")
    expect(page.locator("#result-message")).to_have_text(
        "网络恢复后才能使用这张优惠券，请稍后再试或联系店员。"
    )

    # Valid only in this store: the store-scoped policy allows it offline.
    page.click("#btn-my-coupons")
    page.click(f"[data-coupon='{STORE_COUPON}']")
    page.click("#btn-confirm")
    expect(page.locator("#result-headline")).to_have_text("优惠券已使用")
    expect(page.locator("#result-coupon")).to_have_text("¥20 代金券")

    page.click("#btn-my-coupons")
    expect(page.locator(f"[data-coupon='{STORE_COUPON}']")).to_have_count(0)
    expect(page.locator(f"[data-coupon='{CHAIN_COUPON}']")).to_have_count(1)


def test_coupon_claimed_online_shows_checking(
    kiosk_factory: KioskFactory, broker: Broker, page: Any
) -> None:
    stub = ClaimStub(broker.host, broker.port, delay_s=1.0).start()
    try:
        kiosk = kiosk_factory(broker=broker)
        link = kiosk.app.link
        assert link is not None and link.wait_for(lambda s: s.online, 10) is not None
        open_kiosk_page(page, kiosk)
        open_coupons(page, kiosk)
        page.click(f"[data-coupon='{CHAIN_COUPON}']")
        page.click("#btn-confirm")
        expect(page.locator("#checking-text")).to_have_text("正在确认…")
        expect(page.locator("#result-headline")).to_have_text("优惠券已使用")
        expect(page.locator("#result-coupon")).to_have_text("免费体验课")
    finally:
        stub.stop()
    assert [c.coupon_id for c in stub.claims] == [CHAIN_COUPON]
    ledger = kiosk.app.ledger
    assert ledger is not None
    redeem = ledger.recent_events(1)[0].event
    assert redeem.kind == "coupon_redeem"
    assert getattr(redeem.body, "claim_id", None) == stub.claims[0].claim_id


def test_qr_code_from_the_camera(kiosk_factory: KioskFactory, page: Any) -> None:
    private, public = generate_keypair("k1")
    with SimulatedCamera(fps=10) as camera:
        kiosk = kiosk_factory(camera=camera.url, qr_keys=(public,))
        open_kiosk_page(page, kiosk)
        scanner: Any = kiosk.app.qr_scanner
        assert scanner.wait_for_frames(1, 15)

        now_ms = time.time_ns() // 1_000_000
        camera.show_token(issue_token(private, "k1", ANNA.member_id, now_ms, 60), seconds=2)
        expect(page.locator("#result-name")).to_have_text("欢迎，李*华")
        expect(page.locator("#result-balance")).to_have_text(str(ANNA.points + 10))
        assert camera.scene.wait_idle(10)

        # A screenshot of an expired code is refused, with what to do.
        old = issue_token(private, "k1", ANNA.member_id, now_ms - 600_000, 60)
        camera.show_token(old, seconds=2)
        expect(page.locator("#result-message")).to_have_text("会员码已过期，请在手机上刷新后重试。")


def test_screens_time_out_back_to_idle(kiosk_factory: KioskFactory, page: Any) -> None:
    kiosk = kiosk_factory(ui={"result_display_s": 1}, staff={"session_idle_s": 1})
    open_kiosk_page(page, kiosk)
    kiosk.tap(BOB.card)
    expect(page.locator("#result-name")).to_have_text("Welcome, Bob S.")
    expect(page.locator("#view-idle")).to_be_visible()  # after a second, untouched
    expect(page.locator("#idle-prompt")).to_have_text("请刷会员卡或出示会员码")  # default lang

    page.click("#staff-button")
    enter_pin(page, STAFF_PIN)
    expect(page.locator("#view-staff")).to_be_visible()
    expect(page.locator("#view-idle")).to_be_visible()  # staff mode closes when left idle
    service = kiosk.app.service
    assert service is not None and service.staff.active() is None


SMALL_BUTTONS = """() => Array.from(document.querySelectorAll('button'))
    .filter((b) => b.offsetParent !== null)
    .map((b) => [b.textContent.trim(), b.getBoundingClientRect()])
    .filter(([, r]) => r.width < 64 || r.height < 64)
    .map(([text, r]) => `${text}: ${Math.round(r.width)}x${Math.round(r.height)}`)"""


def test_touch_targets_on_the_small_screen(kiosk_factory: KioskFactory, page: Any) -> None:
    page.set_viewport_size({"width": 800, "height": 480})
    kiosk = kiosk_factory(with_class=True)
    open_kiosk_page(page, kiosk)
    kiosk.tap(ANNA.card)
    expect(page.locator("#result-expiry")).to_be_visible()
    screens = {"result": page.evaluate(SMALL_BUTTONS)}
    # Everything on the result screen fits without scrolling.
    assert page.evaluate("document.documentElement.scrollHeight") <= 480
    assert page.locator("#btn-done").bounding_box()["y"] + 64 <= 480
    page.click("#btn-redeem-points")
    screens["rewards"] = page.evaluate(SMALL_BUTTONS)
    page.click("[data-reward='water']")
    screens["confirm"] = page.evaluate(SMALL_BUTTONS)
    page.click("#btn-cancel")
    page.click("#staff-button")
    screens["pin"] = page.evaluate(SMALL_BUTTONS)
    enter_pin(page, STAFF_PIN)
    screens["staff"] = page.evaluate(SMALL_BUTTONS)
    page.click(".tab[data-tab='undo']")
    screens["undo"] = page.evaluate(SMALL_BUTTONS)
    assert all(not small for small in screens.values()), screens
