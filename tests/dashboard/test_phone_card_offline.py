"""The phone card with no signal, end to end: a real coordinator, headless Chromium as the
phone, and a running kiosk (KioskApp: camera thread over the simulated MJPEG camera, real
OpenCV capture, zxing-cpp, the offline signature check and the SQLite ledger).

The phone loads its card online once (registers its device key, the service worker keeps
the page), loses its signal, and the page's clock runs past the old 60 s token validity
(Playwright's clock, not a sleep). What the phone's screen then shows is put in front of
the kiosk's camera: the check-in is accepted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import cv2
import numpy as np
import pytest

from coordinator.downstream.member_records import load_records
from device.readers.qr import decode_frame
from shared import phonecode
from shared.events import CheckIn
from shared.protocol import MemberUpdate
from simulators.camera.render import FRAME_SIZE
from simulators.camera.server import SimulatedCamera
from simulators.waiting import wait_until
from tests.dashboard.live import Live
from tests.dashboard.test_phone_card import screenshot_codes
from tests.kiosk.conftest import KioskFactory, kiosk_factory  # noqa: F401  (fixture)
from tests.kiosk.seed import ANNA

pytestmark = pytest.mark.browser

BEHIND_MS = 70_000
"""The phone's clock starts this far behind and is then run forward by as much: the page
lives through more than the old 60 s token validity while the test takes seconds."""


@contextmanager
def phone_page(browser: Any, locale: str = "en-US") -> Iterator[Any]:
    """A 390x844 phone page (no request routing: the service worker must see the network
    as the phone does); page JavaScript errors fail the test."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the phone card: {errors}"


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """An English phone."""
    with phone_page(browser) as page:
        yield page


def camera_frame(page: Any) -> np.ndarray:
    """The phone's code as the kiosk webcam sees it: the screen's QR area on a grey counter."""
    png = page.screenshot(full_page=False)
    shot = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_COLOR)
    box = page.locator("#qr svg").bounding_box()
    x, y, w, h = (int(box[k]) for k in ("x", "y", "width", "height"))
    qr = shot[y : y + h, x : x + w]
    width, height = FRAME_SIZE
    side = int(height * 0.8)
    qr = cv2.resize(qr, (side, side), interpolation=cv2.INTER_AREA)
    frame = np.full((height, width, 3), 120, dtype=np.uint8)
    top, left = (height - side) // 2, (width - side) // 2
    frame[top : top + side, left : left + side] = qr
    return frame


