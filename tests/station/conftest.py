"""Fixtures for the door station tests: the built firmware, a chip, a kiosk, a board."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from device.station_tools.build import build
from simulators.broker import Broker
from simulators.pn532 import PtyChip
from simulators.station import StationBoard
from tests.station.kiosk_process import KEY, ROOM, STATION, KioskProcess, write_kiosk


@pytest.fixture(scope="session")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The firmware as it ships: built once per session with mpy-cross."""
    out = tmp_path_factory.mktemp("firmware")
    build(out)
    return out


@pytest.fixture
def chip() -> Iterator[PtyChip]:
    """A simulated PN532 behind a fresh pty."""
    with PtyChip() as c:
        yield c


@pytest.fixture
def kiosk(tmp_path: Path, broker: Broker) -> Iterator[KioskProcess]:
    """A real kiosk process with the test station enrolled for ``ROOM`` (not started)."""
    k = write_kiosk(
        tmp_path / "kiosk",
        broker=broker,
        stations=[{"station_id": STATION, "room": ROOM, "key": KEY}],
    )
    try:
        yield k
    finally:
        k.stop()


def station_config(kiosk: KioskProcess, **overrides: Any) -> dict[str, Any]:
    """The board's config.json for the test station talking to ``kiosk``."""
    config: dict[str, Any] = {
        "station_id": STATION,
        "key": KEY,
        "kiosk": {"host": "127.0.0.1", "port": kiosk.station_port},
        "wifi": {"ssid": "store-staff", "password": "secret"},
        "request_timeout_ms": 1500,
    }
    config.update(overrides)
    return config


BoardFactory = Callable[..., StationBoard]


@pytest.fixture
def make_board(tmp_path: Path, firmware: Path) -> Iterator[BoardFactory]:
    """Start simulated boards running the built firmware; all stopped at teardown."""
    boards: list[StationBoard] = []

    def make(config: dict[str, Any], chip_path: str, **kwargs: Any) -> StationBoard:
        board = StationBoard(
            tmp_path / f"board{len(boards)}",
            config,
            chip_path=chip_path,
            firmware=firmware,
            **kwargs,
        )
        boards.append(board)
        return board.start()

    yield make
    for board in boards:
        board.stop()
