"""The coordinator's MQTT connection (paho-mqtt 2.x, VERSION2 callbacks, MQTT v5).

* Persistent session (``clean_start=False`` with a session expiry): QoS 1 messages wait in
  the broker while the coordinator restarts.
* Manual acknowledgement: a QoS 1 message is PUBACKed only after its effect is committed
  (or it was rejected and counted), so a crash mid-way makes the broker redeliver it.
* ``ReceiveMaximum`` bounds the unacknowledged messages in our memory (back-pressure).
* Subscriptions are given by the ingest's handler registry and renewed on every connect.

The paho network thread only enqueues; all work happens on the ingest worker.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from coordinator.errors import CoordinatorError
from coordinator.settings import CoordinatorSettings
from shared.backoff import Backoff

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 15.0
"""Reconnect delays (jittered, :class:`shared.backoff.Backoff`): replicas that lost the
broker together do not knock again in lockstep."""

_PUBACK_WAIT_S = 30.0
"""How long :meth:`MqttLink.publish_all` waits for one PUBACK before moving on anyway."""


@dataclass(frozen=True)
class Incoming:
    """One received MQTT message, waiting for the ingest worker."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    retain: bool
    received_ms: int
    generation: int
    """Connection number it arrived on; a PUBACK is only sent on that same connection."""


