"""Members' phones on the coordinator: registered with the personal link, at most a few per
member, pushed to kiosks in the member record, revoked by staff in one action."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from coordinator import schema
from shared import phonecode
from shared.events import CheckIn
from simulators.waiting import poll_until
from tests.coordinator.harness import Harness
from tests.shared.test_phonecode import device


def link_of(h: Harness, member_id: str) -> str:
    token: str = h.call("POST", f"/api/v1/members/{member_id}/page-link")["link_token"]
    return token


def register(h: Harness, link: str, public_key: str) -> Any:
    return h.client.post("/api/v1/member/devices", json={"link": link, "public_key": public_key})


def test_a_registered_phone_reaches_the_kiosk_and_a_revoked_one_is_refused(
    harness: Harness,
) -> None:
    h = harness
    h.add_store("s1")
    h.add_member("m1", name="Anna L.")
    kiosk = h.kiosk("k1", "s1")
    private, key = device("x")
    answer = register(h, link_of(h, "m1"), key.public_key)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["member_id"] == "m1" and body["code_ttl_s"] == phonecode.CODE_TTL_S
    device_id = body["device_id"]

    def pushed() -> tuple[Any, ...]:
        view = kiosk.view("m1")
        return view.record.devices if view is not None else ()

    assert kiosk.wait_for(lambda: [d.device_id for d in pushed()] == [device_id])
    (pushed_key,) = pushed()
    code = phonecode.sign_code(private, device_id, "m1", h.coord.clock.wall_ms())
    assert phonecode.verify_code(code, pushed(), h.coord.clock.wall_ms(), 30).member_id == "m1"

    revoked = h.call("POST", f"/api/v1/members/m1/devices/{device_id}/revoke")
    assert revoked["revoked_ms"] is not None and revoked["revoked_by"] == "admin"
    assert kiosk.wait_for(lambda: all(d.revoked_ms is not None for d in pushed()))
    assert pushed_key.public_key == pushed()[0].public_key
    again = h.call("POST", f"/api/v1/members/m1/devices/{device_id}/revoke", expect=409)
    assert again["error"]["code"] == "device_revoked"
    # The revoked key cannot come back, for this member or another.
    h.add_member("m2")
    for member_id in ("m1", "m2"):
        refused = register(h, link_of(h, member_id), key.public_key)
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "device_key_in_use"
    with h.coord.db.read() as conn:
        log = conn.execute(sa.select(schema.audit_log.c.action, schema.audit_log.c.actor)).all()
    assert ("device.register", "member:m1") in log and ("device.revoke", "admin") in log


def test_a_member_holds_at_most_a_few_phones(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_member("m1")
    link = link_of(h, "m1")
    keys = [device("x")[1] for _ in range(phonecode.MAX_DEVICES + 1)]
    ids = []
    for key in keys[:-1]:
        answer = register(h, link, key.public_key)
        assert answer.status_code == 200
        ids.append(answer.json()["device_id"])
    # The same key again is the same device (a page reloaded before it stored the answer).
    assert register(h, link, keys[0].public_key).json()["device_id"] == ids[0]
    full = register(h, link, keys[-1].public_key)
    assert full.status_code == 409 and full.json()["error"]["code"] == "too_many_devices"
    h.call("POST", f"/api/v1/members/m1/devices/{ids[1]}/revoke")
    assert register(h, link, keys[-1].public_key).status_code == 200
    listed = h.call("GET", "/api/v1/members/m1/devices")
    assert listed["active"] == phonecode.MAX_DEVICES and len(listed["items"]) == 4


def test_bad_registrations_are_refused(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_member("m1")
    link = link_of(h, "m1")
    assert register(h, "x" * 20, device("x")[1].public_key).status_code == 401
    short = register(h, link, "A" * 42)
    assert short.status_code == 422
    not_b64 = register(h, link, "!" * 43)
    assert not_b64.status_code == 422 and not_b64.json()["error"]["field"] == "public_key"
    h.call("POST", "/api/v1/members/m1/devices/dnope/revoke", expect=404)
    body = {"username": "v", "password": "viewer-pw-123", "role": "viewer", "store_id": None}
    h.call("POST", "/api/v1/users", json=body, expect=201)
    viewer = h.login("v", "viewer-pw-123")
    h.call("GET", "/api/v1/members/m1/devices", headers=viewer)
    h.call("POST", "/api/v1/members/m1/devices/dnope/revoke", headers=viewer, expect=403)


def test_one_phone_code_shown_at_two_kiosks_is_flagged_centrally(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_store("s2")
    h.add_member("m1", name="Anna L.")
    k1, k2 = h.kiosk("k1", "s1"), h.kiosk("k2", "s2")
    private, key = device("x")
    device_id = register(h, link_of(h, "m1"), key.public_key).json()["device_id"]
    for kiosk in (k1, k2):
        assert kiosk.wait_for(lambda kiosk=kiosk: kiosk.view("m1").record.devices != ())  # type: ignore[union-attr]
    # A screenshot of one code, shown at two stores: each kiosk alone accepts it offline (its
    # own nonce memory is empty), as the real QR path would, and records the credential.
    code = phonecode.sign_code(private, device_id, "m1", h.coord.clock.wall_ms())
    for kiosk in (k1, k2):
        view = kiosk.view("m1")
        assert view is not None
        claims = phonecode.verify_code(code, view.record.devices, h.coord.clock.wall_ms(), 30)
        kiosk.record("m1", CheckIn(points=10), claims.credential())
        kiosk.flush()
    assert k1.wait_acked() and k2.wait_acked()
    assert poll_until(lambda: any(c["kind"] == "qr_replay" for c in h.conflicts()))
    (replay,) = [c for c in h.conflicts() if c["kind"] == "qr_replay"]
    assert "k1" in replay["explanation"] and "k2" in replay["explanation"]
