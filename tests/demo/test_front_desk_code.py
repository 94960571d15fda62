"""The demo's "front desk": a member getting their phone card back from a store's sign-up
poster receives a one-time code, and with no SMS gateway the demo console prints it.

A real coordinator process (the demo's webhook settings), the demo's own receiver set up
by ``start_receiver`` as the demo does, and the member's requests over HTTP: the code the
console prints is the one the coordinator accepts.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from simulators.broker import Broker
from simulators.demo.api import CoordinatorClient
from simulators.demo.console import Console
from simulators.demo.webhooks import masked_phone, start_receiver
from simulators.services import CoordinatorProcess
from simulators.waiting import wait_until

PHONE = "13800138000"


@pytest.fixture
def coordinator(tmp_path: Path, broker: Broker) -> Iterator[CoordinatorProcess]:
    proc = CoordinatorProcess(
        tmp_path,
        mqtt_port=broker.port,
        settings={"webhooks": {"allow_private_targets": True, "poll_interval_s": 0.2}},
    )
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()


def test_the_front_desk_prints_the_self_access_code_the_member_then_uses(
    coordinator: CoordinatorProcess,
) -> None:
    client = CoordinatorClient(coordinator.url)
    client.login("admin", "admin")
    client.post("/api/v1/stores", {"store_id": "s1", "name": "Store 1"})
    out = io.StringIO()
    receiver = start_receiver(client, Console(out))
    try:
        member = {"store_id": "s1", "name": "王小明", "phone": PHONE, "accept_terms": True}
        joined = httpx.post(f"{coordinator.url}/api/v1/join", json=member, timeout=15)
        assert joined.json()["status"] == "created", joined.text
        asked = httpx.post(f"{coordinator.url}/api/v1/self-access", json={"phone": PHONE})
        assert asked.status_code == 200, asked.text

        def printed() -> list[str]:
            return [line for line in out.getvalue().splitlines() if "front desk" in line]

        wait_until(lambda: printed(), 20, "the front desk to print the code")
        (line,) = printed()
        assert masked_phone(PHONE) in line and PHONE not in line and "signature ok" in line
        found = re.search(r"self-access code (\d{6}) ", line)
        assert found is not None, line
        proof = {"phone": PHONE, "code": found.group(1)}
        granted = httpx.post(f"{coordinator.url}/api/v1/self-access/verify", json=proof)
        assert granted.status_code == 200, granted.text
        assert granted.json()["path"].startswith("/m/")
    finally:
        receiver.stop()
