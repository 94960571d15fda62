"""Dashboard sessions without a browser: tampering, expiry, disabled users, open redirects,
and the plain-HTTP warning."""

from __future__ import annotations

from pathlib import Path

from coordinator.security import page_sessions as session
from coordinator.security.auth import Principal, Role, sign
from tests.dashboard.ingest_feed import api_without_broker

SECRET = "0123456789abcdef-secret"


def test_session_values_are_signed_typed_and_expire() -> None:
    admin = Principal("anna", Role.HQ_ADMIN, None)
    value = session.issue(SECRET, admin, now_ms=1_000, ttl_s=60)
    parsed = session.parse(SECRET, value, now_ms=2_000)
    assert parsed is not None and parsed.principal == admin and len(parsed.csrf) >= 20
    assert session.parse(SECRET, value, now_ms=61_001) is None  # expired
    assert session.parse("another-secret-0123456", value, now_ms=2_000) is None
    body, mac = value.split(".")
    assert session.parse(SECRET, body[:-2] + "xx." + mac, now_ms=2_000) is None
    # An API bearer token is not a session, and a session without a CSRF value is refused.
    api_token = sign(SECRET, {"sub": "anna", "role": "hq_admin", "exp": 10**13, "typ": "api"})
    assert session.parse(SECRET, api_token, now_ms=2_000) is None
    no_csrf = sign(SECRET, {"sub": "anna", "role": "hq_admin", "exp": 10**13, "typ": "session"})
    assert session.parse(SECRET, no_csrf, now_ms=2_000) is None


def test_disabled_user_loses_the_session_and_next_never_leaves_the_dashboard(
    tmp_path: Path,
) -> None:
    with api_without_broker(tmp_path) as api:
        client = api.client
        api.call(
            "POST",
            "/api/v1/users",
            json={"username": "bob", "password": "password-123", "role": "viewer"},
            expect=201,
        )
        for target in ("https://evil.example/", "//evil.example/x", "/api/v1/users"):
            r = client.post(
                "/dashboard/login",
                data={"username": "bob", "password": "password-123", "next": target},
                follow_redirects=False,
            )
            assert r.status_code == 303 and r.headers["location"] == "/dashboard/fleet", target
        # TestClient speaks http://testserver: the Secure cookie would be dropped by a
        # browser there, and the login form says so.
        assert client.get("/dashboard/login").status_code == 200
        assert 'id="login-insecure"' in client.get("/dashboard/login").text
        cookie = r.cookies.get(session.COOKIE)
        assert cookie
        client.cookies.set(session.COOKIE, cookie)
        assert client.get("/api/v1/fleet").status_code == 200
        from coordinator import schema

        with api.coord.db.write() as conn:
            conn.execute(
                schema.users.update().where(schema.users.c.username == "bob").values(disabled=True)
            )
        assert client.get("/api/v1/fleet").status_code == 401
        r = client.get("/dashboard/fleet", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/dashboard/login")
