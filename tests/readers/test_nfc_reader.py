"""nfcpy's real reader code reading simulated cards over its udp transport.

Every test runs the production ``NfcReader`` (nfcpy ``ContactlessFrontend`` on
``udp:127.0.0.1:PORT``) against virtual cards that answer on that port.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest

from device.errors import DeviceError
from device.readers.base import CardRead, HealthState, NdefRecord
from device.readers.errors import ReaderUnavailable
from device.readers.nfc_reader import (
    FrontendFactory,
    NfcReader,
    NfcReaderConfig,
    free_nfc_udp_port,
    open_frontend,
    udp_port_problem,
)
from simulators.nfc.card import VirtualCard, present_card
from simulators.nfc.faults import UnpluggableReader
from tests.support.readers import Collector

NTAG_UID = "04A1B2C3D4E5F6"
FELICA_IDM = "012E4CD1A2B3C4D5"

MakeReader = Callable[..., NfcReader]


@pytest.fixture
def make_reader(udp_port: int) -> Iterator[MakeReader]:
    """Build readers on the test's udp port; every one is stopped at teardown."""
    readers: list[NfcReader] = []

    def make(
        targets: tuple[str, ...] = ("106A",),
        factory: FrontendFactory = open_frontend,
        path: str | None = None,
        **overrides: object,
    ) -> NfcReader:
        config = NfcReaderConfig(
            path=path or f"udp:127.0.0.1:{udp_port}",
            targets=targets,
            rearm_s=0.0,
            retry_initial_s=0.05,
            retry_max_s=0.2,
            **overrides,  # type: ignore[arg-type]
        )
        reader = NfcReader(config, frontend_factory=factory)
        readers.append(reader)
        return reader

    yield make
    for reader in readers:
        reader.stop()


@pytest.mark.parametrize(
    ("card_type", "product"),
    [
        ("ntag213", "NXP NTAG213"),
        ("ntag215", "NXP NTAG215"),
        ("ntag216", "NXP NTAG216"),
        ("ultralight_ev1", "Mifare Ultralight EV1 (MF0UL11)"),
    ],
)
def test_type2_card_uid_and_ndef_read_by_nfcpy(
    make_reader: MakeReader, udp_port: int, card_type: str, product: str
) -> None:
    taps: Collector[CardRead] = Collector()
    with present_card(NTAG_UID, card_type, port=udp_port, ndef_text="member M-1001") as card:
        reader = make_reader()
        reader.start(taps)
        assert taps.wait_for(1), f"no tap; reader health {reader.health}"
        assert card.commands > 0  # nfcpy really exchanged commands with the card
    read = taps.items[0]
    assert read.uid == NTAG_UID
    assert read.family == "type2"
    assert read.product == product
    assert read.ndef == (NdefRecord("text", "member M-1001", "en"),)
    assert read.text_records() == ("member M-1001",)


def test_type2_card_with_4_byte_uid(make_reader: MakeReader, udp_port: int) -> None:
    taps: Collector[CardRead] = Collector()
    with present_card("A1B2C3D4", "type2", port=udp_port, ndef_uri="https://t.example/m/7"):
        make_reader().start(taps)
        assert taps.wait_for(1)
    assert taps.items[0].uid == "A1B2C3D4"
    assert taps.items[0].ndef == (NdefRecord("uri", "https://t.example/m/7"),)


def test_type3_felica_card_idm_and_ndef_read_by_nfcpy(
    make_reader: MakeReader, udp_port: int
) -> None:
    taps: Collector[CardRead] = Collector()
    with present_card(
        FELICA_IDM, "felica", port=udp_port, ndef_text="学员 M-2002", ndef_uri="tel:+861234"
    ) as card:
        make_reader(targets=("212F",)).start(taps)
        assert taps.wait_for(1)
        assert card.commands > 0
    read = taps.items[0]
    assert read.uid == FELICA_IDM
    assert read.family == "type3"
    assert read.product == "FeliCa Standard (RC-S915)"
    assert read.ndef == (NdefRecord("text", "学员 M-2002", "en"), NdefRecord("uri", "tel:+861234"))


