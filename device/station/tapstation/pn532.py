"""The PN532's host protocol over HSU (its UART), from the PN532 user manual (UM0701-02).

Frames (manual section 6.2.1)::

    normal    00 00 FF LEN LCS TFI PD0 .. PDn DCS 00    LEN counts TFI + PD, LEN + LCS = 0
    extended  00 00 FF FF FF LENM LENL LCS TFI .. DCS 00
    ACK       00 00 FF 00 FF 00
    NACK      00 00 FF FF 00 00
    error     00 00 FF 01 FF 7F 81 00                   syntax error in the last command

TFI is D4 from host to chip and D5 back; TFI + PD + DCS = 0 (mod 256). The response code is
the command code + 1. The chip ACKs a well-formed command within about 15 ms and sends its
response when done. Over HSU it sleeps after power-up: 0x55 0x55 and a run of zeros wake it
(section 7.2.11). Every read here has a deadline: a chip that stops answering raises
``ChipTimeout``; a frame that is cut short or fails a checksum raises ``FrameError``.
"""

import time

from micropython import const

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tapstation.ports import Uart

HOST_TFI = const(0xD4)
CHIP_TFI = const(0xD5)
ACK = b"\x00\x00\xff\x00\xff\x00"
NACK = b"\x00\x00\xff\xff\x00\x00"
WAKEUP = b"\x55\x55" + bytes(14)

CMD_GET_FIRMWARE_VERSION = const(0x02)
CMD_SAM_CONFIGURATION = const(0x14)
CMD_RF_CONFIGURATION = const(0x32)
CMD_IN_DATA_EXCHANGE = const(0x40)
CMD_IN_LIST_PASSIVE_TARGET = const(0x4A)
CMD_IN_RELEASE = const(0x52)

ACK_TIMEOUT_MS = const(100)
"""The chip ACKs within ~15 ms; the margin covers a busy host (CI's pty, a slow UART IRQ)."""
MAX_SKIP = const(64)
"""Bytes skipped while looking for a start code before the frame counts as garbled."""


class ChipError(Exception):
    """The chip did not answer as the manual says (base of the driver's errors)."""


class ChipTimeout(ChipError):
    """No answer (or no ACK) before the deadline: unplugged, asleep or busy."""


class FrameError(ChipError):
    """A frame from the chip was garbled or cut short (checksum, length, start code)."""


class ChipStatus(ChipError):
    """The chip answered with an error status (e.g. 0x01: the card did not answer)."""

    def __init__(self, status: int, what: str) -> None:
        super().__init__("{} failed with chip status 0x{:02X}".format(what, status))
        self.status = status


def command_frame(code: int, params: bytes = b"") -> bytes:
    """The normal information frame carrying command ``code`` with ``params``."""
    data = bytes((HOST_TFI, code)) + params
    length = len(data)
    if length > 254:
        raise ValueError("command too long for a normal frame")
    dcs = (-sum(data)) & 0xFF
    return b"\x00\x00\xff" + bytes((length, (-length) & 0xFF)) + data + bytes((dcs, 0))