class MqttLink:
    """Owns the paho client: connect, subscribe, publish, acknowledge."""

    def __init__(
        self,
        settings: CoordinatorSettings,
        *,
        on_message: Callable[[Incoming], None],
        subscriptions: Sequence[tuple[str, int]],
        wall_ms: Callable[[], int],
    ):
        self._settings = settings
        self._on_message = on_message
        self._subscriptions = list(subscriptions)
        self._wall_ms = wall_ms
        self._generation = 0
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._pending_subscribe: int | None = None
        self.connects = 0
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=settings.mqtt_client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if settings.mqtt_username:
            password = settings.mqtt_password
            client.username_pw_set(
                settings.mqtt_username, password.get_secret_value() if password else None
            )
        if settings.mqtt_ca_file is not None:
            try:
                client.tls_set(
                    ca_certs=str(settings.mqtt_ca_file),
                    certfile=str(settings.mqtt_cert_file) if settings.mqtt_cert_file else None,
                    keyfile=str(settings.mqtt_key_file) if settings.mqtt_key_file else None,
                )
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                raise CoordinatorError(
                    f"cannot load the broker TLS files (mqtt_ca_file={settings.mqtt_ca_file}, "
                    f"mqtt_cert_file={settings.mqtt_cert_file}, "
                    f"mqtt_key_file={settings.mqtt_key_file}): {exc}; fix the paths"
                ) from exc
        self._backoff = Backoff(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(100)
        client.on_connect = self._handle_connect
        client.on_connect_fail = self._handle_connect_fail
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_subscribe = self._handle_subscribe
        self._client = client

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (retrying until the broker answers) and start the loop."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._settings.mqtt_session_expiry_s
        props.ReceiveMaximum = self._settings.mqtt_receive_maximum
        self._client.connect_async(
            self._settings.mqtt_host,
            self._settings.mqtt_port,
            keepalive=self._settings.mqtt_keepalive_s,
            clean_start=False,
            properties=props,
        )
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect cleanly (the session stays on the broker) and stop the loop."""
        try:
            self._client.disconnect()
        finally:
            self._client.loop_stop()
            self.connected.clear()

    def wait_ready(self, timeout: float) -> bool:
        """Wait until connected and subscribed."""
        deadline = time.monotonic() + timeout
        return self.connected.wait(timeout) and self.subscribed.wait(
            max(0.0, deadline - time.monotonic())
        )

    # -- outgoing ---------------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, qos: int, *, retain: bool = False) -> bool:
        """Queue a message (paho sends it now, or after reconnecting); False if refused."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
            log.warning("publish to %s refused by paho: %s", topic, mqtt.error_string(info.rc))
            return False
        return True

    def publish_all(
        self, topic: str, payloads: Iterable[bytes], qos: int, *, window: int = 4
    ) -> int:
        """Queue a stream of messages, pulling the next payload only while fewer than
        ``window`` sent ones wait for the broker's PUBACK: a producer that builds payloads
        as they are pulled (a member snapshot) stays that close to the network instead of
        piling everything into paho's queue. Returns how many were queued."""
        pending: deque[mqtt.MQTTMessageInfo] = deque()
        queued = 0
        for payload in payloads:
            info = self._client.publish(topic, payload, qos=qos)
            if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
                log.warning("publish to %s refused by paho: %s", topic, mqtt.error_string(info.rc))
                continue
            queued += 1
            if qos == 0:
                continue
            pending.append(info)
            while len(pending) >= window:
                oldest = pending.popleft()
                if self.connected.is_set():
                    # Failing: the connection dropped, and paho resends it after reconnecting.
                    with contextlib.suppress(RuntimeError, ValueError):
                        oldest.wait_for_publish(_PUBACK_WAIT_S)
        return queued

    def ack(self, message: Incoming) -> None:
        """PUBACK a QoS 1 message once its effect is durable."""
        if message.qos == 0:
            return
        with self._lock:
            same_connection = message.generation == self._generation and self.connected.is_set()
        if same_connection:
            self._client.ack(message.mid, message.qos)
        # Otherwise the broker redelivers it on the new connection; that copy is acked.

    # -- paho callbacks (network thread) ----------------------------------------------------

    def _handle_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.warning("broker refused the coordinator's connection: %s", reason)
            return
        self._backoff.reset()
        with self._lock:
            self._generation += 1
            self.connects += 1
        self.connected.set()
        log.info(
            "connected to %s://%s:%d (session present: %s)",
            "mqtts" if self._settings.mqtt_ca_file else "mqtt",
            self._settings.mqtt_host,
            self._settings.mqtt_port,
            flags.session_present,
        )
        if self._subscriptions:
            self.subscribed.clear()
            result, mid = client.subscribe(self._subscriptions)
            self._pending_subscribe = mid
            if result != mqtt.MQTT_ERR_SUCCESS:
                log.warning("subscribe failed: %s", mqtt.error_string(result))
        else:
            self.subscribed.set()

    def _handle_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        _props: Properties | None,
    ) -> None:
        failed = [
            (topic, str(code))
            for (topic, _), code in zip(self._subscriptions, reasons, strict=False)
            if code.is_failure
        ]
        if failed:
            log.warning("broker refused subscriptions: %s", failed)
        if mid == self._pending_subscribe:
            self.subscribed.set()

    def _handle_disconnect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self.connected.clear()
        self.subscribed.clear()
        delay = self._schedule_reconnect(client)
        if reason.is_failure:
            log.warning("lost the broker connection (%s); reconnecting in %.1f s", reason, delay)

    def _handle_connect_fail(self, client: mqtt.Client, _userdata: Any) -> None:
        delay = self._schedule_reconnect(client)
        log.log(
            logging.WARNING if self._backoff.failures == 1 else logging.INFO,
            "cannot reach broker %s:%d; retrying in %.1f s (attempt %d)",
            self._settings.mqtt_host,
            self._settings.mqtt_port,
            delay,
            self._backoff.failures,
        )

    def _schedule_reconnect(self, client: mqtt.Client) -> float:
        # paho's own backoff has no jitter; it is fed one jittered delay at a time.
        delay = self._backoff.next_delay()
        client.reconnect_delay_set(delay, delay)  # type: ignore[arg-type]
        return delay

    def _handle_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            generation = self._generation
        self._on_message(
            Incoming(
                topic=msg.topic,
                payload=bytes(msg.payload),
                qos=msg.qos,
                mid=msg.mid,
                retain=bool(msg.retain),
                received_ms=self._wall_ms(),
                generation=generation,
            )
        )