def test_card_without_ndef_still_gives_its_uid(make_reader: MakeReader, udp_port: int) -> None:
    taps: Collector[CardRead] = Collector()
    with present_card(NTAG_UID, "ntag215", port=udp_port):
        make_reader().start(taps)
        assert taps.wait_for(1)
    assert taps.items[0].uid == NTAG_UID
    assert taps.items[0].ndef == ()


@pytest.mark.slow
def test_both_card_families_on_one_reader_polling_both(
    make_reader: MakeReader, udp_port: int
) -> None:
    taps: Collector[CardRead] = Collector()
    reader = make_reader(targets=("106A", "212F"))
    reader.start(taps)
    with present_card(NTAG_UID, "ntag213", port=udp_port):
        assert taps.wait_for(1)
    assert reader.wait_for_presence(None, 10)
    with present_card(FELICA_IDM, "felica", port=udp_port):
        assert taps.wait_for(2)
    assert [t.uid for t in taps.items] == [NTAG_UID, FELICA_IDM]
    assert [t.family for t in taps.items] == ["type2", "type3"]


@pytest.mark.parametrize("card_type", ["ntag215", "felica"])
def test_held_card_is_one_tap_and_represented_card_is_a_second(
    make_reader: MakeReader, udp_port: int, card_type: str
) -> None:
    uid = NTAG_UID if card_type == "ntag215" else FELICA_IDM
    targets = ("106A",) if card_type == "ntag215" else ("212F",)
    taps: Collector[CardRead] = Collector()
    reader = make_reader(targets=targets, presence_interval_s=0.02)
    card = VirtualCard(uid, card_type)
    with card.present(udp_port):
        reader.start(taps)
        assert taps.wait_for(1)
        assert reader.present_uid == uid
        # Let the reader run many presence checks against the held card.
        answered = card.answers
        assert card.wait_for_answers(answered + 10)
        assert len(taps.items) == 1
    assert reader.wait_for_presence(None, 10)  # the reader noticed the card left
    assert len(taps.items) == 1
    with card.present(udp_port):
        assert taps.wait_for(2)
    assert [t.uid for t in taps.items] == [uid, uid]
    assert taps.items[1].read_at > taps.items[0].read_at
    assert reader.taps == 2


