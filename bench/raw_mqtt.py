"""The raw-paho baselines: QoS 1 publishers (in the benchmark) and a subscriber process.

The subscriber runs in its own process, as the coordinator does, so both sides of a
comparison have the same process layout::

    python -m bench.raw_mqtt --port P --topic 'bench/raw/#' --expect N [--store FILE]

It prints ``READY`` once subscribed, then ``DONE <received> <distinct> <t_last>`` when
``N`` distinct payloads have arrived (``t_last``: ``time.monotonic()`` of the last one, a
system-wide clock on Linux, so the benchmark can subtract its own start time). With
``--store`` every payload is committed to SQLite (WAL, ``synchronous=FULL``) before paho
acknowledges it: the floor of "receive and keep durably".
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def _client(client_id: str) -> mqtt.Client:
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)


class Publisher:
    """One raw paho client publishing QoS 1 messages; :meth:`wait_acked` for every PUBACK."""

    def __init__(self, port: int, client_id: str) -> None:
        self._client = _client(client_id)
        self._cond = threading.Condition()
        self._acked = 0
        self.last_ack_at = 0.0
        """``time.monotonic()`` of the latest PUBACK."""
        self._connected = False
        self._client.on_publish = self._on_publish
        self._client.on_connect = self._on_connect
        self._client.connect("127.0.0.1", port, keepalive=60, clean_start=True)
        self._client.loop_start()
        with self._cond:
            if not self._cond.wait_for(lambda: self._connected, 10):
                raise RuntimeError(f"raw publisher {client_id} could not connect")

    def _on_connect(self, *_args: object) -> None:
        with self._cond:
            self._connected = True
            self._cond.notify_all()

    def _on_publish(self, *_args: object) -> None:
        now = time.monotonic()
        with self._cond:
            self._acked += 1
            self.last_ack_at = now
            self._cond.notify_all()

    def publish(self, topic: str, payload: bytes) -> None:
        """Queue one QoS 1 message (paho sends it within its in-flight window)."""
        info = self._client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"paho refused a publish: {mqtt.error_string(info.rc)}")

    def wait_acked(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` PUBACKs arrived."""
        with self._cond:
            return self._cond.wait_for(lambda: self._acked >= count, timeout)

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


def subscriber_args(port: int, topic: str, expect: int, store: str | None = None) -> list[str]:
    """Command line of the subscriber process."""
    args = [sys.executable, "-m", "bench.raw_mqtt", "--port", str(port)]
    args += ["--topic", topic, "--expect", str(expect)]
    if store:
        args += ["--store", store]
    return args


def measure(
    port: int,
    folder: object,
    streams: Sequence[Sequence[tuple[str, bytes]]],
    *,
    topic_filter: str,
    store: str | None = None,
    timeout: float = 600.0,
) -> tuple[float, int, int]:
    """Publish each stream from its own raw client; (seconds, received, distinct).

    Seconds run from the first publish to the later of "subscriber has every distinct
    payload" and "every publisher has every PUBACK".
    """
    from pathlib import Path

    from bench.common import Child

    expect = len({hash(p) for s in streams for _, p in s})
    sub = Child(
        subscriber_args(port, topic_filter, expect, store),
        Path(str(folder)) / f"raw-sub-{port}-{time.monotonic_ns()}.log",
        stdout_pipe=True,
    )
    publishers: list[Publisher] = []
    try:
        if sub.readline(30) != "READY":
            raise RuntimeError(f"raw subscriber did not subscribe:\n{sub.tail()}")
        publishers = [Publisher(port, f"raw-pub-{i}-{port}") for i in range(len(streams))]
        threads = [
            threading.Thread(target=_publish_stream, args=(pub, stream), daemon=True)
            for pub, stream in zip(publishers, streams, strict=True)
        ]
        start = time.monotonic()
        for thread in threads:
            thread.start()
        line = sub.readline(timeout)
        for pub, stream in zip(publishers, streams, strict=True):
            if not pub.wait_acked(len(stream), timeout):
                raise RuntimeError("raw publisher did not get every PUBACK")
        acked_at = max(pub.last_ack_at for pub in publishers)
        parts = line.split()
        if parts[0] != "DONE":
            raise RuntimeError(f"raw subscriber said {line!r}")
        received, distinct, last = int(parts[1]), int(parts[2]), float(parts[3])
        return max(last, acked_at) - start, received, distinct
    finally:
        for pub in publishers:
            pub.close()
        sub.stop()


def _publish_stream(pub: Publisher, stream: Sequence[tuple[str, bytes]]) -> None:
    for topic, payload in stream:
        pub.publish(topic, payload)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the subscriber until terminated."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--store")
    args = parser.parse_args(argv)

    db: sqlite3.Connection | None = None
    if args.store:
        db = sqlite3.connect(args.store, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE IF NOT EXISTS received (id INTEGER PRIMARY KEY, payload BLOB)")

    seen: set[int] = set()
    received = 0
    done = threading.Event()
    subscribed = threading.Event()
    client = _client(f"raw-sub-{args.port}")

    def on_connect(c: mqtt.Client, *_a: object) -> None:
        c.subscribe(args.topic, qos=1)

    def on_subscribe(*_a: object) -> None:
        subscribed.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal received
        payload = bytes(msg.payload)
        if db is not None:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO received (payload) VALUES (?)", (payload,))
            db.execute("COMMIT")
        received += 1
        seen.add(hash(payload))
        if len(seen) >= args.expect and not done.is_set():
            done.set()
            print(f"DONE {received} {len(seen)} {time.monotonic():.6f}", flush=True)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect("127.0.0.1", args.port, keepalive=60, clean_start=True)
    client.loop_start()
    if not subscribed.wait(10):
        print("NOT SUBSCRIBED", flush=True)
        return 1
    print("READY", flush=True)
    threading.Event().wait()  # until terminated
    return 0


if __name__ == "__main__":
    sys.exit(main())
