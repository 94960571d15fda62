"""A small client for the coordinator's HTTP API (OAuth2 password login, JSON in and out)."""

from __future__ import annotations

from typing import Any

import httpx

from simulators.demo.errors import DemoError


class ApiFailure(DemoError):
    """The coordinator refused or failed a request; ``code`` is its machine-readable code."""

    code = "demo_api_failure"

    def __init__(self, method: str, path: str, status: int, api_code: str, message: str):
        self.status = status
        self.api_code = api_code
        super().__init__(f"{method} {path} -> {status} {api_code}: {message}")


class CoordinatorClient:
    """Calls ``/api/v1`` as one logged-in ops user. Thread-safe (httpx.Client is)."""

    def __init__(self, base_url: str, *, timeout_s: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s)
        self.username: str | None = None

    def login(self, username: str, password: str) -> dict[str, Any]:
        """Log in (OAuth2 password flow); later calls carry the bearer token."""
        response = self._http.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        body = self._check("POST", "/api/v1/auth/token", response)
        self._http.headers["Authorization"] = f"Bearer {body['access_token']}"
        self.username = username
        return dict(body)

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path`` (query ``params``); the decoded JSON body."""
        clean = {k: v for k, v in params.items() if v is not None}
        return self._check("GET", path, self._http.get(path, params=clean))

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        """POST ``body`` as JSON to ``path`` (with extra ``headers``); the decoded answer."""
        return self._check("POST", path, self._http.post(path, json=body, headers=headers))

    def put(self, path: str, body: Any = None) -> Any:
        """PUT ``body`` as JSON to ``path``; the decoded JSON answer."""
        return self._check("PUT", path, self._http.put(path, json=body))

    def delete(self, path: str) -> Any:
        """DELETE ``path``; the decoded JSON answer."""
        return self._check("DELETE", path, self._http.delete(path))

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> CoordinatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _check(method: str, path: str, response: httpx.Response) -> Any:
        if response.status_code < 400:
            return response.json() if response.content else None
        try:
            error = response.json().get("error", {})
            code, message = str(error.get("code")), str(error.get("message"))
        except ValueError:
            code, message = "http_error", response.text[:300]
        raise ApiFailure(method, path, response.status_code, code, message)