class Pn532:
    """One PN532 on a UART; every call returns or raises within its timeout."""

    def __init__(self, uart: "Uart") -> None:
        self._uart = uart
        self.frames_in = 0
        """Frames received (ACKs included), for the bench and health."""

    # --- framing -------------------------------------------------------------------------

    def _read_exact(self, count: int, deadline: int) -> bytes:
        got = b""
        while len(got) < count:
            chunk = self._uart.read(count - len(got))
            if chunk:
                got += chunk
                continue
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                if got:
                    raise FrameError("frame cut short after {} bytes".format(len(got)))
                raise ChipTimeout("no answer from the chip in time")
        return got

    def _read_frame(self, deadline: int) -> bytes:
        """One frame's TFI and data (``b""`` for an ACK); raises on anything else."""
        previous = -1
        skipped = 0
        while True:
            byte = self._read_exact(1, deadline)[0]
            if previous == 0x00 and byte == 0xFF:
                break
            if byte != 0x00:
                skipped += 1
                if skipped > MAX_SKIP:
                    raise FrameError("no start code in {} bytes".format(skipped))
            previous = byte
        try:
            head = self._read_exact(2, deadline)
        except ChipTimeout:
            raise FrameError("frame cut short after its start code")
        length, lcs = head[0], head[1]
        if length == 0x00 and lcs == 0xFF:
            self._read_postamble(deadline)
            self.frames_in += 1
            return b""
        if length == 0xFF and lcs == 0x00:
            raise FrameError("the chip sent NACK (it did not understand the last frame)")
        if length == 0xFF and lcs == 0xFF:
            ext = self._read_exact(3, deadline)
            if (ext[0] + ext[1] + ext[2]) & 0xFF:
                raise FrameError("extended frame length checksum wrong")
            length = ext[0] << 8 | ext[1]
        elif (length + lcs) & 0xFF:
            raise FrameError("length checksum wrong (LEN {:02X} LCS {:02X})".format(length, lcs))
        if length == 0:
            raise FrameError("empty information frame")
        body = self._read_exact(length + 1, deadline)
        if sum(body) & 0xFF:
            raise FrameError("data checksum wrong")
        self._read_postamble(deadline)
        self.frames_in += 1
        data = body[:-1]
        if data[0] == 0x7F:
            raise ChipStatus(0x7F, "the last command (syntax error frame)")
        if data[0] != CHIP_TFI:
            raise FrameError("frame identifier {:02X} is not D5".format(data[0]))
        return data

    def _read_postamble(self, deadline: int) -> None:
        # A missing postamble is harmless (the next frame syncs on its start code); waiting
        # for it costs at most one UART timeout.
        try:
            self._read_exact(1, min(deadline, time.ticks_add(time.ticks_ms(), 5)))
        except ChipError:
            pass

    def _drain(self) -> None:
        """Drop stale bytes (a late answer to an aborted command)."""
        for _ in range(64):
            if not self._uart.any():
                return
            self._uart.read(self._uart.any())

    # --- commands ------------------------------------------------------------------------

    def wake(self) -> None:
        """Wake the chip from its power-up sleep (HSU) before the first command."""
        self._uart.write(WAKEUP)
        time.sleep_ms(2)
        self._drain()

    def command(self, code: int, params: bytes = b"", timeout_ms: int = 100) -> bytes:
        """Send one command and return the response data after the response code."""
        self._drain()
        self._uart.write(command_frame(code, params))
        start = time.ticks_ms()
        if self._read_frame(time.ticks_add(start, ACK_TIMEOUT_MS)) != b"":
            raise FrameError("expected an ACK from the chip")
        try:
            data = self._read_frame(time.ticks_add(start, timeout_ms))
        except ChipTimeout:
            self._uart.write(ACK)  # abort the command, as the manual says
            raise
        if len(data) < 2 or data[1] != code + 1:
            raise FrameError("answer to command {:02X} has the wrong response code".format(code))
        return data[2:]

    def begin(self) -> tuple[int, int, int]:
        """Wake and configure the chip; returns its (IC, version, revision).

        SAMConfiguration: normal mode (no secure module). RFConfiguration item 5: retry
        passive activation twice, so InListPassiveTarget returns within milliseconds when
        no card is there instead of waiting forever (the chip's default is 0xFF: forever).
        """
        self.wake()
        self.command(CMD_SAM_CONFIGURATION, b"\x01\x14\x00")
        version = self.command(CMD_GET_FIRMWARE_VERSION)
        if len(version) < 4 or version[0] != 0x32:
            raise ChipError("the chip on the UART is not a PN532 (answer {!r})".format(version))
        self.command(CMD_RF_CONFIGURATION, b"\x05\xff\x01\x02")
        return version[0], version[1], version[2]

    def list_target_a(self) -> tuple[int, bytes, int, bytes] | None:
        """InListPassiveTarget for one ISO 14443-A card at 106 kbps.

        Returns (target number, SENS_RES, SEL_RES, NFCID1) or None when no card answered.
        The NFCID1 is returned as reported, whatever its length: the caller judges it.
        """
        data = self.command(CMD_IN_LIST_PASSIVE_TARGET, b"\x01\x00", timeout_ms=300)
        if not data or data[0] == 0:
            return None
        if len(data) < 6:
            raise FrameError("target data cut short")
        tg, sens_res, sel_res, uid_length = data[1], data[2:4], data[4], data[5]
        uid = data[6 : 6 + uid_length]
        if len(uid) != uid_length:
            raise FrameError("target data shorter than its NFCID1 length")
        return tg, sens_res, sel_res, uid

    def data_exchange(self, tg: int, payload: bytes, timeout_ms: int = 250) -> bytes:
        """InDataExchange with target ``tg``; raises ChipStatus when the card did not answer."""
        data = self.command(CMD_IN_DATA_EXCHANGE, bytes((tg,)) + payload, timeout_ms)
        if not data:
            raise FrameError("InDataExchange answer without a status byte")
        status = data[0] & 0x3F
        if status:
            raise ChipStatus(status, "InDataExchange")
        return data[1:]

    def release(self) -> None:
        """InRelease every target (the field stays on)."""
        self.command(CMD_IN_RELEASE, b"\x00")
