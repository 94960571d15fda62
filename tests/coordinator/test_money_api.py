"""Stored value over HTTP: top-ups with the rule's bonus, the cap across stores, refunds of
principal only by HQ, and every bad input a clear 4xx that records nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from coordinator.app import create_app
from coordinator.settings import CoordinatorSettings
from tests.coordinator.test_http_api import error, login

RULES = {
    "money": {
        "topup_tiers": [
            {"min_paid_fen": 100_000, "bonus_fen": 10_000, "bonus_expiry_days": 90},
            {"min_paid_fen": 200_000, "bonus_fen": 30_000},
        ],
        "member_cap_fen": 300_000,
        "max_topup_fen": 250_000,
    }
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    settings = CoordinatorSettings(
        dev_mode=True,
        database_url=f"sqlite:///{tmp_path / 'money.db'}",
        mqtt_enabled=False,
        housekeeping_interval_s=3600,
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def heads(api: TestClient) -> dict[str, dict[str, str]]:
    admin = login(api, "admin", "admin")
    for store in ("s1", "s2"):
        r = api.post("/api/v1/stores", json={"store_id": store, "name": store}, headers=admin)
        assert r.status_code == 201, r.text
    r = api.post(
        "/api/v1/users",
        json={"username": "mgr1", "password": "password-123", "role": "store_manager",
              "store_id": "s1"},
        headers=admin,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = api.post(
        "/api/v1/members",
        json={"member_id": "m1", "display_name": "A*", "home_store_id": "s1"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    r = api.post("/api/v1/rule-bundles", json={"rules": RULES}, headers=admin)
    assert r.status_code == 201, r.text
    r = api.post(f"/api/v1/rule-bundles/{r.json()['bundle_id']}/publish", json={}, headers=admin)
    assert r.status_code == 200, r.text
    return {"admin": admin, "mgr1": login(api, "mgr1", "password-123")}


def balance(api: TestClient, heads: dict[str, dict[str, str]]) -> dict[str, Any]:
    r = api.get("/api/v1/members/m1/stored-value", headers=heads["admin"])
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_top_up_gives_the_tier_bonus_and_refund_returns_principal_only(
    api: TestClient, heads: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    r = api.post(
        "/api/v1/members/m1/stored-value/top-ups",
        json={"amount_fen": 100_000, "method": "wechat", "store_id": "s1"},
        headers=heads["mgr1"],
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["principal_fen"], body["bonus_fen"], body["bonus_added_fen"]) == (
        100_000,
        10_000,
        10_000,
    )
    assert body["bonus_expires_ms"] is not None and body["available_fen"] == 110_000
    # Another store tops up the same member: the cap counts principal across stores.
    r = api.post(
        "/api/v1/members/m1/stored-value/top-ups",
        json={"amount_fen": 200_000, "method": "alipay", "store_id": "s2"},
        headers=heads["admin"],
    )
    assert r.status_code == 201, r.text
    assert r.json()["bonus_added_fen"] == 30_000 and r.json()["principal_fen"] == 300_000
    over = api.post(
        "/api/v1/members/m1/stored-value/top-ups",
        json={"amount_fen": 1, "method": "cash"},
        headers=heads["admin"],
    )
    assert over.status_code == 422
    assert error(over)["code"] == "over_member_cap" and error(over)["field"] == "amount_fen"

    # A store manager may not refund; HQ may refund principal, never bonus.
    r = api.post(
        "/api/v1/members/m1/stored-value/refunds",
        json={"amount_fen": 1_000, "method": "cash", "reason": "moving away"},
        headers=heads["mgr1"],
    )
    assert r.status_code == 403
    too_much = api.post(
        "/api/v1/members/m1/stored-value/refunds",
        json={"amount_fen": 300_001, "method": "cash", "reason": "moving away"},
        headers=heads["admin"],
    )
    assert too_much.status_code == 422 and error(too_much)["code"] == "refund_over_principal"
    r = api.post(
        "/api/v1/members/m1/stored-value/refunds",
        json={"amount_fen": 300_000, "method": "card", "reason": "moving away"},
        headers=heads["admin"],
    )
    assert r.status_code == 201, r.text
    after = balance(api, heads)
    assert (after["principal_fen"], after["bonus_fen"], after["refunded_fen"]) == (
        0,
        40_000,
        300_000,
    )
    with sqlite3.connect(tmp_path / "money.db") as db:
        actions = [
            (actor, action)
            for actor, action in db.execute("SELECT actor, action FROM audit_log ORDER BY id")
            if action.startswith("stored_value.")
        ]
    assert actions == [
        ("mgr1", "stored_value.top_up"),
        ("admin", "stored_value.top_up"),
        ("admin", "stored_value.refund"),
    ]


BAD_TOP_UPS = [
    ({"amount_fen": -100, "method": "cash"}, "amount_fen"),
    ({"amount_fen": 0, "method": "cash"}, "amount_fen"),
    ({"amount_fen": 100.5, "method": "cash"}, "amount_fen"),
    ({"amount_fen": 100.0, "method": "cash"}, "amount_fen"),
    ({"amount_fen": "100", "method": "cash"}, "amount_fen"),
    ({"amount_fen": 250_001, "method": "cash"}, "amount_fen"),
    ({"amount_fen": 100, "method": "bitcoin"}, "method"),
    ({"amount_fen": 100}, "method"),
    ({"amount_fen": 100, "method": "cash", "bonus_fen": 5}, "bonus_fen"),
]


@pytest.mark.parametrize(("body", "field"), BAD_TOP_UPS)
def test_bad_top_ups_are_a_422_and_change_nothing(
    api: TestClient, heads: dict[str, dict[str, str]], body: dict[str, object], field: str
) -> None:
    before = balance(api, heads)
    r = api.post("/api/v1/members/m1/stored-value/top-ups", json=body, headers=heads["admin"])
    assert r.status_code == 422, r.text
    assert field in (error(r)["field"] or "")
    assert balance(api, heads) == before


def test_unknown_member_store_and_other_stores_are_refused(
    api: TestClient, heads: dict[str, dict[str, str]]
) -> None:
    ok = {"amount_fen": 100, "method": "cash"}
    r = api.post("/api/v1/members/nobody/stored-value/top-ups", json=ok, headers=heads["admin"])
    assert r.status_code == 404
    r = api.post(
        "/api/v1/members/m1/stored-value/top-ups",
        json={**ok, "store_id": "s9"},
        headers=heads["admin"],
    )
    assert r.status_code == 404
    r = api.post(
        "/api/v1/members/m1/stored-value/top-ups",
        json={**ok, "store_id": "s2"},
        headers=heads["mgr1"],
    )
    assert r.status_code == 403
    bad_refund = api.post(
        "/api/v1/members/m1/stored-value/refunds",
        json={"amount_fen": 0, "method": "cash", "reason": "x"},
        headers=heads["admin"],
    )
    assert bad_refund.status_code == 422
    assert balance(api, heads)["topped_up_fen"] == 0


def test_bonus_expires_centrally_with_an_event(
    api: TestClient, heads: dict[str, dict[str, str]]
) -> None:
    from coordinator.ledger import housekeeping

    r = api.post(
        "/api/v1/members/m1/stored-value/top-ups",
        json={"amount_fen": 100_000, "method": "cash"},
        headers=heads["admin"],
    )
    expires = r.json()["bonus_expires_ms"]
    coord = api.app.state.coordinator  # type: ignore[attr-defined]
    report = housekeeping.run_once(coord.db, coord.recorder, coord.rules, expires - 1, "")
    assert report.lots_expired == 0
    report = housekeeping.run_once(coord.db, coord.recorder, coord.rules, expires, "")
    assert report.lots_expired == 1
    after = balance(api, heads)
    assert (after["bonus_expired_fen"], after["principal_fen"]) == (10_000, 100_000)
    trail = api.get("/api/v1/members/m1/balance", headers=heads["admin"]).json()["trail"]
    assert [step["kind"] for step in trail][-1] == "sv_bonus_expire"
    # Nothing is left to expire.
    again = housekeeping.run_once(coord.db, coord.recorder, coord.rules, expires + 1, "")
    assert again.lots_expired == 0