def test_offline_phone_shows_a_fresh_code_that_a_kiosk_accepts(
    live: Live,
    phone: Any,
    kiosk_factory: KioskFactory,  # noqa: F811
) -> None:
    live.add_store("s1", "Store 1")
    live.add_member(ANNA.member_id, ANNA.display_name, "s1")
    link = live.call("POST", f"/api/v1/members/{ANNA.member_id}/page-link")

    real_now = time.time_ns() // 1_000_000
    phone.clock.install(time=(real_now - BEHIND_MS) / 1000)  # Python: epoch seconds
    phone.goto(f"{live.url}{link['path']}")
    phone.wait_for_selector("body[data-code='phone'][data-offline-ready='1']")
    online_codes = screenshot_codes(phone)

    # The coordinator's record (what its pusher sends) reaches the offline kiosk.
    with SimulatedCamera(fps=10) as camera:
        kiosk = kiosk_factory(camera=camera.url)
        ledger = kiosk.app.ledger
        assert ledger is not None
        with live.coord.db.read() as conn:
            (record,) = load_records(conn, [ANNA.member_id])
        assert len(record.record.devices) == 1
        ledger.apply_member_update(
            MemberUpdate(store_id="s1", version=2, base_version=1, members=(record.record,))
        )

        # No signal: the page comes from the service worker, the code from the phone's key.
        phone.context.set_offline(True)
        response = phone.reload()
        assert response is not None and response.from_service_worker
        assert phone.evaluate("navigator.onLine") is False
        phone.wait_for_selector("body[data-code='phone']")
        offline_at = phone.evaluate("Date.now()")
        phone.clock.fast_forward(BEHIND_MS)
        phone.wait_for_function(
            f"document.querySelector('#qr svg') && Date.now() >= {offline_at + BEHIND_MS}"
        )
        phone.clock.run_for(phonecode.REFRESH_S * 1000 + 500)  # the next code is signed
        (code,) = screenshot_codes(phone)
        assert code not in online_codes
        claims = phonecode.verify_code(code, record.record.devices, time.time_ns() // 1_000_000, 30)
        assert claims.issued_ms >= offline_at + 60_000, "signed offline, past the old validity"

        scanner: Any = kiosk.app.qr_scanner
        assert scanner.wait_for_frames(1, 15)
        service: Any = kiosk.app.service
        frame = camera_frame(phone)
        assert decode_frame(frame) == [code], "the framed screen must hold the code"
        camera.scene.show([frame], seconds=10)
        wait_until(
            lambda: service.counters.accepted + service.counters.refused > 0,
            15,
            "the kiosk to read the phone",
        )
        assert service.counters.accepted == 1, ledger.recent_events(1)
        event = ledger.recent_events(1)[0].event
        assert event.kind == "checkin" and event.member_id == ANNA.member_id
        assert event.credential is not None and event.credential.qr_key_id == claims.key_id


def test_balances_at_a_glance_follow_the_browser_language_and_survive_offline(
    live: Live, browser: Any
) -> None:
    live.add_store("s1", "Store 1")
    live.add_member("m1", "Anna L.", "s1")
    kiosk = live.kiosk("k1", "s1")
    kiosk.record("m1", CheckIn(points=10))
    kiosk.flush()
    assert kiosk.wait_acked()
    now = live.coord.clock.wall_ms()
    pass_body = {
        "pass_id": "p1",
        "kind": "punch",
        "name": "Yoga 10",
        "valid_from_ms": now - 86_400_000,
        "valid_until_ms": now + 60 * 86_400_000,
        "sessions_total": 10,
    }
    live.call("POST", "/api/v1/members/m1/passes", json=pass_body, expect=201)
    coupon = {
        "coupon_id": "c1",
        "title": "Welcome",
        "kind": "voucher",
        "value": 2000,
        "store_ids": [],
        "valid_from_ms": now - 86_400_000,
        "valid_until_ms": now + 30 * 86_400_000,
    }
    live.call("POST", "/api/v1/members/m1/coupons", json=coupon, expect=201)
    live.call("POST", "/api/v1/members/m1/points", json={"points": 500, "reason": "opening"},
              expect=201)  # fmt: skip
    tiers = [{"min_paid_fen": 100_000, "bonus_fen": 10_000, "bonus_expiry_days": 20}]
    bundle = live.call(
        "POST", "/api/v1/rule-bundles", json={"rules": {"money": {"topup_tiers": tiers}}},
        expect=201,
    )  # fmt: skip
    live.call("POST", f"/api/v1/rule-bundles/{bundle['bundle_id']}/publish", json={})
    top_up = {"amount_fen": 123_456, "method": "cash", "store_id": "s1"}
    live.call("POST", "/api/v1/members/m1/stored-value/top-ups", json=top_up, expect=201)
    link = live.call("POST", "/api/v1/members/m1/page-link")

    def card_now() -> dict[str, Any]:
        answer: dict[str, Any] = live.http.get(
            "/api/v1/member/card", params={"link": link["link_token"]}
        ).json()
        return answer

    wait_until(lambda: card_now()["points"] == 510, 15, "the check-in to be folded")
    card = card_now()
    assert len(card["visits"]) == 1 and card["visits"][0]["store_name"] == "Store 1"
    to_next = card["tier"]["next_at"] - card["tier"]["earned"]

    with phone_page(browser, "zh-CN") as page:
        page.goto(f"{live.url}{link['path']}")
        page.wait_for_selector("body[data-balances='live'][data-offline-ready='1']")
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator("#b-points").inner_text() == "510"
        assert page.locator("#b-expiring").inner_text() == "30 天内无积分到期"
        assert (
            f"再积 {to_next} 分升级为{card['tier']['next_title_zh']}"
            in page.locator("#b-tier-next").inner_text()
        )
        passes = page.locator("#b-passes").inner_text()
        assert "Yoga 10" in passes and "剩余 10 次" in passes
        assert "¥20" in page.locator("#b-coupons").inner_text()
        assert page.locator("#b-stored").inner_text() == "¥1,334.56"
        assert page.locator("#b-stored-split").inner_text() == "本金 ¥1,234.56 · 赠送 ¥100.00"
        assert page.locator("#b-stored-expiring").inner_text().startswith("赠送金额 ¥100.00 将于")
        visits = page.locator("#b-visits").inner_text()
        assert "签到" in visits and "Store 1" in visits
        assert page.locator("#brightness").inner_text() == "☀ 请调高屏幕亮度"

        page.click("#lang-switch")  # switchable, and remembered
        assert page.locator("html").get_attribute("lang") == "en"
        assert "10 sessions left" in page.locator("#b-passes").inner_text()
        assert page.locator("#b-stored-split").inner_text() == "principal ¥1,234.56 · bonus ¥100.00"
        assert (
            page.locator("#b-stored-expiring").inner_text().startswith("bonus ¥100.00 expires by")
        )
        assert f"{to_next} more points to" in page.locator("#b-tier-next").inner_text()

        page.context.set_offline(True)
        page.reload()
        page.wait_for_selector("body[data-balances='cached']")
        assert page.locator("#b-points").inner_text() == "510"
        assert page.locator("#b-updated").is_visible()
        assert page.locator("#b-stored").inner_text() == "¥1,334.56"
        assert "Offline · last updated" in page.locator("#b-updated").inner_text()
        assert "Check-in" in page.locator("#b-visits").inner_text()
