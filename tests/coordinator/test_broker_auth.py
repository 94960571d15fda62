"""The shipped broker config with authentication: per-kiosk users and ACLs from
``shared.topics.kiosk_acl``, rendered from the ledger's provisioned kiosks by the CLI."""

from __future__ import annotations

import getpass
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from fastapi.testclient import TestClient

from coordinator.app import create_app
from shared import topics
from shared.events import CheckIn
from shared.protocol import EventBatch, encode
from shared.topics import Channel
from simulators.broker import Broker
from simulators.ports import accepting, free_tcp_port
from simulators.waiting import poll_until
from tests.coordinator.conftest import make_settings
from tests.coordinator.harness import Harness
from tests.support.mini_kiosk import MiniKiosk


def _connect_result(broker: Broker, username: str | None, password: str | None) -> bool:
    """True when the broker accepts this login."""
    done = threading.Event()
    result: list[bool] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="probe", protocol=mqtt.MQTTv5)
    if username:
        client.username_pw_set(username, password)

    def on_connect(_c: object, _u: object, _f: object, rc: mqtt.ReasonCode, _p: object) -> None:
        result.append(not rc.is_failure)
        done.set()

    client.on_connect = on_connect
    client.connect(broker.host, broker.port)
    client.loop_start()
    done.wait(10)
    client.disconnect()
    client.loop_stop()
    return bool(result and result[0])


def test_provisioned_kiosks_get_credentials_and_acls_from_the_ledger(tmp_path: Path) -> None:
    # 1. Provision with the API (no broker yet: the coordinator serves HTTP only).
    db_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    from coordinator.settings import CoordinatorSettings

    api_only = CoordinatorSettings(dev_mode=True, database_url=db_url, mqtt_enabled=False)
    with TestClient(create_app(api_only)) as client:
        token = client.post("/api/v1/auth/token", data={"username": "admin", "password": "admin"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        client.post("/api/v1/stores", json={"store_id": "s1", "name": "S1"}, headers=headers)
        client.post(
            "/api/v1/members", json={"member_id": "m1", "display_name": "A*"}, headers=headers
        )
        creds = {
            k: client.post(
                "/api/v1/kiosks", json={"kiosk_id": k, "store_id": "s1"}, headers=headers
            ).json()
            for k in ("k1", "k2")
        }
    assert creds["k1"]["mqtt"]["username"] == "k1"
    assert "write tapfleet/v1/kiosk/k1/events" in creds["k1"]["topics"]["acl"]

    # 2. Render the broker files from the ledger with the CLI and start Mosquitto on them.
    port = free_tcp_port()
    out = tmp_path / "broker"
    subprocess.run(
        [
            sys.executable, "-m", "shared.cli", "broker-config", "--out", str(out),
            "--port", str(port), "--bind", "127.0.0.1", "--db", db_url,
            "--coordinator-password", "coordinator-secret", "--run-as", getpass.getuser(),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    acl = (out / "acl").read_text()
    k2_block = acl.split("user k2\n")[1].split("\n\n")[0].splitlines()
    assert "topic write tapfleet/v1/kiosk/k2/events" in k2_block
    assert "topic write tapfleet/v1/kiosk/k1/events" not in k2_block
    broker = Broker("127.0.0.1", port, out, out / "mosquitto.conf", out / "stdout.log")
    broker.start()
    try:
        assert not _connect_result(broker, None, None), "anonymous must be refused"
        assert not _connect_result(broker, "k1", "wrong password")
        assert _connect_result(broker, "k1", creds["k1"]["mqtt"]["password"])

        # 3. The coordinator with its own broker user; kiosks with theirs.
        settings = make_settings(
            tmp_path,
            broker,
            database_url=db_url,
            mqtt_username="coordinator",
            mqtt_password="coordinator-secret",
        )
        with TestClient(create_app(settings)) as client:
            h = Harness(client, broker)
            k1 = MiniKiosk("k1", "s1", broker.host, broker.port, username="k1",
                           password=creds["k1"]["mqtt"]["password"])  # fmt: skip
            h.kiosks.append(k1)
            k1.connect()
            assert k1.wait_for(lambda: k1.bundle is not None and "m1" in k1.members)
            k1.tap("m1")
            assert k1.wait_acked()

            # k1 tries to speak for k2: the broker's ACL drops it before the coordinator.
            forged = k1.record("m1", CheckIn(points=999)).model_copy(
                update={"kiosk_id": "k2", "seq": 1}
            )
            k1.send_raw(
                topics.kiosk_topic("k2", Channel.EVENTS),
                encode(EventBatch(kiosk_id="k2", events=(forged,))),
            )
            k1.journal.pop()  # that event never was k1's
            k1.tap("m1")
            assert k1.wait_acked()
            assert h.applied_seq("k2") == 0
            assert h.applied_seq("k1") == len(k1.journal)
            assert h.rejections() == {}
    finally:
        broker.stop()


def test_test_broker_helper_with_auth(tmp_path: Path) -> None:
    """``start_broker(auth=True)`` renders users and kiosk ACLs for other suites."""
    from simulators.broker import start_broker

    broker = start_broker(
        tmp_path,
        auth=True,
        users={"coordinator": "pw-coordinator", "k1": "pw-k1"},
        kiosks=[("k1", "s1")],
    )
    try:
        assert _connect_result(broker, "k1", "pw-k1")
        assert not _connect_result(broker, "k1", "nope")
        assert _connect_result(broker, "coordinator", "pw-coordinator")
        broker.restart()
        assert _connect_result(broker, "k1", "pw-k1")
    finally:
        broker.stop()
    assert not broker.running
    assert poll_until(lambda: not accepting(broker.host, broker.port), timeout_s=5)
