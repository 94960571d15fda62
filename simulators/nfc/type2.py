"""An NFC Forum Type 2 card (NTAG21x / Ultralight) as a state machine over raw frames.

``Type2Card.handle(frame)`` takes one command frame as the reader sends it (no CRC: nfcpy's
udp transport carries frames without it) and returns the answer, or None for silence. The
ISO 14443-3 states are modelled because nfcpy relies on them: after an unsupported command
a card goes mute, and nfcpy re-selects it by UID (SENS_REQ, SEL_REQ without SDD_REQ).

ACK and NAK are 4-bit answers on the air; nfcpy's udp transport carries them as one byte
(0x0A ACK, 0x00 NAK), which is what nfcpy's Type 2 code checks for.
"""

from __future__ import annotations

import enum
import operator
from functools import reduce

from simulators.nfc.profiles import Type2Profile

ACK = b"\x0a"
NAK = b"\x00"


class State(enum.Enum):
    """ISO 14443-3 type A card states."""

    IDLE = "idle"
    READY1 = "ready1"
    READY2 = "ready2"
    ACTIVE = "active"
    HALT = "halt"


def _bcc(data: bytes) -> int:
    return reduce(operator.xor, data, 0)


def tlv_wrap(message: bytes) -> bytes:
    """An NDEF message TLV followed by the terminator TLV."""
    if len(message) < 0xFF:
        return b"\x03" + bytes([len(message)]) + message + b"\xfe"
    return b"\x03\xff" + len(message).to_bytes(2, "big") + message + b"\xfe"


def build_memory(profile: Type2Profile, uid: bytes, ndef_message: bytes | None) -> bytearray:
    """The card's memory image: UID pages, lock bytes, CC, NDEF TLV, lock/config pages."""
    memory = bytearray(profile.total_pages * 4)
    if len(uid) == 7:
        memory[0:4] = uid[0:3] + bytes([_bcc(b"\x88" + uid[0:3])])
        memory[4:8] = uid[3:7]
        memory[8] = _bcc(uid[3:7])
    else:
        memory[0:4] = uid
        memory[4] = _bcc(uid)
    memory[9] = 0x48  # "internal" byte
    memory[10:12] = b"\x00\x00"  # static lock bytes: nothing locked
    memory[12:16] = bytes([0xE1, 0x10, profile.cc_size, 0x00])  # CC: NDEF 1.0, read/write
    user = profile.user_pages
    area = bytearray((user.stop - user.start) * 4)
    tlv = tlv_wrap(ndef_message) if ndef_message is not None else b"\x03\x00\xfe"
    if len(tlv) > min(len(area), profile.cc_size * 8):
        raise ValueError(
            f"NDEF message of {len(ndef_message or b'')} bytes does not fit a {profile.name} "
            f"({profile.cc_size * 8} bytes)"
        )
    area[0 : len(tlv)] = tlv
    memory[user.start * 4 : user.stop * 4] = area
    if profile.dynamic_lock_page is not None:
        page = profile.dynamic_lock_page * 4
        memory[page : page + 4] = b"\x00\x00\x00\xbd"
    if profile.config_page is not None:
        page = profile.config_page * 4
        memory[page : page + 8] = profile.config
        # PWD (reads as zeros) and PACK stay zero.
    return memory


