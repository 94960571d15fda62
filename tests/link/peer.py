"""A test peer playing the coordinator over a real broker, speaking shared.protocol.

It subscribes to every kiosk's up-channels, applies event batches like the coordinator
would (contiguous per kiosk, duplicates ignored, gaps answered with ``resend_from``), acks,
answers sync requests with an Ack of what it applied,
answers claims when told how, and records everything for assertions. It also measures the
largest number of events a kiosk had outstanding (sent past the peer's last Ack).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from shared import protocol as p
from shared import topics
from shared.topics import Channel
from simulators.broker import Broker

ClaimAnswer = Callable[[p.CouponClaim], p.ClaimResult | None]


class CoordinatorPeer:
    """Plays the coordinator for link tests."""

    def __init__(
        self,
        broker: Broker,
        *,
        client_id: str = "test-coordinator",
        auto_ack: bool = True,
        clock_skew_ms: int = 0,
        persistent: bool = True,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.broker = broker
        self.auto_ack = auto_ack
        self.answer_syncs = True
        """Answer each SyncRequest with an Ack of what was applied (when auto_ack is on)."""
        self.persistent = persistent
        self.clock_skew_ms = clock_skew_ms
        """Added to this peer's wall clock in Acks (negative: coordinator clock behind)."""
        self.claim_answer: ClaimAnswer | None = None
        self._cv = threading.Condition()
        self.received_seqs: list[int] = []
        self.first_seen: list[int] = []
        self._seen: set[int] = set()
        self.contiguous: dict[str, int] = defaultdict(int)
        self.ack_sent: dict[str, int] = defaultdict(int)
        self.max_outstanding = 0
        self.batches = 0
        self.largest_batch = 0
        self.syncs: list[p.SyncRequest] = []
        self.claims: list[p.CouponClaim] = []
        self.heartbeats: list[p.Heartbeat] = []
        self.statuses: list[tuple[str, str, bool]] = []
        """(kiosk_id, state, retained) in arrival order."""
        self.errors: list[str] = []
        self.acks_log: list[tuple[int, int | None, int]] = []
        self.connected = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.on_subscribe = self._on_subscribe
        self._client.reconnect_delay_set(0.05, 0.2)  # type: ignore[arg-type]

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> CoordinatorPeer:
        """Connect; a persistent session keeps messages for us across broker restarts."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600 if self.persistent else 0
        self._client.connect_async(
            self.broker.host,
            self.broker.port,
            keepalive=5,
            clean_start=not self.persistent,
            properties=props,
        )
        self._client.loop_start()
        if not self.connected.wait(10):
            raise RuntimeError("test coordinator could not connect to the broker")
        return self

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        client.subscribe(
            [
                (topics.subscription(channel), 1)
                for channel in (
                    Channel.EVENTS,
                    Channel.SYNC,
                    Channel.CLAIM,
                    Channel.HEARTBEAT,
                    Channel.STATUS,
                )
            ]
        )

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # type: ignore[no-untyped-def]
        self.connected.set()  # subscribed: from now on nothing a kiosk publishes is missed

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        self.connected.clear()

    # --- coordinator behaviour ---------------------------------------------------------------

    def _on_message(self, client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        try:
            parsed = topics.parse(message.topic)
            decoded = p.decode(message.payload)
            if not topics.allowed(parsed.channel, decoded):
                raise ValueError(f"{type(decoded).__name__} on {parsed.channel}")
            if isinstance(decoded, p.EventBatch):
                self._on_batch(decoded)
            elif isinstance(decoded, p.SyncRequest):
                with self._cv:
                    self.syncs.append(decoded)
                    applied = self.contiguous[decoded.kiosk_id]
                    self._cv.notify_all()
                if self.auto_ack and self.answer_syncs:  # like the coordinator: say where we are
                    behind = decoded.last_seq > applied
                    self.ack(decoded.kiosk_id, applied, resend_from=applied + 1 if behind else None)
            elif isinstance(decoded, p.CouponClaim):
                with self._cv:
                    self.claims.append(decoded)
                    self._cv.notify_all()
                answer = self.claim_answer(decoded) if self.claim_answer else None
                if answer is not None:
                    self.send_direct(decoded.kiosk_id, answer)
            elif isinstance(decoded, p.Heartbeat):
                with self._cv:
                    self.heartbeats.append(decoded)
                    self._cv.notify_all()
            elif isinstance(decoded, p.Status):
                with self._cv:
                    self.statuses.append((decoded.kiosk_id, decoded.state, bool(message.retain)))
                    self._cv.notify_all()
        except Exception as exc:  # recorded so the test can fail with it
            with self._cv:
                self.errors.append(f"{message.topic}: {exc!r}")
                self._cv.notify_all()

    def _on_batch(self, batch: p.EventBatch) -> None:
        kiosk = batch.kiosk_id
        seqs = [event.seq for event in batch.events]
        gap_at: int | None = None
        with self._cv:
            if seqs != sorted(seqs):
                self.errors.append(f"batch out of order: {seqs[:5]}...")
            self.batches += 1
            self.largest_batch = max(self.largest_batch, len(seqs))
            self.max_outstanding = max(self.max_outstanding, max(seqs) - self.ack_sent[kiosk])
            for seq in seqs:
                self.received_seqs.append(seq)
                if seq not in self._seen:
                    self._seen.add(seq)
                    self.first_seen.append(seq)
                if seq == self.contiguous[kiosk] + 1:
                    self.contiguous[kiosk] = seq
                elif seq > self.contiguous[kiosk] + 1 and gap_at is None:
                    gap_at = self.contiguous[kiosk] + 1
            acked = self.contiguous[kiosk]
            self._cv.notify_all()
        if self.auto_ack:
            self.ack(kiosk, acked, resend_from=gap_at)

    def ack(self, kiosk_id: str, acked_seq: int, resend_from: int | None = None) -> None:
        """Send an Ack (like the coordinator after its commit)."""
        now = time.time_ns() // 1_000_000 + self.clock_skew_ms
        with self._cv:
            self.ack_sent[kiosk_id] = max(self.ack_sent[kiosk_id], acked_seq)
            self.acks_log.append((acked_seq, resend_from, len(self.received_seqs)))
        message = p.Ack(
            kiosk_id=kiosk_id,
            acked_seq=acked_seq,
            resend_from=resend_from,
            hlc_ms=now,
            coordinator_wall_ms=now,
        )
        self.publish(topics.kiosk_topic(kiosk_id, Channel.ACK), p.encode(message))

    def send_direct(self, kiosk_id: str, message: p.Message) -> None:
        """Publish a message on the kiosk's own down-channel."""
        self.publish(topics.kiosk_topic(kiosk_id, Channel.DIRECT), p.encode(message))

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish raw bytes (tests use this for malformed payloads too)."""
        self._client.publish(topic, payload, qos=qos, retain=retain)

    # --- waiting -----------------------------------------------------------------------------

    def wait(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
        """Block until ``predicate()`` holds (evaluated under the peer's lock)."""
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cv.wait(min(remaining, 0.2))
            return True
