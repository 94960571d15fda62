"""``POST /api/v1/members/{id}/points``: HQ grants points as an audited adjustment event.

Added for the demo's opening balances; exercised here on the real app and SQLite ledger
(MQTT off: nothing is pushed anywhere in these tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from coordinator.app import create_app
from coordinator.settings import CoordinatorSettings


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    """The coordinator's API on a fresh SQLite ledger, with two stores and two members."""
    settings = CoordinatorSettings(
        dev_mode=True, database_url=f"sqlite:///{tmp_path / 'ledger.db'}", mqtt_enabled=False
    )
    with TestClient(create_app(settings)) as client:
        login(client, "admin", "admin")
        for store in ("s1", "s2"):
            client.post("/api/v1/stores", json={"store_id": store, "name": store})
            member = {"member_id": f"m-{store}", "display_name": "李*华", "home_store_id": store}
            client.post("/api/v1/members", json=member)
        for user, role, store in (("mgr1", "store_manager", "s1"), ("watcher", "viewer", None)):
            client.post(
                "/api/v1/users",
                json={"username": user, "password": "password-1", "role": role, "store_id": store},
            )
        yield client


def login(client: TestClient, username: str, password: str) -> None:
    """Send the user's bearer token from now on."""
    answer = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"


def test_a_grant_is_an_audited_adjustment_in_the_balance_trail(api: TestClient) -> None:
    answer = api.post("/api/v1/members/m-s1/points", json={"points": 300, "reason": "opening"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["points_available"] == 300
    balance = api.get("/api/v1/members/m-s1/balance").json()
    assert balance["ledger"]["points_available"] == 300
    assert balance["trail_matches_ledger"] is True
    [step] = balance["trail"]
    assert step["kind"] == "adjustment" and step["source"] == "hq"
    assert step["body"]["staff_user"] == "admin" and step["body"]["reason"] == "opening"
    assert step["event_id"] == answer.json()["event_id"]


def test_store_managers_grant_only_in_their_store_and_viewers_not_at_all(
    api: TestClient,
) -> None:
    login(api, "mgr1", "password-1")
    gift = {"points": 5, "reason": "goodwill"}
    assert api.post("/api/v1/members/m-s1/points", json=gift).status_code == 201
    refused = api.post("/api/v1/members/m-s2/points", json=gift)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "store_forbidden"
    login(api, "watcher", "password-1")
    refused = api.post("/api/v1/members/m-s1/points", json=gift)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "read_only"


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/api/v1/members/m-s1/points", {"points": 0, "reason": "none"}, 422, "points"),
        ("/api/v1/members/m-s1/points", {"points": -5, "reason": "take"}, 422, "points"),
        ("/api/v1/members/m-s1/points", {"points": 5}, 422, "reason"),
        ("/api/v1/members/m-s1/points", {"points": 5, "reason": "x", "extra": 1}, 422, "reason"),
        ("/api/v1/members/nobody/points", {"points": 5, "reason": "gift"}, 404, "member_id"),
    ],
)
def test_bad_grants_are_refused_and_change_nothing(
    api: TestClient, path: str, body: dict[str, object], status: int, field: str
) -> None:
    answer = api.post(path, json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["field"] == field
    assert api.get("/api/v1/members/m-s1/balance").json()["ledger"]["points_available"] == 0
