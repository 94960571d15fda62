"""The Type 2 card model on its own: memory layout and ISO 14443-3 behaviour."""

from __future__ import annotations

import pytest

from simulators.nfc.card import VirtualCard, ndef_message
from simulators.nfc.profiles import NTAG213, NTAG215, NTAG216, TYPE2_GENERIC
from simulators.nfc.type2 import ACK, NAK, State, Type2Card

UID = bytes.fromhex("04A1B2C3D4E5F6")


def select(card: Type2Card) -> None:
    assert card.handle(b"\x26") == b"\x44\x00"
    cl1 = card.handle(b"\x93\x20")
    assert cl1 is not None and cl1[0] == 0x88
    assert card.handle(b"\x93\x70" + cl1) == b"\x04"  # cascade: more UID to come
    cl2 = card.handle(b"\x95\x20")
    assert cl2 is not None
    assert card.handle(b"\x95\x70" + cl2) == b"\x00"  # complete, Type 2 (SAK 00)
    assert card.state is State.ACTIVE


@pytest.mark.parametrize(
    ("profile", "data_bytes"), [(NTAG213, 144), (NTAG215, 496), (NTAG216, 872)]
)
def test_ntag_memory_layout(profile: object, data_bytes: int) -> None:
    card = Type2Card(profile, UID, ndef_message(text="M-1001"))  # type: ignore[arg-type]
    mem = card.memory
    assert mem[0:3] == UID[0:3] and mem[3] == 0x88 ^ UID[0] ^ UID[1] ^ UID[2]
    assert mem[4:8] == UID[3:7] and mem[8] == UID[3] ^ UID[4] ^ UID[5] ^ UID[6]
    assert mem[10:12] == b"\x00\x00"  # static lock bytes
    assert mem[12] == 0xE1 and mem[13] == 0x10 and mem[14] * 8 == data_bytes
    assert mem[16] == 0x03  # NDEF message TLV
    length = mem[17]
    assert mem[18 + length] == 0xFE  # terminator TLV


def test_read_returns_16_bytes_and_rolls_over() -> None:
    card = Type2Card(NTAG215, UID, None)
    select(card)
    assert card.handle(b"\x30\x00") == bytes(card.memory[0:16])
    last = NTAG215.total_pages - 1
    answer = card.handle(bytes([0x30, last]))
    assert answer is not None and len(answer) == 16
    assert answer[4:8] == bytes(card.memory[0:4])  # rolled over to page 0


def test_read_beyond_memory_naks_and_goes_idle() -> None:
    card = Type2Card(NTAG213, UID, None)
    select(card)
    assert card.handle(bytes([0x30, NTAG213.total_pages])) == NAK
    assert card.state is State.IDLE
    assert card.handle(b"\x30\x00") is None  # mute until selected again


def test_get_version_and_unsupported_command() -> None:
    card = Type2Card(NTAG215, UID, None)
    select(card)
    assert card.handle(b"\x60") == bytes.fromhex("0004040201001103")
    assert card.handle(b"\x1a\x00") == NAK  # Ultralight C authenticate: not an NTAG command
    assert card.state is State.IDLE


def test_select_by_uid_without_anticollision() -> None:
    """What nfcpy does to re-find the same card: SENS_REQ then SEL_REQ with known UID."""
    card = Type2Card(NTAG215, UID, None)
    card.handle(b"\x26")
    cl1 = b"\x88" + UID[0:3] + bytes([0x88 ^ UID[0] ^ UID[1] ^ UID[2]])
    assert card.handle(b"\x93\x70" + cl1) == b"\x04"
    cl2 = UID[3:7] + bytes([UID[3] ^ UID[4] ^ UID[5] ^ UID[6]])
    assert card.handle(b"\x95\x70" + cl2) == b"\x00"


def test_halted_card_answers_only_wakeup() -> None:
    card = Type2Card(NTAG215, UID, None)
    select(card)
    assert card.handle(b"\x50\x00") is None
    assert card.handle(b"\x26") is None
    assert card.handle(b"\x52") == b"\x44\x00"


def test_write_user_page_and_refuse_config_page() -> None:
    card = Type2Card(NTAG215, UID, None)
    select(card)
    assert card.handle(b"\xa2\x04\x01\x02\x03\x04") == ACK
    assert card.handle(b"\x30\x04")[0:4] == b"\x01\x02\x03\x04"  # type: ignore[index]
    assert card.handle(bytes([0xA2, NTAG215.config_page or 0]) + b"\x00" * 4) == NAK


def test_four_byte_uid_card() -> None:
    card = Type2Card(TYPE2_GENERIC, bytes.fromhex("A1B2C3D4"), None)
    assert card.handle(b"\x26") == b"\x04\x00"  # single-size UID
    cl1 = card.handle(b"\x93\x20")
    assert cl1 == bytes.fromhex("A1B2C3D4") + bytes([0xA1 ^ 0xB2 ^ 0xC3 ^ 0xD4])
    assert card.handle(b"\x93\x70" + cl1) == b"\x00"


def test_card_refuses_wrong_uid_size_and_oversized_ndef() -> None:
    with pytest.raises(ValueError, match="7-byte UID"):
        VirtualCard("A1B2C3D4", "ntag215")
    with pytest.raises(ValueError, match="does not fit"):
        VirtualCard("04A1B2C3D4E5F6", "ntag213", ndef_text="x" * 200)
    with pytest.raises(ValueError, match="unknown card type"):
        VirtualCard("04A1B2C3D4E5F6", "mifare_classic")
    with pytest.raises(ValueError, match="not hex"):
        VirtualCard("zz", "ntag215")
