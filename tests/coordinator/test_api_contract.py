"""The API keeps its contract: a running coordinator checked against its own OpenAPI document.

A real coordinator process (``tapfleet coordinator`` on a free port, SQLite, MQTT on through
a private Mosquitto with the shipped config, fleet monitor running) is seeded the way the
demo seeds it (the demo's chain through the HTTP API: stores, logins, kiosks, members with
cards, passes, points and coupons, campaigns, a rule bundle), then two offline kiosks raise
conflicts. schemathesis
then sends every operation its schema-derived examples, boundary cases (the coverage phase:
huge integers, empty and over-long strings, missing fields) and random inputs, as HQ admin,
and checks each answer: never a server error, a documented status code, a documented
content type, a body that validates against the declared response schema, and a 405 for
undeclared methods with an ``Allow`` header.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.events import ClassSignIn, CouponRedeem
from shared.fold import DAY_MS
from simulators.broker import Broker, start_broker
from simulators.demo.api import CoordinatorClient
from simulators.demo.catalog import build_catalog
from simulators.demo.console import Console
from simulators.demo.seed import provision_chain, seed_chain
from tests.reliability.processes import CoordinatorProc
from tests.support.mini_kiosk import MiniKiosk

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "unsupported_method",
)


@dataclass
class Stack:
    """The running coordinator the contract is checked against."""

    url: str
    headers: dict[str, str]
    members: int
    open_conflicts: int


def _offline_conflicts(url: str, headers: dict[str, str], broker: Broker) -> list[MiniKiosk]:
    """Two stores' kiosks offline: a 2-session pass used three times, a coupon used twice."""
    now = time.time_ns() // 1_000_000

    def call(path: str, body: dict[str, Any]) -> None:
        answer = httpx.post(f"{url}{path}", json=body, headers=headers, timeout=30)
        assert answer.status_code == 201, answer.text

    call("/api/v1/stores", {"store_id": "s-c1", "name": "Downtown"})
    call("/api/v1/stores", {"store_id": "s-c2", "name": "Riverside"})
    call("/api/v1/members", {"member_id": "m-c1", "display_name": "李*华", "home_store_id": "s-c1"})
    call(
        "/api/v1/members/m-c1/passes",
        {"pass_id": "p2", "kind": "punch", "name": "2-session yoga", "class_types": ["yoga"],
         "valid_from_ms": now - DAY_MS, "valid_until_ms": now + 60 * DAY_MS,
         "sessions_total": 2, "price_fen": 30000},
    )  # fmt: skip
    call(
        "/api/v1/members/m-c1/coupons",
        {"coupon_id": "c1", "title": "¥20 voucher", "kind": "voucher", "value": 2000,
         "store_ids": ["s-c1", "s-c2"], "valid_from_ms": now - DAY_MS,
         "valid_until_ms": now + 30 * DAY_MS},
    )  # fmt: skip
    kiosks = []
    for kiosk_id, store_id in (("k-c1", "s-c1"), ("k-c2", "s-c2")):
        call("/api/v1/kiosks", {"kiosk_id": kiosk_id, "store_id": store_id})
        kiosk = MiniKiosk(kiosk_id, store_id, broker.host, broker.port)
        kiosk.connect()
        assert kiosk.wait_for(lambda k=kiosk: k.bundle is not None and "m-c1" in k.members)
        kiosk.go_offline()
        kiosks.append(kiosk)
    ka, kb = kiosks
    ka.record("m-c1", ClassSignIn(class_session_id="c1-yoga", class_type="yoga", pass_id="p2"))
    ka.record("m-c1", ClassSignIn(class_session_id="c1-yoga-2", class_type="yoga", pass_id="p2"))
    kb.record("m-c1", ClassSignIn(class_session_id="c2-yoga", class_type="yoga", pass_id="p2"))
    ka.record("m-c1", CouponRedeem(coupon_id="c1"))
    kb.record("m-c1", CouponRedeem(coupon_id="c1"))
    for kiosk in kiosks:
        kiosk.connect()
        assert kiosk.wait_acked(), f"{kiosk.kiosk_id} did not get its events acknowledged"
    return kiosks


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Broker, a coordinator process and the demo's chain, plus conflicts from offline kiosks."""
    folder: Path = tmp_path_factory.mktemp("contract")
    broker = start_broker(folder / "broker")
    catalog = build_catalog(time.time_ns() // 1_000_000)
    coordinator = CoordinatorProc(
        folder / "coordinator",
        broker,
        admin_username=catalog.admin.username,
        admin_password=catalog.admin.password,
        login_max_failures=1000,  # the fuzzer fails logins on purpose
        login_max_failures_per_address=10_000,
    )
    kiosks: list[MiniKiosk] = []
    try:
        coordinator.start()
        with CoordinatorClient(coordinator.url) as client, open(os.devnull, "w") as quiet:
            token = client.login(catalog.admin.username, catalog.admin.password)["access_token"]
            console = Console(quiet)
            provision_chain(client, catalog, console)
            seeded = seed_chain(client, catalog, console, lambda: None)
        headers = {"Authorization": f"Bearer {token}"}
        kiosks = _offline_conflicts(coordinator.url, headers, broker)
        answer = httpx.get(
            f"{coordinator.url}/api/v1/conflicts", params={"status": "open"}, headers=headers
        )
        yield Stack(coordinator.url, headers, seeded.members, len(answer.json()["items"]))
    finally:
        for kiosk in kiosks:
            kiosk.close()
        coordinator.stop()
        broker.stop()


def test_the_stack_holds_demo_data(stack: Stack) -> None:
    """The contract is checked against a coordinator with data, not an empty one."""
    members = httpx.get(f"{stack.url}/api/v1/members", headers=stack.headers, params={"limit": 50})
    assert members.status_code == 200 and len(members.json()["items"]) == 50
    assert stack.members >= 50
    assert stack.open_conflicts >= 2


@pytest.mark.slow
@pytest.mark.timeout(900)  # the schemathesis run's own bound; the default 300 s is hit under load
def test_the_api_keeps_its_contract(stack: Stack, tmp_path: Path) -> None:
    """Every answer is documented (status, content type, body schema); never a 5xx.

    schemathesis's own command line runs the examples, coverage and fuzzing phases with a
    fixed seed (``TAPFLEET_CONTRACT_SEED`` picks another one for exploring by hand); its
    report is printed on failure.
    """
    seed = os.environ.get("TAPFLEET_CONTRACT_SEED", "20261203")
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{stack.url}/openapi.json",
        "--header",
        f"Authorization: {stack.headers['Authorization']}",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        "15",
        "--exclude-path-regex",
        "/stream$",
        "--seed",
        seed,
        "--workers",
        "1",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=900, check=False, cwd=tmp_path
    )
    summary = run.stdout[-6000:]
    assert run.returncode == 0, f"schemathesis found contract failures:\n{summary}"
    assert "Test cases:" in run.stdout, summary
