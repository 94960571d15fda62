"""``GET /api/v1/kiosks``: the same facts as the one-kiosk route, pages, store scoping, and a
number of SQL statements that does not grow with the fleet."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from coordinator.app import create_app
from coordinator.fleet import liveness
from coordinator.settings import CoordinatorSettings
from shared.protocol import Heartbeat, ReaderStatus, Status, Versions
from tests.coordinator.test_http_api import login


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    settings = CoordinatorSettings(
        dev_mode=True,
        database_url=f"sqlite:///{tmp_path / 'api.db'}",
        mqtt_enabled=False,
        housekeeping_interval_s=3600,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _setup(api: TestClient, kiosks: int) -> dict[str, str]:
    admin = login(api, "admin", "admin")
    for store in ("s1", "s2"):
        r = api.post("/api/v1/stores", json={"store_id": store, "name": store}, headers=admin)
        assert r.status_code == 201, r.text
    for n in range(kiosks):
        body = {"kiosk_id": f"k{n:02d}", "store_id": "s1" if n % 2 else "s2"}
        assert api.post("/api/v1/kiosks", json=body, headers=admin).status_code == 201
    # A chain-wide bundle, then a newer one for s2 only: the stores run different versions.
    for scope in ([], ["s2"]):
        r = api.post("/api/v1/rule-bundles", json={"store_ids": scope}, headers=admin)
        assert r.status_code == 201, r.text
        r = api.post(f"/api/v1/rule-bundles/{r.json()['bundle_id']}/publish", headers=admin)
        assert r.status_code == 200, r.text
    return admin


def _statements(api: TestClient) -> list[str]:
    engine = api.app.state.coordinator.db.engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def count(*args: Any) -> None:
        # The request's statements only: the coordinator's own loops (threads tapfleet-*:
        # fleet monitor, member pushes, housekeeping) read the same engine meanwhile, and
        # on a busy machine one of their ticks lands inside the request.
        if not threading.current_thread().name.startswith("tapfleet-"):
            seen.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", count)
    return seen


def _beat(api: TestClient, kiosk_id: str, store_id: str) -> None:
    """A heartbeat (with a non-ASCII reader detail) and an online status, as ingest stores them."""
    coord = api.app.state.coordinator  # type: ignore[attr-defined]
    now = coord.clock.wall_ms()
    beat = Heartbeat(
        kiosk_id=kiosk_id,
        store_id=store_id,
        sent_wall_ms=now,
        hlc_ms=now,
        last_seq=0,
        outbox_depth=3,
        versions=Versions(rules=1, members=0),
        readers={"nfc": ReaderStatus(state="unavailable", detail='读卡器未连接 "usb"')},
    )
    with coord.db.write() as conn:
        liveness.record_heartbeat(conn, beat, now)
        liveness.record_status(conn, Status(kiosk_id=kiosk_id, state="online", at_ms=now), now)


def test_list_matches_each_kiosk_and_pages_through_the_fleet(api: TestClient) -> None:
    admin = _setup(api, 7)
    for kiosk_id, store_id in (("k00", "s2"), ("k03", "s1")):
        _beat(api, kiosk_id, store_id)
    assert api.post("/api/v1/kiosks/k06/revoke", headers=admin).status_code == 200
    listed = api.get("/api/v1/kiosks", headers=admin).json()
    current = {
        s: api.get("/api/v1/rule-bundles/current", params={"store_id": s}, headers=admin).json()
        for s in ("s1", "s2")
    }
    assert current["s2"]["version"] > current["s1"]["version"] > 0
    assert [k["kiosk_id"] for k in listed] == [f"k{n:02d}" for n in range(7)]
    for kiosk in listed:
        one = api.get(f"/api/v1/kiosks/{kiosk['kiosk_id']}", headers=admin).json()
        assert kiosk == one
        beat = kiosk["evidence"]["heartbeat"]
        assert (beat is not None) == (kiosk["kiosk_id"] in ("k00", "k03")), kiosk
        rules = kiosk["evidence"]["current_versions"]["rules"]
        assert rules == current[kiosk["store_id"]]["version"], kiosk
    k03 = listed[3]["evidence"]
    assert k03["heartbeat"]["readers"]["nfc"]["detail"] == '读卡器未连接 "usb"'
    assert (listed[3]["connected"], k03["reported_versions"]["rules"]) == (True, 1)
    assert (listed[3]["alive"], listed[4]["alive"], listed[6]["revoked"]) == (True, False, True)

    pages: list[list[str]] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"after": after} if after else {})
        page = api.get("/api/v1/kiosks", params=params, headers=admin).json()
        if not page:
            break
        pages.append([k["kiosk_id"] for k in page])
        after = page[-1]["kiosk_id"]
    assert pages == [["k00", "k01", "k02"], ["k03", "k04", "k05"], ["k06"]]
    s1 = api.get("/api/v1/kiosks", params={"store_id": "s1", "limit": 2}, headers=admin).json()
    assert [k["kiosk_id"] for k in s1] == ["k01", "k03"]
    r = api.get("/api/v1/kiosks", params={"limit": 0}, headers=admin)
    assert r.status_code == 422 and r.json()["error"]["field"] == "limit"


def test_statements_per_list_do_not_grow_with_the_fleet(api: TestClient) -> None:
    admin = _setup(api, 3)
    seen = _statements(api)
    assert api.get("/api/v1/kiosks", headers=admin).status_code == 200
    few = len(seen)
    assert few > 0, "the request's statements were not seen"
    for n in range(3, 30):
        body = {"kiosk_id": f"k{n:02d}", "store_id": "s1"}
        assert api.post("/api/v1/kiosks", json=body, headers=admin).status_code == 201
    seen.clear()
    assert len(api.get("/api/v1/kiosks", headers=admin).json()) == 30
    assert len(seen) == few, seen
