"""Schema-driven fuzzing of the whole API (schemathesis) as every kind of caller.

``tests/coordinator/test_api_fuzz.py`` fuzzes as HQ admin; here each generated request is
sent without a login, as a store manager and as a viewer. Whatever is sent: never a 500,
always the error envelope, and a caller without a login never gets a 2xx from a route that
needs one. Bounded: a few examples per operation.

The app object is built at collection time (building touches nothing: no database, no
broker); the module fixture starts it and seeds two stores, users, a kiosk and members.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from coordinator.app import create_app
from coordinator.settings import CoordinatorSettings

_DIR = Path(tempfile.gettempdir()) / f"tapfleet-fuzz-roles-{uuid.uuid4().hex[:12]}"
APP = create_app(
    CoordinatorSettings(
        dev_mode=True,
        database_url=f"sqlite:///{_DIR / 'fuzz.db'}",
        mqtt_enabled=False,
        housekeeping_interval_s=3600,
        login_max_failures=1000,  # the fuzzer fails logins on purpose
        login_max_failures_per_address=10_000,
    )
)
# Server-sent event streams stay open by design; everything else answers at once.
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).exclude(path_regex=r"/stream$")
CALLERS: dict[str, dict[str, str]] = {}
# Each public route is its own credential: a login, an enrollment code, or the member's page
# link (the phone card's code, balances and device registration).
PUBLIC = {
    "/api/v1/auth/token",
    "/api/v1/enroll",
    "/api/v1/member/qr",
    "/api/v1/member/card",
    "/api/v1/member/devices",
    "/api/v1/member/classes",  # these three: the member's personal link authorises
    "/api/v1/member/bookings",
    "/api/v1/join",
    "/api/v1/self-access",
    "/api/v1/self-access/verify",
    "/api/v1/software/manifest/{store_id}",  # what kiosks' updaters read (no secret in it)
    "/healthz",
    "/metrics",
}


@pytest.fixture(scope="module", autouse=True)
def started() -> Iterator[None]:
    """Run the app's lifespan for the module; seed data and log the callers in."""
    try:
        with TestClient(APP) as client:

            def token(user: str, password: str) -> dict[str, str]:
                r = client.post("/api/v1/auth/token", data={"username": user, "password": password})
                return {"Authorization": f"Bearer {r.json()['access_token']}"}

            admin = token("admin", "admin")
            for store in ("s1", "s2"):
                client.post("/api/v1/stores", json={"store_id": store, "name": store},
                            headers=admin)  # fmt: skip
                client.post("/api/v1/kiosks", json={"kiosk_id": f"k-{store}", "store_id": store},
                            headers=admin)  # fmt: skip
                client.post("/api/v1/members", headers=admin,
                            json={"member_id": f"m-{store}", "display_name": "A*",
                                  "home_store_id": store})  # fmt: skip
            for user, role, store in (("mgr1", "store_manager", "s1"), ("view1", "viewer", None)):
                client.post("/api/v1/users", headers=admin,
                            json={"username": user, "password": "password-123", "role": role,
                                  "store_id": store})  # fmt: skip
            CALLERS["anonymous"] = {}
            CALLERS["store manager"] = token("mgr1", "password-123")
            CALLERS["viewer"] = token("view1", "password-123")
            yield
    finally:
        shutil.rmtree(_DIR, ignore_errors=True)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_caller_and_no_input_makes_the_api_fail(case: schemathesis.Case) -> None:
    for who, headers in CALLERS.items():
        response = case.call(headers=headers)
        where = f"{who}: {case.method} {case.path}"
        assert response.status_code < 500, f"{where}: {response.text[:500]}"
        ctype = response.headers.get("content-type") or ""
        if isinstance(ctype, list):
            ctype = ctype[0] if ctype else ""
        if response.status_code >= 400 and ctype.startswith("application/json"):
            assert set(response.json()["error"]) == {"code", "message", "field"}, where
        if who == "anonymous" and case.path.startswith("/api/") and case.path not in PUBLIC:
            # A body that is not JSON at all is refused while it is read, before the login
            # is looked at (FastAPI parses the body first); anything parseable gets a 401.
            if _unparseable(case.body):
                assert response.status_code in (400, 401, 404, 405, 422), where
            else:
                assert response.status_code in (401, 404, 405), where


def _unparseable(body: object) -> bool:
    """True for a raw body that is not JSON text."""
    if not isinstance(body, bytes | str):
        return False
    try:
        json.loads(body)
    except ValueError:
        return True
    return False
