"""Fixtures for the link tests: a private broker, a test coordinator, ledgers and links."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from device.link import KioskLink, LinkSettings
from simulators.broker import Broker
from tests.link.ledgers import RecordingLedger
from tests.link.peer import CoordinatorPeer
from tests.support.links import fast_link_settings


@pytest.fixture
def peer(broker: Broker) -> Iterator[CoordinatorPeer]:
    """The test coordinator, connected and subscribed."""
    c = CoordinatorPeer(broker).start()
    try:
        yield c
    finally:
        c.stop()
    assert not c.errors, c.errors


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[RecordingLedger]:
    """The real kiosk ledger (kiosk k1 of store s1) the link drains; closed at teardown."""
    led = RecordingLedger.open(tmp_path / "kiosk")
    try:
        yield led
    finally:
        led.close()


@pytest.fixture
def make_link(broker: Broker, ledger: RecordingLedger) -> Iterator[Callable[..., KioskLink]]:
    """Build and start links; every one is stopped at teardown (before the ledger closes)."""
    links: list[KioskLink] = []

    def _make(ledger: Any, start: bool = True, **kwargs: Any) -> KioskLink:
        fields = LinkSettings.model_fields
        overrides = {k: kwargs.pop(k) for k in list(kwargs) if k in fields}
        link = KioskLink(fast_link_settings(broker.port, **overrides), ledger, **kwargs)
        links.append(link)
        if start:
            link.start()
        return link

    try:
        yield _make
    finally:
        for link in links:
            link.stop(timeout_s=2)
