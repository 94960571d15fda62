"""Fixtures of the security suite: the secured broker and test-data builders."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.events import CheckIn, Event, EventBody
from simulators.broker import Broker
from tests.security.stack import start_secure_broker


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[Broker]:
    """Mosquitto with the shipped config, authentication on, no kiosk users yet."""
    broker = start_secure_broker(tmp_path)
    try:
        yield broker
    finally:
        broker.stop()


def make_event(
    kiosk_id: str,
    store_id: str,
    seq: int,
    member_id: str | None = "m1",
    body: EventBody | None = None,
) -> Event:
    """A well-formed kiosk event (a check-in unless ``body``)."""
    now = time.time_ns() // 1_000_000
    return Event(
        event_id=uuid.uuid4().hex,
        kiosk_id=kiosk_id,
        store_id=store_id,
        seq=seq,
        hlc_ms=now,
        wall_ms=now,
        member_id=member_id,
        offline=False,
        body=body or CheckIn(points=10),
    )
