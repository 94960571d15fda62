"""PN532 host frames, the chip's side: parse what the host sends, build what the chip sends.

Written from the PN532 user manual (UM0701-02, section 6.2.1), like the station's driver, but
separately, so a test of one against the other checks both against the manual::

    normal    00 00 FF LEN LCS TFI PD0 .. PDn DCS 00
    extended  00 00 FF FF FF LENM LENL LCS TFI .. DCS 00
    ACK       00 00 FF 00 FF 00         NACK  00 00 FF FF 00 00
    error     00 00 FF 01 FF 7F 81 00
"""

from __future__ import annotations

from dataclasses import dataclass

ACK = bytes.fromhex("0000ff00ff00")
NACK = bytes.fromhex("0000ffff0000")
ERROR = bytes.fromhex("0000ff01ff7f8100")
HOST_TFI = 0xD4
CHIP_TFI = 0xD5


def chip_frame(data: bytes) -> bytes:
    """A chip-to-host information frame carrying ``data`` (response code first)."""
    payload = bytes([CHIP_TFI]) + data
    dcs = (-sum(payload)) & 0xFF
    length = len(payload)
    if length < 255:
        head = b"\x00\x00\xff" + bytes([length, (-length) & 0xFF])
    else:
        size = length.to_bytes(2, "big")
        head = b"\x00\x00\xff\xff\xff" + size + bytes([(-sum(size)) & 0xFF])
    return head + payload + bytes([dcs, 0x00])


def host_frame(code: int, params: bytes = b"") -> bytes:
    """A host-to-chip command frame (for tests and benchmarks of the drivers)."""
    payload = bytes([HOST_TFI, code]) + params
    dcs = (-sum(payload)) & 0xFF
    length = len(payload)
    if length < 255:
        head = b"\x00\x00\xff" + bytes([length, (-length) & 0xFF])
    else:
        size = length.to_bytes(2, "big")
        head = b"\x00\x00\xff\xff\xff" + size + bytes([(-sum(size)) & 0xFF])
    return head + payload + bytes([dcs, 0x00])


@dataclass(frozen=True)
class Parsed:
    """One thing found in the host's byte stream."""

    kind: str
    """``command`` (``data`` is TFI onwards), ``ack``, ``nack`` or ``bad`` (``detail`` why)."""
    data: bytes = b""
    detail: str = ""


class HostStream:
    """Accumulates host bytes and cuts them into frames (preamble, 0x55 wake-up skipped)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Parsed]:
        """Add bytes; return every complete frame (or framing error) now available."""
        self._buf += data
        out: list[Parsed] = []
        while True:
            item = self._next()
            if item is None:
                return out
            out.append(item)

    def _next(self) -> Parsed | None:
        buf = self._buf
        start = buf.find(b"\x00\xff")
        if start < 0:
            # Keep a trailing 00: it may be the first half of a start code.
            keep = 1 if buf.endswith(b"\x00") else 0
            del buf[: len(buf) - keep]
            return None
        if len(buf) < start + 4:
            return None
        length, lcs = buf[start + 2], buf[start + 3]
        if length == 0x00 and lcs == 0xFF:
            del buf[: start + 4]
            return Parsed("ack")
        if length == 0xFF and lcs == 0x00:
            del buf[: start + 4]
            return Parsed("nack")
        body_at = start + 4
        if length == 0xFF and lcs == 0xFF:
            if len(buf) < start + 7:
                return None
            lenm, lenl, lcs2 = buf[start + 4], buf[start + 5], buf[start + 6]
            if (lenm + lenl + lcs2) & 0xFF:
                del buf[: start + 2]
                return Parsed("bad", detail="extended length checksum")
            length = lenm << 8 | lenl
            body_at = start + 7
        elif (length + lcs) & 0xFF:
            del buf[: start + 2]
            return Parsed("bad", detail="length checksum")
        if len(buf) < body_at + length + 1:
            return None
        body = bytes(buf[body_at : body_at + length + 1])
        del buf[: body_at + length + 1]
        if sum(body) & 0xFF:
            return Parsed("bad", detail="data checksum")
        if length < 2 or body[0] != HOST_TFI:
            return Parsed("bad", detail="not a host command frame")
        return Parsed("command", body[:-1])
