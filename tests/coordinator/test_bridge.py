"""A store broker bridged to the central broker (Mosquitto's own bridge, QoS 1, persistent
sessions, the shipped ``deploy/mosquitto/bridge.conf.in``), the bridge cut and restored.

Kiosks connect to the store's Mosquitto; the coordinator to the central one. The bridge's
TCP path runs through a switch that can be cut (``simulators.demo.netcut``). While it is
cut the kiosks keep publishing (the store broker queues for the bridge) and HQ registers a
member (the central broker queues the push for the bridge's session). After the restore:

* with the shipped queue bound, the bridge alone delivers everything the kiosks sent during
  the cut (no kiosk resend is asked for), and the new member reaches the kiosks;
* with a queue bound smaller than the cut's traffic, the bridge drops what exceeds it
  (Mosquitto's bridge queue is not to be trusted past its limit), and the kiosks' resends
  fill the gap;

and in both, every kiosk event is stored exactly once and the central ledger equals the
reference fold.
"""

from __future__ import annotations

import getpass
import queue
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from coordinator.mqtt.broker_config import BrokerBridge, render_bridge
from shared import topics
from shared.topics import Channel
from simulators.broker import Broker, start_broker
from simulators.demo.netcut import LinkSwitch
from simulators.ports import free_tcp_port
from simulators.waiting import poll_until
from tests.coordinator.conftest import running_harness
from tests.support.mini_kiosk import MiniKiosk

MEMBERS = [f"m{i}" for i in range(4)]
KIOSKS = ("k1", "k2")
CUT_TAPS = 30
"""Taps per kiosk while the bridge is cut (one batch each: 60 queued messages)."""


def test_bridge_config_lists_the_stores_topics() -> None:
    text = render_bridge(
        BrokerBridge(name="s1", central=[("central", 1883)], store_ids=["s1"], kiosk_ids=["k1"])
    )
    assert "address central:1883" in text
    assert "cleansession false" in text
    assert "topic tapfleet/v1/kiosk/+/events out 1" in text
    assert "topic tapfleet/v1/kiosk/k1/ack in 1" in text
    assert "topic tapfleet/v1/store/s1/down in 1" in text
    assert "topic tapfleet/v1/fleet/down in 1" in text
    assert "kiosk/+/ack" not in text  # listed kiosks only: not every store's acks


@pytest.mark.slow
@pytest.mark.parametrize("queue", [None, 10], ids=["shipped-queue", "queue-of-10"])
def test_exactly_once_across_a_bridge_cut(
    tmp_path: Path, broker: Broker, queue: int | None
) -> None:
    switch = LinkSwitch("127.0.0.1", broker.port, name="bridge").start()
    store_broker = start_broker(
        tmp_path,
        directory_name="store-broker",
        bridges=[
            BrokerBridge(
                name="s1",
                central=[("127.0.0.1", switch.port)],
                store_ids=["s1"],
                kiosk_ids=list(KIOSKS),
            )
        ],
        max_queued_messages=queue,
    )
    kiosks: list[MiniKiosk] = []
    try:
        with running_harness(tmp_path, broker) as h:
            h.add_store("s1")
            h.publish_rules(
                rules={
                    "double_tap_window_s": 0,
                    "checkin_reward_once_per_day": False,
                    "points_per_checkin": 10,
                }
            )
            for member in MEMBERS:
                h.add_member(member)
            for kiosk_id in KIOSKS:
                h.add_kiosk(kiosk_id, "s1")
                kiosk = MiniKiosk(
                    kiosk_id,
                    "s1",
                    store_broker.host,
                    store_broker.port,
                    clock=h.coord.clock.wall_ms,
                    batch_size=1,
                )
                kiosks.append(kiosk)
                kiosk.connect()
            for kiosk in kiosks:
                assert kiosk.wait_for(
                    lambda k=kiosk: (
                        k.bundle is not None and all(k.ledger(m) is not None for m in MEMBERS)
                    ),
                    timeout=30,
                ), f"{kiosk.kiosk_id}: rules and members did not cross the bridge"

            for step in range(10):  # through the bridge, before any cut
                for kiosk in kiosks:
                    kiosk.tap(MEMBERS[step % len(MEMBERS)])
            for kiosk in kiosks:
                assert kiosk.wait_acked(30), f"{kiosk.kiosk_id} acked {kiosk.acked_seq}"
            before = {k.kiosk_id: h.applied_seq(k.kiosk_id) for k in kiosks}

            switch.cut()
            for step in range(CUT_TAPS):
                for kiosk in kiosks:
                    kiosk.tap(MEMBERS[step % len(MEMBERS)])
            h.add_member("m-new")
            assert not any(k.wait_acked(1.0) for k in kiosks), "the cut let acks through"
            assert {k.kiosk_id: h.applied_seq(k.kiosk_id) for k in kiosks} == before

            switch.restore()
            total = {k.kiosk_id: len(k.journal) for k in kiosks}
            if queue is None:
                # The bridge's queue alone carries the cut's traffic: no kiosk resend.
                for kiosk in kiosks:
                    assert poll_until(
                        lambda k=kiosk: h.applied_seq(k.kiosk_id) == total[k.kiosk_id], 60
                    ), f"{kiosk.kiosk_id}: applied {h.applied_seq(kiosk.kiosk_id)}"
            else:
                # Past its bound the bridge dropped messages: wait for what it did carry.
                poll_until(
                    lambda: all(k.wait_acked(0.5) for k in kiosks), 10
                )  # (expected to time out)
                delivered = sum(h.applied_seq(k) for k in KIOSKS)
                assert delivered < sum(total.values()), "a queue of 10 carried 60 messages"
            for kiosk in kiosks:
                assert poll_until(lambda k=kiosk: k.flush() >= 0 and k.wait_acked(0.5), 60), (
                    f"{kiosk.kiosk_id}: acked {kiosk.acked_seq} of {len(kiosk.journal)}"
                )
                assert kiosk.wait_for(lambda k=kiosk: k.ledger("m-new") is not None, 30), (
                    f"{kiosk.kiosk_id}: the member registered during the cut never arrived"
                )

            for kiosk in kiosks:
                stored = sorted(h.events(source=kiosk.kiosk_id), key=lambda e: e.seq)
                assert [e.event_id for e in stored] == [e.event_id for e in kiosk.journal]
            for member in MEMBERS:
                assert h.central(member) == h.reference(member)
    finally:
        for kiosk in kiosks:
            kiosk.close()
        store_broker.stop()
        switch.stop()


