"""Disabling an ops user revokes their bearer tokens and dashboard sessions at once, on a
coordinator served by uvicorn: the very next request is refused, not the one after expiry,
and enabling the user again does not bring the old credentials back."""

from __future__ import annotations

from pathlib import Path

import httpx
import sqlalchemy as sa

from coordinator import schema
from coordinator.security import page_sessions
from coordinator.security.auth import sign
from tests.security.stack import Live, live_coordinator


def _session_cookie(live: Live, username: str, password: str) -> str:
    """A dashboard session cookie from the login form."""
    r = live.http.post(
        "/dashboard/login",
        data={"username": username, "password": password},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    value = r.cookies.get(page_sessions.COOKIE)
    assert value
    return value


def _with_cookie(live: Live, value: str, path: str) -> httpx.Response:
    return live.http.get(
        path, headers={"Cookie": f"{page_sessions.COOKIE}={value}"}, follow_redirects=False
    )


def test_disabling_a_user_revokes_their_tokens_and_sessions_at_once(tmp_path: Path) -> None:
    with live_coordinator(tmp_path, None) as live:
        bob = live.add_user("bob", "viewer")
        cookie = _session_cookie(live, "bob", "pw-bob-12345")
        # A token signed before tokens carried their issue time (no "iat") is covered too.
        legacy = sign(
            live.coord.settings.secret_key.get_secret_value(),
            {"sub": "bob", "role": "viewer", "store": None, "exp": 10**13, "typ": "api"},
        )
        legacy_headers = {"Authorization": f"Bearer {legacy}"}
        assert live.http.get("/api/v1/auth/me", headers=bob).status_code == 200
        assert live.http.get("/api/v1/auth/me", headers=legacy_headers).status_code == 200
        assert _with_cookie(live, cookie, "/api/v1/fleet").status_code == 200
        assert _with_cookie(live, cookie, "/dashboard/fleet").status_code == 200

        out = live.call("POST", "/api/v1/users/bob/disable", expect=200)
        assert out["disabled"] is True and out["role"] == "viewer"

        for headers in (bob, legacy_headers):
            r = live.http.get("/api/v1/auth/me", headers=headers)
            assert r.status_code == 401 and r.json()["error"]["code"] == "token_revoked"
        assert _with_cookie(live, cookie, "/api/v1/fleet").status_code == 401
        page = _with_cookie(live, cookie, "/dashboard/fleet")
        assert page.status_code == 303 and page.headers["location"].startswith("/dashboard/login")
        login = {"username": "bob", "password": "pw-bob-12345"}
        assert live.http.post("/api/v1/auth/token", data=login).status_code == 401

        # Enabled again: the old credentials stay revoked, a new login works.
        assert live.call("POST", "/api/v1/users/bob/enable", expect=200)["disabled"] is False
        assert live.http.get("/api/v1/auth/me", headers=bob).status_code == 401
        assert _with_cookie(live, cookie, "/api/v1/fleet").status_code == 401
        fresh = live.login("bob", "pw-bob-12345")
        me = live.http.get("/api/v1/auth/me", headers=fresh)
        assert me.status_code == 200 and me.json()["username"] == "bob"

        # Both changes are audited with who made them.
        with live.coord.db.read() as conn:
            rows = conn.execute(
                sa.select(schema.audit_log.c.actor, schema.audit_log.c.action)
                .where(schema.audit_log.c.target == "bob")
                .order_by(schema.audit_log.c.id)
            ).all()
        assert [tuple(r) for r in rows][-2:] == [
            ("admin", "user.disable"),
            ("admin", "user.enable"),
        ]


def test_disable_refuses_self_unknown_users_and_non_admins(tmp_path: Path) -> None:
    with live_coordinator(tmp_path, None) as live:
        viewer = live.add_user("vera", "viewer")
        r = live.http.post("/api/v1/users/admin/disable", headers=live.admin)
        assert r.status_code == 409 and r.json()["error"]["code"] == "cannot_disable_self"
        r = live.http.post("/api/v1/users/ghost/disable", headers=live.admin)
        assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"
        r = live.http.post("/api/v1/users/admin/disable", headers=viewer)
        assert r.status_code == 403
        # The admin's own token still works: nothing was changed by the refusals.
        assert live.http.get("/api/v1/auth/me", headers=live.admin).status_code == 200