def test_reader_disappears_mid_session_and_returns(
    make_reader: MakeReader, udp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Simulated: the USB cable is pulled while a card lies on the reader.

    ``UnpluggableReader`` makes nfcpy's driver object raise ENODEV, as nfcpy's USB driver
    does after an unplug, and makes opening find no reader until it is plugged back in.
    """
    cable = UnpluggableReader()
    taps: Collector[CardRead] = Collector()
    reader = make_reader(factory=cable.factory)
    reader.start(taps)
    with present_card(NTAG_UID, "ntag215", port=udp_port):
        assert taps.wait_for(1)
        assert reader.health.state is HealthState.OK
        cable.unplug()
        assert reader.wait_for_health(HealthState.UNAVAILABLE, 10)
    health = reader.health
    # First the session fails (ENODEV mid-exchange), then reopening finds no reader.
    assert any(
        "reader failed" in r.getMessage() and "No such device" in r.getMessage()
        for r in caplog.records
    )
    assert health.detail  # the operator sees why
    assert health.message("en") == "Card reader unavailable, use QR."
    assert "二维码" in health.message("zh")
    assert health.to_dict()["state"] == "unavailable"
    assert reader.wait_for_presence(None, 5)

    cable.replug()
    assert reader.wait_for_health(HealthState.OK, 10)
    assert reader.health.message("en") == ""
    with present_card("04112233445566", "ntag213", port=udp_port):
        assert taps.wait_for(2)
    assert [t.uid for t in taps.items] == [NTAG_UID, "04112233445566"]
    assert cable.opens == 2


def test_reader_missing_at_start_then_plugged_in(make_reader: MakeReader, udp_port: int) -> None:
    """Simulated: the kiosk boots before the reader is plugged in."""
    cable = UnpluggableReader(plugged=False)
    taps: Collector[CardRead] = Collector()
    reader = make_reader(factory=cable.factory)
    reader.start(taps)
    assert reader.wait_for_health(HealthState.UNAVAILABLE, 5)
    first = reader.health
    assert "no NFC reader found" in first.detail
    with present_card(NTAG_UID, "ntag215", port=udp_port):
        cable.replug()
        assert reader.wait_for_health(HealthState.OK, 10)
        assert taps.wait_for(1)
    assert reader.health.since_ms >= first.since_ms
    assert taps.items[0].uid == NTAG_UID


def test_real_usb_path_without_a_reader_is_unavailable_not_fatal(
    make_reader: MakeReader,
) -> None:
    """No USB reader is attached here: nfcpy's real USB search fails and is reported."""
    reader = make_reader(path="usb:054c:06c1")
    reader.start(lambda read: None)
    assert reader.wait_for_health(HealthState.UNAVAILABLE, 10)
    assert "usb:054c:06c1" in reader.health.detail
    assert reader.health.message("en") == "Card reader unavailable, use QR."


def _named_udp_port() -> int | None:
    """A port this machine's /etc/services names (nfcpy's udp transport trips on those)."""
    for port in (60179, 5353, 123, 53):
        if not socket.getnameinfo(("127.0.0.1", port), socket.NI_NUMERICHOST)[1].isdigit():
            return port
    return None


def test_udp_port_with_a_service_name_is_refused_in_words(make_reader: MakeReader) -> None:
    """CI once drew port 60179 ("fido"): nfcpy failed with "invalid literal for int()".

    Such a path can never work, so it is refused at start, in words (a ReaderError, which
    ``tapfleet kiosk`` reports in one line: tests/kiosk/test_cli.py).
    """
    port = _named_udp_port()
    if port is None:
        pytest.skip("no /etc/services names on this machine")
    assert udp_port_problem(f"udp:127.0.0.1:{port}") is not None
    reader = make_reader(path=f"udp:127.0.0.1:{port}")
    with pytest.raises(ReaderUnavailable, match=f"nfcpy cannot use udp port {port}") as caught:
        reader.start(lambda read: None)
    assert "invalid literal" not in str(caught.value)
    assert isinstance(caught.value, DeviceError)
    # what the simulators and tests pick is always usable
    for _ in range(200):
        assert udp_port_problem(f"udp:127.0.0.1:{free_nfc_udp_port()}") is None


@pytest.mark.allow_logged_exceptions
def test_failing_callback_is_counted_and_the_reader_keeps_reading(
    make_reader: MakeReader, udp_port: int
) -> None:
    seen: Collector[CardRead] = Collector()

    def on_card(read: CardRead) -> None:
        seen(read)
        if len(seen.items) == 1:
            raise RuntimeError("kiosk handler bug")

    reader = make_reader()
    reader.start(on_card)
    with present_card(NTAG_UID, "ntag215", port=udp_port):
        assert seen.wait_for(1)
    with present_card("04112233445566", "ntag215", port=udp_port):
        assert seen.wait_for(2)
    assert reader.callback_errors == 1
    assert reader.health.state is HealthState.OK


def test_stop_joins_the_thread_and_reports_stopped(make_reader: MakeReader) -> None:
    reader = make_reader(targets=("106A", "212F"))
    reader.start(lambda read: None)
    assert reader.wait_for_health(HealthState.OK, 5)
    thread = reader._thread
    assert thread is not None and thread.is_alive()
    reader.stop()
    assert not thread.is_alive()
    assert reader.health.state is HealthState.STOPPED
