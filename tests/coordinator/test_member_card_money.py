"""Stored value on the member's phone card: ``GET /api/v1/member/card`` shows what a spend
may take, the principal, the live bonus and the bonus that expires within 30 days, all in
integer fen from the member's folded ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from coordinator.app import create_app
from coordinator.settings import CoordinatorSettings
from tests.coordinator.test_http_api import login

RULES = {
    "money": {
        "topup_tiers": [
            {"min_paid_fen": 10_000, "bonus_fen": 1_000, "bonus_expiry_days": 20},
            {"min_paid_fen": 50_000, "bonus_fen": 8_000, "bonus_expiry_days": 90},
        ],
    }
}


@pytest.fixture
def api(tmp_path: Path, database: Any) -> Iterator[TestClient]:
    """The API without MQTT, on SQLite and PostgreSQL."""
    settings = CoordinatorSettings(
        dev_mode=True,
        database_url=f"sqlite:///{tmp_path / 'card_money.db'}",
        mqtt_enabled=False,
        housekeeping_interval_s=3600,
    )
    with TestClient(create_app(settings, database=database)) as client:
        yield client


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def test_the_card_shows_stored_value_and_the_bonus_expiring_within_30_days(
    api: TestClient,
) -> None:
    admin = login(api, "admin", "admin")
    ok(api.post("/api/v1/stores", json={"store_id": "s1", "name": "s1"}, headers=admin), 201)
    member = {"member_id": "m1", "display_name": "A*", "home_store_id": "s1"}
    ok(api.post("/api/v1/members", json=member, headers=admin), 201)
    bundle = ok(api.post("/api/v1/rule-bundles", json={"rules": RULES}, headers=admin), 201)
    ok(api.post(f"/api/v1/rule-bundles/{bundle['bundle_id']}/publish", json={}, headers=admin))
    link = ok(api.post("/api/v1/members/m1/page-link", headers=admin))["link_token"]

    def card() -> dict[str, Any]:
        return ok(api.get("/api/v1/member/card", params={"link": link}))  # type: ignore[no-any-return]

    assert card()["stored_value"] == {
        "available_fen": 0,
        "principal_fen": 0,
        "bonus_fen": 0,
        "bonus_expiring_fen": 0,
    }
    top_ups = "/api/v1/members/m1/stored-value/top-ups"
    for paid in (12_345, 60_000):  # a 20-day bonus and a 90-day one
        body = {"amount_fen": paid, "method": "cash", "store_id": "s1"}
        ok(api.post(top_ups, json=body, headers=admin), 201)

    shown = card()
    assert shown["stored_value"] == {
        "available_fen": 12_345 + 60_000 + 1_000 + 8_000,
        "principal_fen": 12_345 + 60_000,
        "bonus_fen": 1_000 + 8_000,
        "bonus_expiring_fen": 1_000,
    }
    # The card agrees with what the front desk sees for the same member.
    desk = ok(api.get("/api/v1/members/m1/stored-value", headers=admin))
    assert shown["stored_value"]["available_fen"] == desk["available_fen"]
    assert shown["stored_value"]["bonus_expiring_fen"] == desk["bonus_expiring_30d_fen"]
