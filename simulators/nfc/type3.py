"""An NFC Forum Type 3 card (FeliCa) built on nfcpy's own Type 3 tag emulation.

nfcpy's ``Type3TagEmulation`` implements the FeliCa command set (Polling, Request Response,
Read/Write Without Encryption, Request System Code) over NDEF services 0x0009/0x000B, as in
nfcpy's ``tagtool.py emulate``. It is driven here frame by frame from the same udp link as
the Type 2 card rather than through ``ContactlessFrontend.listen``: ``listen`` re-binds the
port on every call and drops a command that arrives across a listen timeout, which made a
held card randomly unreadable and a removed card slow to go silent.
"""

from __future__ import annotations

import struct

from simulators.nfc.profiles import Type3Profile

NDEF_RW_SERVICE = 0x0009
NDEF_RO_SERVICE = 0x000B


def attribute_block(profile: Type3Profile, ndef_length: int) -> bytes:
    """The NDEF attribute information block (block 0 of the NDEF service)."""
    block = bytearray(16)
    block[0] = 0x10  # mapping version 1.0
    block[1] = profile.nbr
    block[2] = profile.nbw
    block[3:5] = struct.pack(">H", profile.ndef_blocks)
    block[9] = 0x00  # WriteF: no write in progress
    block[10] = 0x01  # RWFlag: read/write
    block[11:14] = struct.pack(">I", ndef_length)[1:]
    block[14:16] = struct.pack(">H", sum(block[0:14]))
    return bytes(block)


class Type3Card:
    """One FeliCa card: answers 212F/424F frames with nfcpy's Type 3 tag emulation."""

    def __init__(self, profile: Type3Profile, idm: bytes, ndef_message: bytes | None) -> None:
        import nfc.clf
        import nfc.tag.tt3

        if len(idm) != 8:
            raise ValueError(f"a FeliCa IDm is 8 bytes (16 hex digits), got {len(idm)} bytes")
        if idm[0:2] == b"\x01\xfe":
            raise ValueError("IDm 01FE... marks an NFC-DEP (peer-to-peer) device, not a card")
        message = ndef_message or b""
        capacity = profile.ndef_blocks * 16
        if len(message) > capacity:
            raise ValueError(f"NDEF message of {len(message)} bytes does not fit {capacity} bytes")
        self.profile = profile
        self.idm = bytes(idm)
        self.data = bytearray(attribute_block(profile, len(message)) + message)
        self.data += bytes(16 + capacity - len(self.data))
        target = nfc.clf.LocalTarget("212F")
        target.sensf_res = b"\x01" + self.idm + profile.pmm + profile.system_code
        target.tt3_cmd = b""
        self._emulation = nfc.tag.tt3.Type3TagEmulation(None, target)
        self._emulation.add_service(NDEF_RW_SERVICE, self._read_block, self._write_block)
        self._emulation.add_service(NDEF_RO_SERVICE, self._read_block, None)
        self.commands = 0
        """Frames answered other than Polling."""

    def field_off(self) -> None:
        """The reader switched its field off (FeliCa keeps no selection state)."""

    def handle(self, frame: bytes) -> bytes | None:
        """Answer one length-prefixed FeliCa frame (None: silence)."""
        if not frame or frame[0] != len(frame):
            return None
        response = self._emulation.process_command(bytearray(frame))
        if response is not None and frame[1] != 0x00:
            self.commands += 1
        return bytes(response) if response is not None else None

    def _read_block(self, block: int, rb: bool, re: bool) -> bytes | None:
        if 16 * (block + 1) > len(self.data):
            return None
        return bytes(self.data[16 * block : 16 * (block + 1)])

    def _write_block(self, block: int, data: bytes, wb: bool, we: bool) -> bool:
        if 16 * (block + 1) > len(self.data):
            return False
        self.data[16 * block : 16 * (block + 1)] = data
        return True
