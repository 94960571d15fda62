"""Schema-driven fuzzing of the whole API (schemathesis): whatever is sent, never a 500.

The app object is built at collection time (building touches nothing: no database, no
broker); the module fixture starts it, seeds a store, a kiosk and a member, and removes its
temporary directory afterwards.
"""

from __future__ import annotations

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

_DIR = Path(tempfile.gettempdir()) / f"tapfleet-fuzz-{uuid.uuid4().hex[:12]}"
APP = create_app(
    CoordinatorSettings(
        dev_mode=True,
        database_url=f"sqlite:///{_DIR / 'fuzz.db'}",
        mqtt_enabled=False,
        housekeeping_interval_s=3600,
    )
)
# Server-sent event streams stay open by design; everything else answers at once.
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).exclude(path_regex=r"/stream$")
TOKEN: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def started() -> Iterator[None]:
    """Run the app's lifespan for the module; seed data the fuzzer can hit."""
    try:
        with TestClient(APP) as client:
            r = client.post("/api/v1/auth/token", data={"username": "admin", "password": "admin"})
            TOKEN["Authorization"] = f"Bearer {r.json()['access_token']}"
            client.post("/api/v1/stores", json={"store_id": "s1", "name": "S1"}, headers=TOKEN)
            client.post("/api/v1/kiosks", json={"kiosk_id": "k1", "store_id": "s1"}, headers=TOKEN)
            client.post(
                "/api/v1/members", json={"member_id": "m1", "display_name": "A*"}, headers=TOKEN
            )
            yield
    finally:
        shutil.rmtree(_DIR, ignore_errors=True)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_input_makes_the_api_fail(case: schemathesis.Case) -> None:
    response = case.call(headers=TOKEN)
    assert response.status_code < 500, f"{case.method} {case.path}: {response.text[:500]}"
    if response.status_code >= 400:
        body = response.json()
        assert set(body["error"]) == {"code", "message", "field"}, body