def _client(
    port: int, name: str, got: queue.Queue[tuple[str, bytes]], filters: list[tuple[str, int]]
) -> mqtt.Client:
    """A connected client whose subscriptions to ``filters`` are acknowledged."""
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
    client.on_message = lambda _c, _u, msg: got.put((msg.topic, msg.payload))
    client.on_connect = lambda c, *_: c.subscribe(filters)
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert subscribed.wait(10), f"{name} could not subscribe"
    return client


def test_broker_config_cli_renders_a_working_bridge(tmp_path: Path, broker: Broker) -> None:
    """``tapfleet broker-config --bridge-to --bridge-store``: Mosquitto starts on the file,
    kiosk up-channels reach the central broker, the store's broadcasts come back, another
    store's do not."""
    port = free_tcp_port()
    out = tmp_path / "store-broker"
    subprocess.run(
        [
            sys.executable, "-m", "shared.cli", "broker-config", "--out", str(out),
            "--port", str(port), "--bind", "127.0.0.1", "--run-as", getpass.getuser(),
            "--bridge-to", f"127.0.0.1:{broker.port}", "--bridge-store", "s1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    assert "topic tapfleet/v1/store/s1/down in 1" in (out / "mosquitto.conf").read_text()
    store = Broker("127.0.0.1", port, out, out / "mosquitto.conf", out / "stdout.log")
    store.start()
    up: queue.Queue[tuple[str, bytes]] = queue.Queue()
    down: queue.Queue[tuple[str, bytes]] = queue.Queue()
    clients: list[mqtt.Client] = []
    try:
        central = _client(
            broker.port, "central-side", up, [(topics.subscription(Channel.EVENTS), 1)]
        )
        clients.append(central)
        filters = [(topics.store_topic("s1"), 1), (topics.store_topic("s2"), 1)]
        local = _client(port, "store-side", down, filters)
        clients.append(local)
        events = topics.kiosk_topic("k9", Channel.EVENTS)

        def bridged() -> bool:  # the bridge connects in the background
            local.publish(events, b"up", qos=1)
            try:
                return up.get(timeout=0.5) == (events, b"up")
            except queue.Empty:
                return False

        assert poll_until(bridged, 30), "kiosk events never crossed the bridge"
        central.publish(topics.store_topic("s2"), b"not ours", qos=1).wait_for_publish(5)
        central.publish(topics.store_topic("s1"), b"ours", qos=1).wait_for_publish(5)
        # The same publisher, QoS 1, in order: had s2 been bridged it would arrive first.
        assert down.get(timeout=30) == (topics.store_topic("s1"), b"ours")
    finally:
        for client in clients:
            client.disconnect()
            client.loop_stop()
        store.stop()