class Type2Card:
    """One Type 2 card: answers the frames a reader sends."""

    def __init__(self, profile: Type2Profile, uid: bytes, ndef_message: bytes | None) -> None:
        if len(uid) not in profile.uid_lengths:
            sizes = " or ".join(f"{n}-byte" for n in profile.uid_lengths)
            raise ValueError(f"a {profile.name} card has a {sizes} UID, got {len(uid)} bytes")
        self.profile = profile
        self.uid = bytes(uid)
        self.memory = build_memory(profile, self.uid, ndef_message)
        self.state = State.IDLE
        self.commands = 0
        """Frames answered in the ACTIVE state (reads, writes, version...)."""
        if len(uid) == 7:
            cl1 = b"\x88" + self.uid[0:3]
            cl2 = self.uid[3:7]
            self._levels = [cl1 + bytes([_bcc(cl1)]), cl2 + bytes([_bcc(cl2)])]
        else:
            self._levels = [self.uid + bytes([_bcc(self.uid)])]
        size_bits = 0x40 if len(uid) == 7 else 0x00
        self._atqa = bytes([(profile.atqa[0] & 0x3F) | size_bits, profile.atqa[1]])

    def field_off(self) -> None:
        """The reader switched its field off: the card loses power."""
        self.state = State.IDLE

    def handle(self, frame: bytes) -> bytes | None:
        """Answer one command frame (None: the card stays silent)."""
        if frame == b"\x52" or (frame == b"\x26" and self.state is not State.HALT):
            self.state = State.READY1  # WUPA, or REQA (also restarts a half-done select)
            return self._atqa
        if self.state in (State.READY1, State.READY2):
            return self._anticollision(frame)
        if self.state is State.ACTIVE:
            self.commands += 1
            return self._command(frame)
        return None

    def _anticollision(self, frame: bytes) -> bytes | None:
        level = {0x93: 0, 0x95: 1}.get(frame[0]) if frame else None
        if level is None or level >= len(self._levels):
            self.state = State.IDLE
            return None
        if level == 1 and self.state is not State.READY2:
            self.state = State.IDLE
            return None
        answer = self._levels[level]
        if frame[1:] == b"\x20":  # SDD_REQ: send this cascade level's UID bytes
            return answer
        if frame[1:2] == b"\x70" and frame[2:] == answer:  # SEL_REQ for this level
            if level + 1 < len(self._levels):
                self.state = State.READY2
                return bytes([0x04])  # cascade bit: UID not complete
            self.state = State.ACTIVE
            return bytes([self.profile.sak])
        self.state = State.IDLE
        return None

    def _command(self, frame: bytes) -> bytes | None:
        code = frame[0] if frame else None
        pages = self.profile.total_pages
        if code == 0x30 and len(frame) == 2:  # READ: 4 pages, rolling over at the end
            if frame[1] >= pages:
                return self._nak()
            return b"".join(self._page(frame[1] + i) for i in range(4))
        if code == 0x3A and len(frame) == 3 and self.profile.version:  # FAST_READ
            start, end = frame[1], frame[2]
            if start > end or end >= pages:
                return self._nak()
            return b"".join(self._page(p) for p in range(start, end + 1))
        if code == 0x60 and len(frame) == 1 and self.profile.version:  # GET_VERSION
            return self.profile.version
        if code == 0x3C and len(frame) == 2 and self.profile.version:  # READ_SIG
            return bytes(32)  # an unsigned sample: an all-zero signature
        if code == 0x39 and len(frame) == 2 and self.profile.version:  # READ_CNT
            return b"\x00\x00\x00"
        if code == 0xA2 and len(frame) == 6:  # WRITE one page
            return self._write(frame[1], frame[2:6])
        if code == 0x50 and frame[1:] == b"\x00":  # HLTA
            self.state = State.HALT
            return None
        return self._nak()

    def _page(self, page: int) -> bytes:
        page %= self.profile.total_pages
        config = self.profile.config_page
        if config is not None and page in (config + 2,):  # PWD always reads as zeros
            return bytes(4)
        return bytes(self.memory[page * 4 : page * 4 + 4])

    def _write(self, page: int, data: bytes) -> bytes | None:
        user = self.profile.user_pages
        if page == 3:  # CC is one-time programmable: bits can only be set
            for i, byte in enumerate(data):
                self.memory[12 + i] |= byte
            return ACK
        if page not in user:
            return self._nak()
        self.memory[page * 4 : page * 4 + 4] = data
        return ACK

    def _nak(self) -> bytes:
        # An NTAG answers an invalid command or address with NAK and falls back to IDLE.
        self.state = State.IDLE
        return NAK
