"""Feeding a coordinator's ingest service directly with wire messages (no broker).

The coordinator under test runs with ``mqtt_enabled=False``; these helpers hand it exactly
what its MQTT link would: an :class:`~coordinator.mqtt.link.Incoming` with the kiosk's
topic and the encoded message, processed by the real ingest (checks, handlers, commit).
Used where a test must choose the receive time of each message.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from coordinator.app import create_app
from coordinator.mqtt.link import Incoming
from coordinator.runtime import Coordinator
from shared import topics
from shared.protocol import Message, encode
from shared.topics import Channel
from tests.dashboard.live import settings_for

_mids = itertools.count(1)


def feed(coord: Coordinator, kiosk_id: str, channel: Channel, message: Message, at_ms: int) -> None:
    """Process one message from ``kiosk_id`` as received at ``at_ms``."""
    coord.ingest.process(
        [
            Incoming(
                topic=topics.kiosk_topic(kiosk_id, channel),
                payload=encode(message),
                qos=1,
                mid=next(_mids),
                retain=channel is Channel.STATUS,
                received_ms=at_ms,
                generation=0,
            )
        ]
    )


class Api:
    """An admin-authenticated TestClient against an app without a broker."""

    def __init__(self, client: TestClient):
        self.client = client
        self.coord: Coordinator = client.app.state.coordinator  # type: ignore[attr-defined]
        r = client.post("/api/v1/auth/token", data={"username": "admin", "password": "admin"})
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def call(self, method: str, path: str, *, expect: int = 200, **kw: Any) -> Any:
        """One call as admin; asserts the status."""
        r = self.client.request(method, path, headers=self.headers, **kw)
        assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.headers.get("content-type", "").startswith("application/json") else r


@contextmanager
def api_without_broker(tmp_path: Path, database: Any = None, **dashboard: Any) -> Iterator[Api]:
    """The coordinator app (started, no MQTT) with its fleet monitor stopped: tests tick it."""
    app = create_app(settings_for(tmp_path, None, **dashboard), database=database)
    with TestClient(app) as client:
        app.state.coordinator.live.monitor.stop()
        yield Api(client)
