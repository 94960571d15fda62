"""Password guessing is rate limited (API and dashboard login), /metrics can require a token,
and hostile input gets a 4xx with the error envelope — never a 500, never a changed database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.security.stack import Live, OffsetClock, live_coordinator


def login(live: Live, username: str, password: str) -> httpx.Response:
    """One API login attempt."""
    return live.http.post("/api/v1/auth/token", data={"username": username, "password": password})


def test_failed_logins_are_limited_per_user_and_address(tmp_path: Path) -> None:
    clock = OffsetClock()
    with live_coordinator(
        tmp_path,
        None,
        clock=clock,
        login_max_failures=3,
        login_max_failures_per_address=8,
        login_window_s=60,
    ) as live:
        live.add_user("viewer1", "viewer")
        for _ in range(3):
            assert login(live, "admin", "wrong").status_code == 401
        blocked = login(live, "admin", "admin")  # even the right password, while blocked
        assert blocked.status_code == 429
        assert blocked.json()["error"]["code"] == "too_many_attempts"
        assert 0 < int(blocked.headers["Retry-After"]) <= 60
        # The dashboard's login form shares the limit.
        page = live.http.post("/dashboard/login", data={"username": "ADMIN", "password": "x"})
        assert page.status_code == 429 and "Retry-After" in page.headers

        # Another user from the same address has their own count ...
        for _ in range(3):
            assert login(live, "viewer1", "wrong").status_code == 401
        assert login(live, "viewer1", "pw-viewer1-12345").status_code == 429
        # ... and the address as a whole has a cap (a password spray over many names).
        assert login(live, "nobody1", "wrong").status_code == 401
        assert login(live, "nobody2", "wrong").status_code == 401  # 8 failures now
        assert login(live, "nobody3", "wrong").status_code == 429

        clock.advance(61_000)  # the window has passed
        assert login(live, "admin", "admin").status_code == 200
        assert login(live, "viewer1", "pw-viewer1-12345").status_code == 200
        # A good login clears the user's own count (not the address's).
        for _ in range(2):
            assert login(live, "admin", "wrong").status_code == 401
        assert login(live, "admin", "admin").status_code == 200
        for _ in range(2):
            assert login(live, "admin", "wrong").status_code == 401
        assert login(live, "admin", "admin").status_code == 200


def test_metrics_can_require_a_token(tmp_path: Path) -> None:
    with live_coordinator(tmp_path, None, metrics_token="scrape-secret-12345") as live:
        assert live.http.get("/metrics").status_code == 401
        wrong = {"Authorization": "Bearer scrape-secret-00000"}
        assert live.http.get("/metrics", headers=wrong).status_code == 401
        assert live.http.get("/metrics", headers=live.admin).status_code == 401  # not an API token
        good = {"Authorization": "Bearer scrape-secret-12345"}
        r = live.http.get("/metrics", headers=good)
        assert r.status_code == 200 and "tapfleet_" in r.text


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A coordinator (HTTP only) with a store, a kiosk and a member."""
    with live_coordinator(tmp_path_factory.mktemp("input"), None) as live:
        live.add_store("s1")
        live.call("POST", "/api/v1/kiosks", json={"kiosk_id": "k1", "store_id": "s1"},
                  expect=201)  # fmt: skip
        live.add_member("m1")
        yield live


INJECTION = "x' OR '1'='1"
DEEP = "[" * 5000 + "]" * 5000  # JSON nested far deeper than any parser's comfort

HOSTILE: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", f"/api/v1/members/{INJECTION}", {}),
    ("GET", "/api/v1/members", {"params": {"after": INJECTION}}),
    ("GET", "/api/v1/events", {"params": {"source": "k1; DROP TABLE events"}}),
    ("GET", "/api/v1/events", {"params": {"kind": "checkin' --"}}),
    ("GET", "/api/v1/events", {"params": {"after_id": "1e309"}}),
    ("GET", "/api/v1/events", {"params": {"limit": str(2**70)}}),
    ("GET", "/api/v1/kiosks/..%2F..%2Fetc%2Fpasswd", {}),
    ("GET", "/api/v1/cards/zz", {}),
    ("GET", "/api/v1/rule-bundles/-1", {}),
    ("GET", "/api/v1/reports/..%2Fsecrets.csv", {}),
    ("GET", "/api/v1/conflicts", {"params": {"status": "open' OR 'x'='x"}}),
    ("POST", "/api/v1/stores", {"json": {"store_id": INJECTION, "name": "x"}}),
    ("POST", "/api/v1/stores", {"json": {"store_id": "s\x00x", "name": "x"}}),
    ("POST", "/api/v1/stores", {"json": {"store_id": "s9", "name": "x" * 100_000}}),
    ("POST", "/api/v1/stores", {"json": {"store_id": "s9", "name": "x", "admin": True}}),
    ("POST", "/api/v1/stores", {"content": DEEP}),
    ("POST", "/api/v1/stores", {"content": b"\xff\xfe\x00garbage"}),
    ("POST", "/api/v1/stores", {"json": ["s9", "x"]}),
    ("POST", "/api/v1/members", {"json": {"display_name": "x", "phone": "1; DROP"}}),
    ("POST", "/api/v1/members/m1/points", {"json": {"points": 10**30, "reason": "xxx"}}),
    ("POST", "/api/v1/members/m1/points", {"json": {"points": -5, "reason": "xxx"}}),
    ("POST", "/api/v1/members/m1/cards", {"json": {"uid": "04' OR 1=1"}}),
    ("POST", "/api/v1/users", {"json": {"username": "u1", "password": "short", "role": "root"}}),
    ("POST", "/api/v1/enroll", {"json": {"code": "x" * 10_000}}),
    ("POST", "/api/v1/enroll", {"json": {"code": INJECTION}}),
    ("POST", "/api/v1/qr-keys/rotate", {"json": {"announce_s": -1}}),
    ("POST", "/api/v1/auth/token", {"data": {"username": INJECTION, "password": INJECTION}}),
    ("GET", "/api/v1/member/qr", {"params": {"link": INJECTION * 3}}),
    ("GET", "/m/" + "x" * 5000, {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), HOSTILE, ids=[h[1][:40] for h in HOSTILE])
def test_hostile_input_is_a_4xx(api: Live, method: str, path: str, kwargs: dict[str, Any]) -> None:
    headers = dict(api.admin)
    if "content" in kwargs:
        headers["Content-Type"] = "application/json"
    r = api.http.request(method, path, headers=headers, **kwargs)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    if r.headers.get("content-type", "").startswith("application/json"):
        error = r.json()["error"]
        assert error["code"] and error["message"], error
    # Nothing was damaged or added behind the refusal.
    assert [s["store_id"] for s in api.call("GET", "/api/v1/stores")] == ["s1"]
    assert [m["member_id"] for m in api.call("GET", "/api/v1/members")["items"]] == ["m1"]


def test_injection_text_in_a_search_is_only_text(api: Live) -> None:
    """A search term is a bound parameter: SQL in it finds nothing instead of everything."""
    for q in ("' OR '1'='1", "x') OR 1=1 --", "m1'; DROP TABLE members; --"):
        assert api.call("GET", "/api/v1/members", q=q)["items"] == [], q
    assert [m["member_id"] for m in api.call("GET", "/api/v1/members", q="m1")["items"]] == ["m1"]
