"""Fixtures for the kiosk tests: a running KioskApp on real parts, a broker, and Chromium.

* ``kiosk_factory`` starts a real :class:`device.app.KioskApp` (real SQLite ledger seeded as
  after a sync, real nfcpy reader on the ``udp`` transport, real MQTT link, real uvicorn UI)
  and stops it at teardown.
* ``broker`` (from ``tests/conftest.py``) is a private Mosquitto with the shipped config.
* ``page`` is a fresh page in headless Chromium (``/usr/bin/chromium`` through playwright),
  1024x600 like the Pi touchscreen; on failure a screenshot goes to ``artifacts_dir``, and a
  JavaScript error on the page fails the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from device.app import KioskApp
from device.settings import KioskSettings
from device.staff_pin import hash_pin
from shared.model import QrKey
from simulators.broker import Broker
from simulators.nfc import VirtualCard
from simulators.ports import free_tcp_port, free_udp_port
from simulators.waiting import wait_until
from tests.kiosk.seed import ANNA, BOB, STAFF_CARD, STUDENT, STUDENT2, Person, seed_ledger
from tests.support.hashing import TEST_HASH_COST

STAFF_PIN = "2468"
STAFF_PIN_HASH = hash_pin(STAFF_PIN, cost=TEST_HASH_COST)
"""Cheap cost: tests log in many times (production cost is tested in tests/security)."""


# --- kiosk --------------------------------------------------------------------------------------


@dataclass
class RunningKiosk:
    """A started KioskApp and the udp port its card reader listens for cards on."""

    app: KioskApp
    nfc_port: int | None
    cards: list[VirtualCard] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Base URL of the UI."""
        return self.app.ui_url

    def present(self, uid: str) -> VirtualCard:
        """Put a simulated card on the reader (remove it with :meth:`remove`)."""
        assert self.nfc_port is not None, "this kiosk has no udp card reader"
        card = VirtualCard(uid).present(self.nfc_port)
        self.cards.append(card)
        return card

    def remove_all(self) -> None:
        """Lift every card off the reader."""
        for card in self.cards:
            card.remove()
        self.cards.clear()

    def tap(self, uid: str, timeout_s: float = 15.0) -> None:
        """Tap a card: present it until the reader has read it, then lift it."""
        reader: Any = self.app.card_reader
        before = reader.taps
        self.present(uid)
        try:
            wait_until(lambda: reader.taps > before, timeout_s, f"the reader to read {uid}")
        finally:
            self.remove_all()
        wait_until(lambda: reader.present_uid is None, timeout_s, f"card {uid} to leave")


KioskFactory = Callable[..., RunningKiosk]


@pytest.fixture
def kiosk_factory(tmp_path: Path) -> Iterator[KioskFactory]:
    """Start kiosks on real parts; every one is stopped (threads joined) at teardown."""
    running: list[RunningKiosk] = []

    def make(
        *,
        nfc: str = "udp",
        broker: Broker | None = None,
        with_class: bool = False,
        people: tuple[Person, ...] = (ANNA, BOB, STUDENT, STUDENT2),
        kiosk_id: str = "k-s1-1",
        store_id: str = "s1",
        ui: dict[str, Any] | None = None,
        staff: dict[str, Any] | None = None,
        link: dict[str, Any] | None = None,
        camera: str | None = None,
        qr_keys: tuple[QrKey, ...] = (),
        drop_in_fen: int = 0,
    ) -> RunningKiosk:
        ledger_path = tmp_path / kiosk_id / "ledger.sqlite"
        seed_ledger(
            ledger_path,
            kiosk_id=kiosk_id,
            store_id=store_id,
            people=people,
            with_class=with_class,
            qr_keys=qr_keys,
            drop_in_fen=drop_in_fen,
        )
        nfc_port = free_udp_port() if nfc == "udp" else None
        link_values: dict[str, Any] = {
            # Nobody listens on a fresh free port: the kiosk is offline unless given a broker.
            "host": "127.0.0.1",
            "port": broker.port if broker else free_tcp_port(),
            "keepalive_s": 5,
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.5,
            "online_grace_s": 0.3,
            "heartbeat_interval_s": 3600,
            "idle_poll_s": 3600,
        }
        link_values.update(link or {})
        settings = KioskSettings(
            kiosk_id=kiosk_id,
            store_id=store_id,
            ledger_path=ledger_path,
            # The simulated member cards are all NTAG (106A); polling FeliCa too would
            # cost every poll round another second of udp receive timeout.
            nfc={"path": f"udp:127.0.0.1:{nfc_port}" if nfc_port else nfc, "targets": ["106A"]},
            link=link_values,
            camera={"source": camera},
            ui={"host": "127.0.0.1", "port": 0, "result_display_s": 30, **(ui or {})},
            staff={"pin_hash": STAFF_PIN_HASH, "cards": [STAFF_CARD], **(staff or {})},
        )
        app = KioskApp(settings)
        kiosk = RunningKiosk(app, nfc_port)
        running.append(kiosk)
        app.start()
        if nfc_port is not None:
            reader: Any = app.card_reader
            wait_until(lambda: reader.health.ok, 10, "the udp card reader to open")
        return kiosk

    yield make
    for kiosk in running:
        kiosk.remove_all()
        kiosk.app.stop()


# --- browser ------------------------------------------------------------------------------------


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest, artifacts_dir: Path) -> Iterator[Any]:
    """A fresh 1024x600 page; screenshot on failure; page JavaScript errors fail the test."""
    context = browser.new_context(viewport={"width": 1024, "height": 600})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    (artifacts_dir / "failure.png").unlink(missing_ok=True)  # from an earlier run
    try:
        yield pg
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            pg.screenshot(path=str(artifacts_dir / "failure.png"), full_page=True)
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the kiosk page: {errors}"


def open_kiosk_page(page: Any, kiosk: RunningKiosk) -> None:
    """Load the touchscreen page and wait until its event stream is connected."""
    page.goto(kiosk.url + "/")
    page.wait_for_selector("body[data-ready='1']")
    hub = kiosk.app.hub
    assert hub is not None
    wait_until(lambda: hub.subscribers >= 1, 10, "the page to subscribe to the event stream")
