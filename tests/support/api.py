"""``login`` and ``call`` for the test harnesses that drive the coordinator's HTTP API."""

from __future__ import annotations

from typing import Any, ClassVar

_DEFAULT: Any = object()


class ApiCalls:
    """Mixin: a harness with an HTTP client (``api_client``) and admin headers (``admin``)."""

    admin: dict[str, str]
    expect_by_default: ClassVar[int | None] = 200
    """The status ``call`` asserts when the caller names none (None: no assertion)."""

    @property
    def api_client(self) -> Any:
        """The httpx or Starlette test client requests go through."""
        raise NotImplementedError

    def login(self, username: str, password: str) -> dict[str, str]:
        """Bearer headers for a user (API clients; pages use the login form)."""
        r = self.api_client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        expect: int | None = _DEFAULT,
        **params: Any,
    ) -> Any:
        """One API call (as admin unless ``headers``); asserts the status when ``expect``."""
        if expect is _DEFAULT:
            expect = self.expect_by_default
        r = self.api_client.request(
            method, path, json=json, headers=headers or self.admin, params=params or None
        )
        if expect is not None:
            assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()
