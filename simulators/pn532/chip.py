"""The PN532 itself: host commands in, ACK and response frames out, cards in its RF field.

What is modelled is what the two drivers use: the firmware's (SAMConfiguration,
GetFirmwareVersion, RFConfiguration, InListPassiveTarget, InDataExchange, InRelease) and
nfcpy's ``pn532`` driver (also Diagnose, SetParameters, SetSerialBaudrate, Read/WriteRegister
of the CIU, InCommunicateThru, PowerDown). Type A anticollision runs against the card's own
state machine (``simulators.nfc.type2.Type2Card``) with the real cascade levels, and the
CIU's RxCRCEn bit decides whether InCommunicateThru hands the CRC_A through, as nfcpy expects.

Simplifications, stated: timing is instant; only 106 kbps type A targets exist (other bit
rates list nothing); a 4-bit NAK through InDataExchange is reported as status 0x01.

Faults are data (``ChipFaults``): garbled or truncated answers, a wrong NFCID1 length, a
mute chip. Thread-safe: the pty thread feeds it while a test places and lifts cards.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from simulators.pn532.frames import ACK, ERROR, HostStream, chip_frame

FIRMWARE = bytes([0x32, 0x01, 0x06, 0x07])
"""IC PN532, firmware 1.6, supports ISO 14443-A, -B and ISO 18092."""

REGISTER_DEFAULTS = {
    0x6302: 0x80,  # CIU_TxMode: TxCRCEn
    0x6303: 0x80,  # CIU_RxMode: RxCRCEn
    0x6304: 0x80,  # CIU_TxControl: field off
    0x6305: 0x40,  # CIU_TxAuto: Force100ASK
    0x6339: 0x00,  # CIU_FIFOData
    0x633A: 0x00,  # CIU_FIFOLevel
}
RX_MODE = 0x6303
TX_CONTROL = 0x6304
FIFO_DATA = 0x6339

STATUS_TIMEOUT = 0x01
STATUS_NOT_ACCEPTABLE = 0x27


class FieldCard(Protocol):
    """A card the chip can talk to over the air (``Type2Card`` and friends)."""

    def handle(self, frame: bytes) -> bytes | None:
        """Answer one frame (no CRC), or None for silence."""
        ...

    def field_off(self) -> None:
        """The field went off: the card loses power."""
        ...


@dataclass
class ChipFaults:
    """Faults to play; counters count down as answers are sent."""

    garble_answers: int = 0
    """The next N response frames carry a wrong data checksum."""
    truncate_answers: int = 0
    """The next N response frames are cut off halfway (the rest never comes)."""
    uid_length: int | None = None
    """InListPassiveTarget reports an NFCID1 of this many bytes (a misread UID)."""
    mute: bool = False
    """No ACK, no answer: a chip without power or with a broken wire."""


class TornCard:
    """A card pulled away right after anticollision: it is selected, then answers nothing."""

    def __init__(self, card: FieldCard) -> None:
        self._card = card
        self._selected = False

    def handle(self, frame: bytes) -> bytes | None:
        """Answer anticollision like the card; go silent once it is selected."""
        if self._selected:
            return None
        answer = self._card.handle(frame)
        if frame[:1] in (b"\x93", b"\x95", b"\x97") and frame[1:2] == b"\x70" and answer:
            self._selected = not answer[0] & 0x04  # last cascade level: selected
        return answer

    def field_off(self) -> None:
        """Power lost: the next poll finds it again (and it tears again)."""
        self._selected = False
        self._card.field_off()


def crc_a(data: bytes) -> bytes:
    """ISO 14443-3 CRC_A, least significant byte first."""
    crc = 0x6363
    for byte in data:
        byte ^= crc & 0xFF
        byte = (byte ^ (byte << 4)) & 0xFF
        crc = (crc >> 8) ^ (byte << 8) ^ (byte << 3) ^ (byte >> 4)
    return bytes([crc & 0xFF, crc >> 8])


def _bcc(data: bytes) -> int:
    out = 0
    for byte in data:
        out ^= byte
    return out


class Pn532Chip:
    """One PN532: call ``receive`` with host bytes, send back what it returns."""

    def __init__(self, faults: ChipFaults | None = None) -> None:
        self.faults = faults or ChipFaults()
        self._lock = threading.RLock()
        self._stream = HostStream()
        self._card: FieldCard | None = None
        self._selected = False
        self.registers = dict(REGISTER_DEFAULTS)
        self.commands: list[int] = []
        """Command codes received, in order (tests and benches read it)."""
        self.bad_frames = 0
        """Host frames dropped for a framing error."""

    # --- the field -------------------------------------------------------------------------

    def place(self, card: FieldCard) -> None:
        """Put a card in the field (a fresh power-up)."""
        with self._lock:
            card.field_off()
            self._card = card
            self._selected = False

    def lift(self) -> None:
        """Take the card away."""
        with self._lock:
            self._card = None
            self._selected = False

    @property
    def card(self) -> FieldCard | None:
        """The card in the field."""
        return self._card

    # --- the host side ---------------------------------------------------------------------

    def receive(self, data: bytes) -> bytes:
        """Host bytes in; every byte the chip sends in answer out (ACK first, then the answer)."""
        out = b""
        with self._lock:
            for item in self._stream.feed(data):
                if self.faults.mute:
                    continue
                if item.kind == "bad":
                    self.bad_frames += 1  # the real chip does not acknowledge a broken frame
                    continue
                if item.kind != "command":
                    continue  # ACK from the host aborts a command: nothing is pending here
                code, params = item.data[1], item.data[2:]
                self.commands.append(code)
                answer = self._command(code, params)
                out += ACK + (self._damage(chip_frame(answer)) if answer is not None else ERROR)
        return out

    def _damage(self, frame: bytes) -> bytes:
        if self.faults.garble_answers > 0:
            self.faults.garble_answers -= 1
            return frame[:-2] + bytes([(frame[-2] + 1) & 0xFF]) + frame[-1:]
        if self.faults.truncate_answers > 0:
            self.faults.truncate_answers -= 1
            return frame[: len(frame) // 2]
        return frame

    def _command(self, code: int, params: bytes) -> bytes | None:
        answer = bytes([code + 1])
        if code == 0x00:  # Diagnose: test 0 echoes the line
            return answer + (params if params[:1] == b"\x00" else b"\x00")
        if code == 0x02:  # GetFirmwareVersion
            return answer + FIRMWARE
        if code == 0x04:  # GetGeneralStatus: no error, field, targets
            field = 1 if self.registers[TX_CONTROL] & 0x03 else 0
            return answer + bytes([0x00, field, int(self._selected)])
        if code == 0x06:  # ReadRegister
            addresses = [int.from_bytes(params[i : i + 2], "big") for i in range(0, len(params), 2)]
            return answer + bytes(self.registers.get(a, 0) for a in addresses)
        if code == 0x08:  # WriteRegister
            for i in range(0, len(params) - 2, 3):
                self.registers[int.from_bytes(params[i : i + 2], "big")] = params[i + 2]
            return answer
        if code in (0x10, 0x12, 0x14):  # SetSerialBaudrate, SetParameters, SAMConfiguration
            return answer
        if code == 0x16:  # PowerDown
            self._field(False)
            return answer + b"\x00"
        if code == 0x32:  # RFConfiguration
            if params[:1] == b"\x01" and len(params) > 1:
                self._field(bool(params[1] & 0x01))
            return answer
        if code == 0x4A:  # InListPassiveTarget
            return answer + self._list_target(params)
        if code == 0x40:  # InDataExchange
            return answer + self._exchange(params[1:], tg=params[0] if params else 0)
        if code == 0x42:  # InCommunicateThru
            return answer + self._thru(params)
        if code in (0x44, 0x52):  # InDeselect, InRelease
            self._selected = False
            return answer + b"\x00"
        return None  # unknown: the error frame

    # --- RF ----------------------------------------------------------------------------------

    def _field(self, on: bool) -> None:
        if on:
            self.registers[TX_CONTROL] |= 0x03
            return
        self.registers[TX_CONTROL] &= ~0x03 & 0xFF
        self._selected = False
        if self._card is not None:
            self._card.field_off()

    def _air(self, frame: bytes) -> bytes | None:
        card = self._card
        return card.handle(frame) if card is not None else None

    def _list_target(self, params: bytes) -> bytes:
        if len(params) < 2 or params[1] != 0x00:
            return b"\x00"  # only 106 kbps type A cards exist in this field
        self._field(True)
        self._selected = False
        self.registers[FIFO_DATA] = 0x26  # the SENS_REQ stays in the FIFO when nobody answers
        atqa = self._air(b"\x26")
        if atqa is None or len(atqa) != 2:
            return b"\x00"
        wanted = params[2:]
        levels: list[bytes] = []
        sak = 0x00
        for level, cmd in enumerate((0x93, 0x95, 0x97)):
            if wanted:
                part = wanted[level * 4 : level * 4 + 4]
                if len(part) != 4:
                    return b"\x00"
                clx = part + bytes([_bcc(part)])
            else:
                found = self._air(bytes([cmd, 0x20]))
                if found is None or len(found) != 5:
                    return b"\x00"
                clx = found
            answer = self._air(bytes([cmd, 0x70]) + clx)
            if answer is None or len(answer) != 1:
                return b"\x00"
            levels.append(clx[:4])
            sak = answer[0]
            if not sak & 0x04:
                break
        uid = b"".join(
            part[1:] if part[0] == 0x88 and i + 1 < len(levels) else part
            for i, part in enumerate(levels)
        )
        self.registers[FIFO_DATA] = 0x00
        if self.faults.uid_length is not None:
            uid = (uid + bytes(16))[: self.faults.uid_length]
        self._selected = True
        sens_res = bytes([atqa[1], atqa[0]])  # the chip reports SENS_RES most significant first
        return b"\x01\x01" + sens_res + bytes([sak, len(uid)]) + uid

    def _exchange(self, data: bytes, tg: int) -> bytes:
        if not self._selected or tg != 1:
            return bytes([STATUS_NOT_ACCEPTABLE])
        answer = self._air(data)
        if answer is None or len(answer) == 1:
            return bytes([STATUS_TIMEOUT])
        return b"\x00" + answer

    def _thru(self, data: bytes) -> bytes:
        answer = self._air(data)
        if answer is None:
            return bytes([STATUS_TIMEOUT])
        if len(answer) > 1 and not self.registers[RX_MODE] & 0x80:
            answer += crc_a(answer)  # RxCRCEn off: the CRC is handed through to the host
        return b"\x00" + answer
