"""Fixtures for the kiosk ledger tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from device.ledger import KioskLedger
from shared.model import MemberLedger
from tests.ledger.builders import FakeClock, open_ledger, provision
from tests.support.factories import bundle, coupon, member, punch_pass, yoga_class

CARD_1 = "04A1B2C3D4E5F6"
CARD_2 = "04AABBCCDDEEFF"


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at T0 (sign-in for the factory yoga class is open)."""
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the test's ledger lives."""
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(db_path: Path, clock: FakeClock) -> Iterator[KioskLedger]:
    """A provisioned ledger: rules with one open yoga class; m1 (pass + coupon), m2."""
    led = open_ledger(db_path, clock)
    m1 = member(
        "m1",
        cards=(CARD_1,),
        ledger=MemberLedger(passes=(punch_pass("p1", 3),), coupons=(coupon("c1"),)),
    )
    m2 = member("m2", cards=(CARD_2,))
    provision(led, [m1, m2], bundle(classes=[yoga_class()]))
    try:
        yield led
    finally:
        led.close()
