"""The member's phone card (``/m/{link}``) as a phone shows it: real Chromium at phone widths.

The code must scan from the screen: the screenshot of the page, as the browser drew it at
each common phone width, is decoded with zxing-cpp (the kiosk's own decoder) and the text
must verify as this member's token with the chain's public keys.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest
from playwright.sync_api import expect

from coordinator.downstream.member_records import load_records
from device.readers.qr import decode_frame
from shared import phonecode, qrtoken
from shared.model import DeviceKey, RuleBundle
from tests.dashboard.live import Live

pytestmark = pytest.mark.browser

PHONE_WIDTHS = (320, 360, 390, 430)
"""iPhone SE 1st gen / small Android, common Android, iPhone 12-15, large iPhones."""


def member_link(live: Live, member_id: str, name: str) -> dict[str, Any]:
    """A member with a personal phone-card link."""
    live.add_store("s1", "Store 1")
    live.add_member(member_id, name, "s1")
    link: dict[str, Any] = live.call("POST", f"/api/v1/members/{member_id}/page-link")
    return link


def screenshot_codes(page: Any) -> list[str]:
    """The QR texts zxing-cpp reads from what the page shows now (the visible viewport)."""
    png = page.screenshot(full_page=False)
    frame = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_COLOR)
    return decode_frame(frame, "zxing")


@pytest.mark.parametrize("width", PHONE_WIDTHS)
def test_the_code_fits_the_screen_and_decodes_from_a_screenshot(
    live: Live, page: Any, width: int
) -> None:
    link = member_link(live, "m1", "Anna L.")
    page.set_viewport_size({"width": width, "height": 640})
    page.goto(f"{live.url}{link['path']}")
    expect(page.locator("body")).to_have_attribute("data-code", "phone")
    svg = page.locator("#qr svg")
    assert svg.get_attribute("viewBox"), "the QR must scale with a viewBox, not a fixed size"
    assert svg.get_attribute("width") is None
    box = svg.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"clipped at {width}px: {box}"
    assert box["y"] + box["height"] <= 640, f"below the fold at {width}px: {box}"
    assert box["width"] >= 250, f"only {box['width']} CSS px wide at {width}px"
    assert "brightness" in page.locator("#brightness").inner_text()  # the browser is en-US

    codes = screenshot_codes(page)
    assert len(codes) == 1, f"zxing-cpp read {codes} at {width}px"
    claims = phonecode.verify_code(codes[0], devices_of(live, "m1"), live.coord.clock.wall_ms(), 30)
    assert claims.member_id == "m1"


def devices_of(live: Live, member_id: str) -> tuple[DeviceKey, ...]:
    """The device keys the coordinator pushes to kiosks for this member."""
    with live.coord.db.read() as conn:
        (record,) = load_records(conn, [member_id])
    return record.record.devices


def test_the_phone_registers_its_key_once_and_signs_codes_itself(live: Live, page: Any) -> None:
    link = member_link(live, "m1", "Anna L.")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live.url}{link['path']}")
    expect(page.locator("body")).to_have_attribute("data-code", "phone")
    first = screenshot_codes(page)
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-code", "phone")
    second = screenshot_codes(page)
    (device,) = devices_of(live, "m1")  # the reload kept the key: still one device
    now = live.coord.clock.wall_ms()
    for code in (*first, *second):
        assert phonecode.verify_code(code, (device,), now, 30).key_id == device.device_id
    assert first != second, "every code has its own nonce"
    listed = live.call("GET", "/api/v1/members/m1/devices")
    assert listed["active"] == 1 and listed["items"][0]["device_id"] == device.device_id


def test_without_ed25519_the_page_shows_coordinator_signed_tokens(live: Live, page: Any) -> None:
    link = member_link(live, "m1", "Anna L.")
    page.add_init_script(
        "const real = crypto.subtle.generateKey.bind(crypto.subtle);"
        "crypto.subtle.generateKey = (alg, ...rest) => (alg && alg.name === 'Ed25519')"
        "  ? Promise.reject(new DOMException('not supported', 'NotSupportedError'))"
        "  : real(alg, ...rest);"
    )
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{live.url}{link['path']}")
    page.wait_for_function("document.body.dataset.code === 'server'")
    (code,) = screenshot_codes(page)
    bundle = RuleBundle.model_validate(
        live.call("GET", "/api/v1/rule-bundles/current", store_id="s1")
    )
    claims = qrtoken.verify_token(code, bundle.qr_keys, live.coord.clock.wall_ms(), 30)
    assert claims.member_id == "m1"
    assert devices_of(live, "m1") == ()


def test_the_code_uses_the_smallest_symbol_the_token_allows(live: Live) -> None:
    import segno

    from coordinator.api.member_page import qr_svg

    link = member_link(live, "m-000123", "Anna L.")
    token = live.http.get("/api/v1/member/qr", params={"link": link["link_token"]}).json()
    text = token["token"]
    smallest = segno.make(text, error="l", boost_error=False)
    svg = qr_svg(text)
    side = smallest.symbol_size(border=4)[0]
    assert f'viewBox="0 0 {side} {side}"' in svg, "the page's code is larger than it needs"
    assert segno.make(text, error="m").symbol_size(border=4)[0] > side


def test_a_fourth_phone_is_told_why_it_shows_online_codes(live: Live, page: Any) -> None:
    from tests.shared.test_phonecode import device

    link = member_link(live, "m1", "Anna L.")
    for _ in range(phonecode.MAX_DEVICES):
        body = {"link": link["link_token"], "public_key": device("x")[1].public_key}
        assert live.http.post("/api/v1/member/devices", json=body).status_code == 200
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live.url}{link['path']}")
    expect(page.locator("#left")).to_contain_text("already has 3 phones")
    assert page.locator("body").get_attribute("data-code") == "server"
    (code,) = screenshot_codes(page)
    assert code.startswith("TF1.")


def test_a_removed_phone_stops_signing_and_says_so(live: Live, page: Any) -> None:
    link = member_link(live, "m1", "Anna L.")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live.url}{link['path']}")
    expect(page.locator("body")).to_have_attribute("data-code", "phone")
    (device,) = devices_of(live, "m1")
    live.call("POST", f"/api/v1/members/m1/devices/{device.device_id}/revoke")
    page.reload()
    expect(page.locator("#left")).to_contain_text("removed from the membership")
    assert page.locator("body").get_attribute("data-code") == "server"
    (code,) = screenshot_codes(page)
    assert code.startswith("TF1.")
    page.reload()  # remembered: no new key is made behind staff's back
    expect(page.locator("#left")).to_contain_text("removed from the membership")
    assert live.call("GET", "/api/v1/members/m1/devices")["active"] == 0


def test_the_front_desk_removes_a_lost_phone_in_one_action(live: Live, page: Any) -> None:
    from tests.dashboard.conftest import login
    from tests.shared.test_phonecode import device

    link = member_link(live, "m1", "Anna L.")
    body = {"link": link["link_token"], "public_key": device("x")[1].public_key}
    device_id = live.http.post("/api/v1/member/devices", json=body).json()["device_id"]
    login(page, live, "admin", "admin", "/dashboard/members/m1?lang=en")
    row = page.locator(f"#phones tr[data-device='{device_id}']")
    expect(row).to_have_attribute("data-status", "active")
    page.on("dialog", lambda dialog: dialog.accept())
    row.locator(".phone-remove-submit").click()
    expect(page.locator("#action-notice")).to_have_text(
        "Phone removed; every kiosk refuses its codes."
    )
    expect(page.locator(f"#phones tr[data-device='{device_id}']")).to_have_attribute(
        "data-status", "removed"
    )
    (pushed,) = devices_of(live, "m1")
    assert pushed.revoked_ms is not None
