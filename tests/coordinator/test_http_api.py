"""The HTTP API: machine-readable 4xx errors for bad input, authentication, roles and store
scoping on every kind of route."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from coordinator.app import create_app
from coordinator.settings import CoordinatorSettings
from tests.coordinator.harness import Harness


def error(response: object) -> dict[str, object]:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "field"}, body
    return body["error"]


def _api(path: Path) -> Iterator[TestClient]:
    settings = CoordinatorSettings(
        dev_mode=True,
        database_url=f"sqlite:///{path / 'api.db'}",
        mqtt_enabled=False,
        housekeeping_interval_s=3600,
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    """The API without a broker (mqtt_enabled=False): these tests are about HTTP."""
    yield from _api(tmp_path)


def login(client: TestClient, user: str, password: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", data={"username": user, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _users(api: TestClient) -> dict[str, dict[str, str]]:
    admin = login(api, "admin", "admin")
    for store in ("s1", "s2"):
        assert (
            api.post(
                "/api/v1/stores", json={"store_id": store, "name": store}, headers=admin
            ).status_code
            == 201
        )
    for name, role, store in (
        ("mgr1", "store_manager", "s1"),
        ("viewer", "viewer", None),
    ):
        r = api.post(
            "/api/v1/users",
            json={"username": name, "password": "password-123", "role": role, "store_id": store},
            headers=admin,
        )
        assert r.status_code == 201, r.text
    api.post(
        "/api/v1/members",
        json={"member_id": "m1", "display_name": "A*", "home_store_id": "s1"},
        headers=admin,
    )
    api.post(
        "/api/v1/members",
        json={"member_id": "m2", "display_name": "B*", "home_store_id": "s2"},
        headers=admin,
    )
    api.post("/api/v1/kiosks", json={"kiosk_id": "k1", "store_id": "s1"}, headers=admin)
    api.post("/api/v1/kiosks", json={"kiosk_id": "k2", "store_id": "s2"}, headers=admin)
    return {
        "admin": admin,
        "mgr1": login(api, "mgr1", "password-123"),
        "viewer": login(api, "viewer", "password-123"),
    }


@pytest.fixture
def users(api: TestClient) -> dict[str, dict[str, str]]:
    """Two stores, a store manager of s1, a viewer, members and kiosks in both stores."""
    return _users(api)


@pytest.fixture(scope="module")
def readonly_api(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    """One populated API shared by tests that only send requests that must fail."""
    for client in _api(tmp_path_factory.mktemp("api")):
        yield client, _users(client)


def test_authentication_is_required_and_checked(api: TestClient) -> None:
    r = api.get("/api/v1/members")
    assert r.status_code == 401 and error(r)["code"] == "not_authenticated"
    r = api.get("/api/v1/members", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401 and error(r)["code"] == "invalid_token"
    r = api.post("/api/v1/auth/token", data={"username": "admin", "password": "wrong"})
    assert r.status_code == 401 and error(r)["code"] == "bad_credentials"
    # A token signed with another key is refused too.
    from coordinator.security.auth import Principal, Role, issue_token

    forged = issue_token(
        "another-secret-key-0123", Principal("admin", Role.HQ_ADMIN, None), 10**13, 60
    )
    r = api.get("/api/v1/members", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
    assert api.get("/healthz").status_code == 200  # open
    assert "tapfleet_ingest_queue_depth" in api.get("/metrics").text  # open
    assert "/api/v1/conflicts/{conflict_id}/resolve" in api.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "field"),
    [
        (
            "POST",
            "/api/v1/stores",
            {"store_id": "bad id!", "name": "x"},
            422,
            "invalid_field",
            "store_id",
        ),
        (
            "POST",
            "/api/v1/stores",
            {"store_id": "s9", "name": "x", "timezone": "Mars/Base"},
            422,
            "unknown_timezone",
            "timezone",
        ),
        (
            "POST",
            "/api/v1/stores",
            {"store_id": "s1", "name": "again"},
            409,
            "store_exists",
            "store_id",
        ),
        (
            "POST",
            "/api/v1/stores",
            {"store_id": "s9", "name": "x", "color": "red"},
            422,
            "invalid_field",
            "color",
        ),
        (
            "POST",
            "/api/v1/kiosks",
            {"kiosk_id": "k9", "store_id": "nowhere"},
            404,
            "store_not_found",
            "store_id",
        ),
        ("POST", "/api/v1/members", {"display_name": ""}, 422, "invalid_field", "display_name"),
        (
            "POST",
            "/api/v1/members",
            {"display_name": "x", "lang": "fr"},
            422,
            "invalid_field",
            "lang",
        ),
        ("POST", "/api/v1/members/m1/cards", {"uid": "04a1"}, 422, "invalid_field", "uid"),
        (
            "POST",
            "/api/v1/members/nobody/cards",
            {"uid": "04A1B2C3"},
            404,
            "member_not_found",
            "member_id",
        ),
        (
            "POST",
            "/api/v1/cards/04A1B2C3/report-lost",
            {"reason": "lost"},
            404,
            "card_not_found",
            "uid",
        ),
        (
            "POST",
            "/api/v1/members/m1/passes",
            {
                "kind": "punch",
                "name": "x",
                "valid_from_ms": 10,
                "valid_until_ms": 5,
                "sessions_total": 3,
            },
            422,
            "bad_validity",
            "valid_until_ms",
        ),
        (
            "POST",
            "/api/v1/members/m1/passes",
            {"kind": "forever", "name": "x", "valid_from_ms": 1, "valid_until_ms": 5},
            422,
            "invalid_field",
            "kind",
        ),
        (
            "POST",
            "/api/v1/members/m1/passes",
            {"kind": "punch", "name": "x", "valid_from_ms": 1, "valid_until_ms": 5},
            422,
            "no_sessions",
            "sessions_total",
        ),
        ("POST", "/api/v1/members/m1/passes/p404/freeze", None, 404, "pass_not_found", "pass_id"),
        (
            "POST",
            "/api/v1/campaigns",
            {
                "coupon": {"title": "x", "kind": "trial", "valid_from_ms": 1, "valid_until_ms": 9},
                "segment": {},
            },
            422,
            "empty_segment",
            "segment",
        ),
        (
            "POST",
            "/api/v1/rule-bundles",
            {"rules": {"points_per_checkin": -1}},
            422,
            "invalid_field",
            "rules.points_per_checkin",
        ),
        ("POST", "/api/v1/rule-bundles/999/publish", {}, 404, "rule_bundle_not_found", "bundle_id"),
        (
            "POST",
            "/api/v1/conflicts/cfnope/resolve",
            {"note": "hello"},
            404,
            "conflict_not_found",
            "conflict_id",
        ),
        ("POST", "/api/v1/conflicts/cfnope/resolve", {"note": ""}, 422, "invalid_field", "note"),
        ("GET", "/api/v1/events?limit=0", None, 422, "invalid_field", "limit"),
        ("GET", "/api/v1/events?after_id=abc", None, 422, "invalid_field", "after_id"),
        ("GET", "/api/v1/members/m1/balance?trail=maybe", None, 422, "invalid_field", "trail"),
        ("GET", "/api/v1/nothing-here", None, 404, "not_found", None),
        ("DELETE", "/api/v1/stores", None, 405, "method_not_allowed", None),
    ],
)
def test_bad_input_gets_a_machine_readable_4xx(
    readonly_api: tuple[TestClient, dict[str, dict[str, str]]],
    method: str,
    path: str,
    body: object,
    status: int,
    code: str,
    field: str | None,
) -> None:
    api, users = readonly_api
    r = api.request(method, path, json=body, headers=users["admin"])
    assert r.status_code == status, r.text
    err = error(r)
    assert err["code"] == code
    assert err["field"] == field
    assert isinstance(err["message"], str) and err["message"]


def test_malformed_json_body_is_a_422(
    readonly_api: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    api, users = readonly_api
    r = api.post(
        "/api/v1/stores",
        content=b'{"store_id": ',
        headers={**users["admin"], "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and error(r)["code"] == "invalid_json"


def test_viewer_is_read_only(readonly_api: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    api, users = readonly_api
    viewer = users["viewer"]
    assert api.get("/api/v1/members", headers=viewer).status_code == 200
    assert api.get("/api/v1/kiosks", headers=viewer).status_code == 200
    for method, path, body in (
        ("POST", "/api/v1/members", {"display_name": "x"}),
        ("PATCH", "/api/v1/members/m1", {"status": "suspended"}),
        ("POST", "/api/v1/members/m1/cards", {"uid": "04A1B2C3"}),
        ("POST", "/api/v1/rule-bundles", {}),
        ("POST", "/api/v1/kiosks", {"kiosk_id": "kx", "store_id": "s1"}),
        ("POST", "/api/v1/stores", {"store_id": "s3", "name": "x"}),
    ):
        r = api.request(method, path, json=body, headers=viewer)
        assert r.status_code == 403, (path, r.text)
        assert error(r)["code"] in ("read_only", "admin_only")


def test_store_manager_is_limited_to_their_store(
    api: TestClient, users: dict[str, dict[str, str]]
) -> None:
    mgr = users["mgr1"]
    assert [s["store_id"] for s in api.get("/api/v1/stores", headers=mgr).json()] == ["s1"]
    assert [k["kiosk_id"] for k in api.get("/api/v1/kiosks", headers=mgr).json()] == ["k1"]
    assert [m["member_id"] for m in api.get("/api/v1/members", headers=mgr).json()["items"]] == [
        "m1"
    ]
    forbidden = [
        ("GET", "/api/v1/stores/s2", None),
        ("GET", "/api/v1/kiosks/k2", None),
        ("GET", "/api/v1/kiosks?store_id=s2", None),
        ("GET", "/api/v1/members/m2", None),
        ("GET", "/api/v1/members/m2/balance", None),
        ("PATCH", "/api/v1/members/m2", {"lang": "en"}),
        ("POST", "/api/v1/members", {"display_name": "x", "home_store_id": "s2"}),
        ("POST", "/api/v1/kiosks", {"kiosk_id": "k9", "store_id": "s2"}),
        ("GET", "/api/v1/events?store_id=s2", None),
        ("GET", "/api/v1/rule-bundles/current?store_id=s2", None),
        ("POST", "/api/v1/kiosks/k1/revoke", None),
        ("POST", "/api/v1/qr-keys/rotate", None),
        ("GET", "/api/v1/users", None),
    ]
    for method, path, body in forbidden:
        r = api.request(method, path, json=body, headers=mgr)
        assert r.status_code == 403, (method, path, r.text)
        assert error(r)["code"] in ("store_forbidden", "admin_only")
    # Their own store works, and what they sell is scoped to it.
    assert (
        api.post(
            "/api/v1/kiosks", json={"kiosk_id": "k3", "store_id": "s1"}, headers=mgr
        ).status_code
        == 201
    )
    created = api.post("/api/v1/members", json={"display_name": "C*"}, headers=mgr)
    assert created.status_code == 201 and created.json()["home_store_id"] == "s1"
    chain_pass = {
        "kind": "time",
        "name": "Month",
        "valid_from_ms": 1,
        "valid_until_ms": 10**12 * 2,
    }
    r = api.post("/api/v1/members/m1/passes", json=chain_pass, headers=mgr)
    assert r.status_code == 422 and error(r)["code"] == "store_scope_required"
    r = api.post("/api/v1/members/m1/passes", json={**chain_pass, "store_ids": ["s1"]}, headers=mgr)
    assert r.status_code == 201, r.text
    draft = api.post("/api/v1/rule-bundles", json={"store_ids": ["s1"]}, headers=mgr)
    assert draft.status_code == 201
    r = api.post(
        f"/api/v1/rule-bundles/{draft.json()['bundle_id']}/publish",
        json={"store_ids": ["s1", "s2"]},
        headers=mgr,
    )
    assert r.status_code == 422 and error(r)["code"] == "store_scope_required"
    assert api.get("/api/v1/events", headers=mgr).status_code == 200


def test_cards_bind_lose_and_replace(api: TestClient, users: dict[str, dict[str, str]]) -> None:
    admin = users["admin"]
    assert (
        api.post("/api/v1/members/m1/cards", json={"uid": "04A1B2C3"}, headers=admin).status_code
        == 201
    )
    r = api.post("/api/v1/members/m2/cards", json={"uid": "04A1B2C3"}, headers=admin)
    assert r.status_code == 409 and error(r)["code"] == "card_in_use"
    lost = api.post("/api/v1/cards/04A1B2C3/report-lost", json={"reason": "stolen"}, headers=admin)
    assert lost.status_code == 200 and lost.json()["deny_version"] == 1
    r = api.post("/api/v1/cards/04A1B2C3/report-lost", json={}, headers=admin)
    assert r.status_code == 409 and error(r)["code"] == "card_not_active"
    replaced = api.post(
        "/api/v1/cards/04A1B2C3/replace", json={"new_uid": "04A1B2C4"}, headers=admin
    )
    assert replaced.status_code == 200 and replaced.json()["deny_version"] is None
    member = api.get("/api/v1/members/m1", headers=admin).json()
    assert {c["uid"]: c["status"] for c in member["cards"]} == {
        "04A1B2C3": "stolen",
        "04A1B2C4": "active",
    }
    audit_events = api.get("/api/v1/events", headers=admin).json()
    assert audit_events["items"] == []  # card changes are registry changes, not ledger events


def test_campaign_issues_to_a_segment(
    api: TestClient, users: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    admin = users["admin"]
    body = {
        "coupon": {
            "title": "Free trial",
            "kind": "trial",
            "valid_from_ms": 1,
            "valid_until_ms": 2 * 10**12,
        },
        "segment": {"home_store_id": "s2"},
    }
    r = api.post("/api/v1/campaigns", json=body, headers=admin)
    assert r.status_code == 201 and r.json()["member_ids"] == ["m2"]
    balance = api.get("/api/v1/members/m2/balance", headers=admin).json()
    assert [c["title"] for c in balance["ledger"]["coupons"]] == ["Free trial"]
    assert balance["trail"][0]["kind"] == "coupon_issue" and balance["trail"][0]["source"] == "hq"
    events = api.get("/api/v1/events", params={"member_id": "m2"}, headers=admin).json()
    assert [e["kind"] for e in events["items"]] == ["coupon_issue"]


def test_pass_freeze_and_extend_are_hq_events(
    api: TestClient, users: dict[str, dict[str, str]]
) -> None:
    admin = users["admin"]
    sold = api.post(
        "/api/v1/members/m1/passes",
        json={
            "pass_id": "p1",
            "kind": "punch",
            "name": "10x",
            "valid_from_ms": 1,
            "valid_until_ms": 10**12,
            "sessions_total": 10,
        },
        headers=admin,
    )
    assert sold.status_code == 201
    frozen = api.post("/api/v1/members/m1/passes/p1/freeze", headers=admin).json()
    assert frozen["pass"]["frozen"] is True
    extended = api.post(
        "/api/v1/members/m1/passes/p1/extend",
        json={"valid_until_ms": 2 * 10**12, "sessions_total": 12},
        headers=admin,
    ).json()
    assert (
        extended["pass"]["valid_until_ms"] == 2 * 10**12
        and extended["pass"]["sessions_total"] == 12
    )
    r = api.post("/api/v1/members/m1/passes/p1/extend", json={}, headers=admin)
    assert r.status_code == 422 and error(r)["code"] == "nothing_to_change"
    kinds = [
        e["kind"]
        for e in api.get("/api/v1/events", params={"source": "hq"}, headers=admin).json()["items"]
    ]
    assert kinds == ["pass_issue", "pass_update", "pass_update"]
    # Paging: one at a time.
    first = api.get("/api/v1/events", params={"limit": 1}, headers=admin).json()
    second = api.get(
        "/api/v1/events", params={"limit": 1, "after_id": first["next_after_id"]}, headers=admin
    ).json()
    assert first["items"][0]["id"] < second["items"][0]["id"]


def test_settings_refuse_default_secrets_outside_dev_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="secret_key"):
        CoordinatorSettings(database_url="sqlite://")
    with pytest.raises(ValueError, match="admin_password"):
        CoordinatorSettings(secret_key="x" * 32)
    with pytest.raises(ValueError, match="Extra inputs"):
        CoordinatorSettings(dev_mode=True, not_a_setting=1)  # type: ignore[call-arg]
    ok = CoordinatorSettings(secret_key="x" * 32, admin_password="a long one")
    assert ok.dev_mode is False
    assert all(f.description for f in CoordinatorSettings.model_fields.values())


def test_health_reports_the_broker_honestly(harness: Harness) -> None:
    assert harness.client.get("/healthz").json()["mqtt"] is True
    harness.broker.stop()
    assert harness.client.get("/healthz").status_code in (200, 503)
    from simulators.waiting import poll_until

    assert poll_until(lambda: harness.client.get("/healthz").status_code == 503)
    assert harness.client.get("/healthz").json()["mqtt"] is False
    harness.broker.start()
    assert poll_until(lambda: harness.client.get("/healthz").status_code == 200, timeout_s=30)
