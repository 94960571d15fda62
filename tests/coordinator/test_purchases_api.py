"""POST /api/v1/purchases: the breakdown (tier discount, coupon, stored value, points),
exactly once per Idempotency-Key, and every bad input a clear 4xx that records nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from coordinator.app import create_app
from coordinator.services import idempotency
from coordinator.settings import CoordinatorSettings
from tests.coordinator.test_http_api import error, login

RULES = {
    "tiers": [
        {"name": "basic", "min_points_earned": 0, "multiplier_permille": 1500,
         "discount_permille": 50},
    ],
    "money": {"points_per_yuan": 2},
}  # fmt: skip
FAR = 10**13
Heads = dict[str, str]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    settings = CoordinatorSettings(
        dev_mode=True,
        database_url=f"sqlite:///{tmp_path / 'purchases.db'}",
        mqtt_enabled=False,
        housekeeping_interval_s=3600,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def coupon(api: TestClient, admin: Heads, coupon_id: str, **spec: object) -> None:
    body = {"coupon_id": coupon_id, "title": coupon_id, "valid_from_ms": 0, "valid_until_ms": FAR}
    ok(api.post("/api/v1/members/m1/coupons", json={**body, **spec}, headers=admin))


@pytest.fixture
def admin(api: TestClient) -> Heads:
    admin = login(api, "admin", "admin")
    for store in ("s1", "s2"):
        ok(api.post("/api/v1/stores", json={"store_id": store, "name": store}, headers=admin))
    ok(
        api.post(
            "/api/v1/members",
            json={"member_id": "m1", "display_name": "A*", "home_store_id": "s1"},
            headers=admin,
        )
    )
    ok(api.post("/api/v1/members/m1/cards", json={"uid": "04A1B2C3"}, headers=admin))
    bundle = ok(api.post("/api/v1/rule-bundles", json={"rules": RULES}, headers=admin))
    ok(api.post(f"/api/v1/rule-bundles/{bundle['bundle_id']}/publish", json={}, headers=admin), 200)
    ok(
        api.post(
            "/api/v1/members/m1/stored-value/top-ups",
            json={"amount_fen": 100_000, "method": "wechat"},
            headers=admin,
        )
    )
    coupon(api, admin, "v20", kind="voucher", value=2_000, min_spend_fen=10_000)
    coupon(api, admin, "d15", kind="discount", value=150)
    coupon(api, admin, "trial", kind="trial")
    coupon(api, admin, "only-s2", kind="voucher", value=500, store_ids=["s2"])
    coupon(api, admin, "old", kind="voucher", value=500, valid_until_ms=1_000)
    return admin


def buy(api: TestClient, admin: Heads, body: dict[str, Any], key: str | None = None) -> Any:
    heads = {**admin, "Idempotency-Key": key or uuid.uuid4().hex}
    return api.post("/api/v1/purchases", json=body, headers=heads)


def state(api: TestClient, admin: Heads) -> tuple[Any, ...]:
    """Everything a purchase could change: stored value, points, coupons, event count."""
    value = ok(api.get("/api/v1/members/m1/stored-value", headers=admin), 200)
    balance = ok(api.get("/api/v1/members/m1/balance", headers=admin), 200)
    return value, balance["ledger"], len(balance["trail"])


LINES = [
    {"sku": "shake", "name": "Protein shake", "unit_fen": 5_000, "qty": 2},
    {"sku": "towel", "unit_fen": 3_000, "qty": 1},
]


def test_a_stored_value_purchase_with_a_voucher_happens_once(api: TestClient, admin: Heads) -> None:
    body = {"member_id": "m1", "store_id": "s1", "lines": LINES, "coupon_id": "v20",
            "method": "stored_value"}  # fmt: skip
    first = buy(api, admin, body, key="order-1")
    got = ok(first)
    # 13,000 list; 5 % tier discount 650; voucher 2,000 off (min spend 10,000 reached).
    assert (got["list_fen"], got["tier_discount_fen"], got["coupon_off_fen"]) == (
        13_000,
        650,
        2_000,
    )
    assert (got["total_fen"], got["stored_value_charged_fen"], got["due_fen"]) == (
        10_350,
        10_350,
        0,
    )
    assert got["points_earned"] == 103 * 2 * 1500 // 1000 == 309
    assert got["stored_value_after_fen"] == 100_000 - 10_350
    assert got["coupon_kind"] == "voucher" and len(got["event_ids"]) == 3
    before = state(api, admin)
    again = buy(api, admin, body, key="order-1")
    assert ok(again) == got and again.headers["Idempotent-Replayed"] == "true"
    assert state(api, admin) == before  # nothing recorded twice
    value, ledger, _ = before
    assert value["available_fen"] == 89_650 and ledger["points_available"] == 309
    assert [c["redeem_count"] for c in ledger["coupons"] if c["coupon_id"] == "v20"] == [1]

    other = buy(api, admin, {**body, "coupon_id": None}, key="order-1")
    assert other.status_code == 422 and error(other)["code"] == "idempotency_key_reused"
    assert state(api, admin) == before


def test_a_retry_while_the_first_is_running_is_a_409(api: TestClient, admin: Heads) -> None:
    body = {"member_id": "m1", "store_id": "s1", "total_fen": 1_000, "method": "cash"}
    coord = api.app.state.coordinator  # type: ignore[attr-defined]
    from coordinator.services.purchases import PurchaseIn

    fingerprint = idempotency.request_hash(PurchaseIn.model_validate(body).model_dump(mode="json"))
    now = coord.clock.wall_ms()
    assert idempotency.begin(coord, "purchases:admin", "slow", fingerprint, now) is None
    before = state(api, admin)
    r = buy(api, admin, body, key="slow")
    assert r.status_code == 409 and error(r)["code"] == "request_in_progress"
    assert state(api, admin) == before


def test_discount_by_card_and_a_free_trial(api: TestClient, admin: Heads) -> None:
    got = ok(buy(api, admin, {"card_uid": "04A1B2C3", "store_id": "s2", "total_fen": 10_000,
                              "coupon_id": "d15", "method": "cash"}))  # fmt: skip
    # 10,000 − 500 (tier) = 9,500; 150 ‰ off = 1,425; cash still due.
    assert (got["coupon_off_fen"], got["total_fen"], got["due_fen"]) == (1_425, 8_075, 8_075)
    assert got["stored_value_charged_fen"] == 0 and got["stored_value_after_fen"] is None
    assert got["points_earned"] == 80 * 2 * 1500 // 1000
    free = ok(buy(api, admin, {"member_id": "m1", "store_id": "s1", "total_fen": 6_000,
                               "coupon_id": "trial", "method": "stored_value"}))  # fmt: skip
    assert (free["total_fen"], free["stored_value_charged_fen"], free["points_earned"]) == (0, 0, 0)


GOOD = {"member_id": "m1", "store_id": "s1", "total_fen": 1_000, "method": "cash"}
BAD: list[tuple[dict[str, Any], int, str]] = [
    ({**GOOD, "total_fen": -1}, 422, "total_fen"),
    ({**GOOD, "total_fen": 0}, 422, "total_fen"),
    ({**GOOD, "total_fen": 10.5}, 422, "total_fen"),
    ({**GOOD, "total_fen": 10.0}, 422, "total_fen"),
    ({**GOOD, "total_fen": "1000"}, 422, "total_fen"),
    ({**GOOD, "total_fen": 500_001}, 422, "total_fen"),
    ({**GOOD, "method": "iou"}, 422, "method"),
    ({**GOOD, "total_fen": None, "lines": [{"sku": "x", "unit_fen": -5, "qty": 1}]}, 422, "lines"),
    ({**GOOD, "total_fen": None, "lines": [{"sku": "x", "unit_fen": 0, "qty": 3}]}, 422, "lines"),
    ({**GOOD, "lines": LINES}, 422, ""),
    ({**GOOD, "card_uid": "04A1B2C3"}, 422, ""),
    ({**GOOD, "coupon_id": "only-s2"}, 422, "coupon_id"),
    ({**GOOD, "coupon_id": "v20"}, 422, "coupon_id"),
    ({**GOOD, "coupon_id": "old"}, 422, "coupon_id"),
    ({**GOOD, "coupon_id": "nope"}, 404, "coupon_id"),
    ({**GOOD, "total_fen": 200_000, "method": "stored_value"}, 422, "amount_fen"),
    ({**GOOD, "member_id": "nobody"}, 404, "member_id"),
    ({**GOOD, "member_id": None, "card_uid": "04FFFFFF"}, 404, "card_uid"),
    ({**GOOD, "store_id": "s9"}, 404, "store_id"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD)
def test_bad_purchases_are_refused_and_change_nothing(
    api: TestClient, admin: Heads, body: dict[str, Any], status: int, field: str
) -> None:
    before = state(api, admin)
    r = buy(api, admin, {k: v for k, v in body.items() if v is not None}, key="k-bad")
    assert r.status_code == status, r.text
    assert field in (error(r)["field"] or "")
    assert state(api, admin) == before
    # Nothing was kept under the key: the corrected request runs with it.
    ok(buy(api, admin, GOOD, key="k-bad"))


def test_the_key_is_required_and_coupon_values_are_checked(api: TestClient, admin: Heads) -> None:
    r = api.post("/api/v1/purchases", json=GOOD, headers=admin)
    assert r.status_code == 422 and "Idempotency-Key" in (error(r)["field"] or "")
    for kind, value in (("discount", 1_000), ("discount", 0), ("voucher", 0)):
        r = api.post(
            "/api/v1/members/m1/coupons",
            json={"title": "x", "kind": kind, "value": value, "valid_from_ms": 0,
                  "valid_until_ms": FAR},
            headers=admin,
        )  # fmt: skip
        assert r.status_code == 422 and error(r)["code"] == "bad_coupon_value"
