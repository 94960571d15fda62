"""A stand-in for the coordinator's coupon-claim handler, speaking the real protocol over MQTT.

The kiosk tests need only one coordinator behaviour (answer a ``CouponClaim`` with a
``ClaimResult``); running the whole coordinator would tie these tests to another area's
work in progress. The stub uses the shared codec and topic tree, so the kiosk's link sees
exactly what the coordinator would send.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from shared import protocol as p
from shared import topics
from shared.reasons import RejectReason
from shared.topics import Channel

log = logging.getLogger(__name__)


class ClaimStub:
    """Grants (or refuses) every coupon claim, optionally after a delay."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        grant: bool = True,
        reason: RejectReason | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self.grant = grant
        self.reason = reason
        self.delay_s = delay_s
        self.claims: list[p.CouponClaim] = []
        self._host, self._port = host, port
        self._subscribed = threading.Event()
        self._stop = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="claim-stub", protocol=mqtt.MQTTv5
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def start(self) -> ClaimStub:
        """Connect and wait until subscribed."""
        self._client.connect(self._host, self._port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            self.stop()
            raise RuntimeError("claim stub could not subscribe")
        return self

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self._stop.set()
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe(topics.subscription(Channel.CLAIM), qos=1)

    def _on_subscribe(self, *args: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            claim = p.decode_as(msg.payload, p.CouponClaim)
        except Exception:
            log.exception("claim stub: bad claim on %s", msg.topic)
            return
        self.claims.append(claim)
        if self.delay_s and self._stop.wait(self.delay_s):
            return
        result = p.ClaimResult(
            claim_id=claim.claim_id,
            coupon_id=claim.coupon_id,
            granted=self.grant,
            reason=None if self.grant else self.reason,
        )
        client.publish(topics.kiosk_topic(claim.kiosk_id, Channel.DIRECT), p.encode(result), qos=1)
