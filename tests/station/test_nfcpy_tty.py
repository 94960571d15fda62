"""One chip simulator, two drivers: the kiosk's own reader on nfcpy's real PN532 serial path.

The kiosk's ``NfcReader`` opens ``tty:<pty>:pn532``: nfcpy's serial transport (pyserial)
and its ``pn532`` driver (wake-up, Diagnose line test with extended frames, baud-rate
switch, SAMConfiguration, RF settings, InListPassiveTarget, CIU registers and
InCommunicateThru for the Type 2 commands) talk to the same PN532 simulator the door station
firmware reads, as a Pi with a PN532 on its UART would. No udp transport here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from device.readers.base import CardRead, HealthState
from device.readers.nfc_reader import NfcReader, NfcReaderConfig
from simulators.pn532 import PtyChip
from tests.support.readers import Collector


@pytest.fixture
def reader(chip: PtyChip) -> Iterator[tuple[NfcReader, Collector[CardRead]]]:
    taps: Collector[CardRead] = Collector()
    r = NfcReader(NfcReaderConfig(path=f"tty:{chip.path}:pn532", targets=("106A",)))
    r.start(taps)
    try:
        assert r.wait_for_health(HealthState.OK, 15), r.health
        yield r, taps
    finally:
        r.stop()


def test_nfcpy_reads_cards_through_the_pn532_simulator(
    chip: PtyChip, reader: tuple[NfcReader, Collector[CardRead]]
) -> None:
    r, taps = reader
    chip.place_uid("04A1B2C3D4E5F6", "ntag215")
    assert taps.wait_for(1, 15)
    first = taps.items[0]
    assert (first.uid, first.family, first.product) == ("04A1B2C3D4E5F6", "type2", "NXP NTAG215")
    assert r.wait_for_presence("04A1B2C3D4E5F6", 5)  # held: one tap, presence checks go on
    chip.lift()
    assert r.wait_for_presence(None, 10)
    chip.place_uid("04C1C2C3C4C5C6", "ntag213")
    assert taps.wait_for(2, 15)
    assert taps.items[1].uid == "04C1C2C3C4C5C6"
    assert taps.items[1].product == "NXP NTAG213"
    assert len(taps.items) == 2
    # The chip heard nfcpy's real PN532 command set, including the Type 2 pass-through.
    heard = set(chip.chip.commands)
    assert {0x00, 0x02, 0x14, 0x32, 0x4A, 0x06, 0x08, 0x42} <= heard


def test_a_mute_chip_makes_the_reader_unavailable_with_the_cause(chip: PtyChip) -> None:
    chip.faults.mute = True
    r = NfcReader(
        NfcReaderConfig(path=f"tty:{chip.path}:pn532", targets=("106A",), retry_max_s=0.5)
    )
    r.start(Collector())
    try:
        assert r.wait_for_health(HealthState.UNAVAILABLE, 15)
        assert "no pn532 reader answered" in r.health.detail
    finally:
        r.stop()
