"""Members on their own: self sign-up from a store's poster and self access by phone number.

Nothing leaks about who is a member, the registration gift follows the chain's rules, the
one-time code goes to the notifications outbox (the delivery hook), and a flood from one
address is refused with 429 and counted.
"""

from __future__ import annotations

from typing import Any

from coordinator.outbound import notify
from coordinator.runtime import SIGNUPS_PER_ADDRESS
from tests.coordinator.harness import Harness


def join(h: Harness, **body: Any) -> Any:
    values = {"store_id": "s1", "name": "王小明", "phone": "13800138000", "accept_terms": True}
    values.update(body)
    return h.client.post("/api/v1/join", json=values)


def counted(h: Harness, step: str, outcome: str) -> float:
    value: float = h.coord.metrics.self_service.labels(step, outcome)._value.get()
    return value


def codes_sent(h: Harness) -> list[dict[str, Any]]:
    with h.coord.db.read() as conn:
        return [n for n in notify.recent(conn) if n["kind"] == "self_access_code"]


def test_a_new_member_signs_up_and_gets_the_card_and_the_gift(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.publish_rules(
        rules={"signup_gift": {"title": "新会员礼", "kind": "voucher", "value": 1000,
                               "valid_days": 14, "home_store_only": True}}
    )  # fmt: skip
    answer = join(h)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "created" and body["gift"] is True
    member = h.call("GET", f"/api/v1/members/{body['member_id']}")
    assert member["display_name"] == "王*明" and member["full_name"] == "王小明"
    assert member["home_store_id"] == "s1" and member["phone"] == "13800138000"
    page = h.client.get(body["path"])
    assert page.status_code == 200 and "王*明" in page.text
    ledger = h.central(body["member_id"])
    (coupon,) = ledger.coupons
    assert (coupon.title, coupon.value, coupon.store_ids) == ("新会员礼", 1000, ("s1",))
    assert coupon.valid_until_ms - coupon.valid_from_ms == 14 * 86_400_000
    assert counted(h, "signup", "created") == 1


def test_without_a_gift_rule_no_coupon_is_issued(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    body = join(h, phone="+86 138-0013-8001").json()
    assert body["status"] == "created" and body["gift"] is False
    assert h.central(body["member_id"]).coupons == ()


def test_bad_sign_ups_are_refused_with_a_reason(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    no_terms = join(h, accept_terms=False)
    assert no_terms.status_code == 422
    assert no_terms.json()["error"]["code"] == "terms_not_accepted"
    bad_phone = join(h, phone="call me")
    assert bad_phone.status_code == 422 and bad_phone.json()["error"]["field"] == "phone"
    assert join(h, store_id="nowhere").status_code == 404
    assert counted(h, "signup", "terms_refused") == 1


def test_an_existing_phone_routes_to_self_access_and_leaks_nothing(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    member_id = join(h).json()["member_id"]
    again = join(h, name="Someone Else")
    assert again.status_code == 200
    assert again.json() == {"status": "verify_phone", "member_id": None, "path": None,
                            "gift": False}  # fmt: skip
    assert "王" not in again.text and member_id not in again.text
    (sent,) = codes_sent(h)
    assert sent["member_id"] == member_id and sent["payload"]["phone"] == "13800138000"
    code = sent["payload"]["code"]

    wrong = "000000" if code != "000000" else "111111"
    refused = h.client.post(
        "/api/v1/self-access/verify", json={"phone": "13800138000", "code": wrong}
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "code_wrong"
    granted = h.client.post(
        "/api/v1/self-access/verify", json={"phone": "138 0013 8000", "code": code}
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["member_id"] == member_id
    assert h.client.get(granted.json()["path"]).status_code == 200
    reused = h.client.post(
        "/api/v1/self-access/verify", json={"phone": "13800138000", "code": code}
    )
    assert reused.status_code == 403, "a code works once"
    assert counted(h, "access_verify", "wrong_code") == 2


def test_self_access_answers_the_same_for_anyone(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    join(h)
    known = h.client.post("/api/v1/self-access", json={"phone": "13800138000"})
    unknown = h.client.post("/api/v1/self-access", json={"phone": "13900139000"})
    assert known.status_code == unknown.status_code == 200
    assert known.json() == unknown.json() == {"status": "code_sent_if_member", "expires_in_s": 600}
    assert [n["payload"]["phone"] for n in codes_sent(h)] == ["13800138000"]


def test_a_flood_of_sign_ups_from_one_address_is_refused_and_counted(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    for n in range(SIGNUPS_PER_ADDRESS):
        assert join(h, phone=f"1380013{n:04d}").status_code == 200
    flood = join(h, phone="13800139999")
    assert flood.status_code == 429 and int(flood.headers["Retry-After"]) > 0
    assert flood.json()["error"]["code"] == "too_many_attempts"
    assert counted(h, "signup", "rate_limited") == 1
    # Guessing codes is limited the same way.
    for _ in range(SIGNUPS_PER_ADDRESS):
        h.client.post("/api/v1/self-access/verify", json={"phone": "13800130000", "code": "123456"})
    blocked = h.client.post(
        "/api/v1/self-access/verify", json={"phone": "13800130000", "code": "123456"}
    )
    assert blocked.status_code == 429


def test_a_number_staff_typed_with_spaces_is_the_same_number(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_member("m1", name="Anna L.", phone="138 0013-8000")
    answer = join(h, phone="13800138000").json()
    assert answer["status"] == "verify_phone"
    (sent,) = codes_sent(h)
    assert sent["member_id"] == "m1"
