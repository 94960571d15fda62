"""Card hardware variants as data: one row per product, no per-product code."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Type2Profile:
    """An NFC Forum Type 2 card (NXP NTAG21x / MIFARE Ultralight family)."""

    name: str
    product: str
    """What nfcpy should report for this card."""
    total_pages: int
    """Memory size in 4-byte pages, header and configuration pages included."""
    cc_size: int
    """Capability container byte 2: NDEF data area size / 8."""
    version: bytes | None
    """GET_VERSION (0x60) answer; None when the product does not support the command."""
    dynamic_lock_page: int | None = None
    config_page: int | None = None
    """First configuration page (CFG0); PWD and PACK follow CFG1."""
    config: bytes = b"\x04\x00\x00\xff\x00\x05\x00\x00"
    """CFG0 + CFG1 factory values (mirror off, AUTH0=FF: no password protection)."""
    uid_lengths: tuple[int, ...] = (7,)
    atqa: bytes = b"\x44\x00"
    """SENS_RES as sent on the wire (LSB first): 0x0044 for double-size UIDs."""
    sak: int = 0x00

    @property
    def user_pages(self) -> range:
        """Pages holding the NDEF area (after the 4 header pages, before lock/config)."""
        end = next(p for p in (self.dynamic_lock_page, self.config_page, self.total_pages) if p)
        return range(4, end)


@dataclass(frozen=True)
class Type3Profile:
    """An NFC Forum Type 3 card (Sony FeliCa)."""

    name: str
    product: str
    pmm: bytes
    """Manufacture parameter: ROM type, IC type (selects nfcpy's card class), then six
    timing bytes from which the reader derives its response timeouts. ``BF`` = 77 ms-ish
    budgets: generous for a datagram on localhost, short enough to notice removal fast."""
    system_code: bytes = b"\x12\xfc"
    """0x12FC: the NFC Forum NDEF system."""
    nbr: int = 4
    """Blocks per read command the card accepts (NDEF attribute ``Nbr``)."""
    nbw: int = 1
    ndef_blocks: int = 16
    """Size of the NDEF data area in 16-byte blocks."""


NTAG213 = Type2Profile(
    name="ntag213",
    product="NXP NTAG213",
    total_pages=45,
    cc_size=0x12,
    version=bytes.fromhex("0004040201000F03"),
    dynamic_lock_page=40,
    config_page=41,
)
NTAG215 = Type2Profile(
    name="ntag215",
    product="NXP NTAG215",
    total_pages=135,
    cc_size=0x3E,
    version=bytes.fromhex("0004040201001103"),
    dynamic_lock_page=130,
    config_page=131,
)
NTAG216 = Type2Profile(
    name="ntag216",
    product="NXP NTAG216",
    total_pages=231,
    cc_size=0x6D,
    version=bytes.fromhex("0004040201001303"),
    dynamic_lock_page=226,
    config_page=227,
)
ULTRALIGHT_EV1 = Type2Profile(
    name="ultralight_ev1",
    product="Mifare Ultralight EV1 (MF0UL11)",
    total_pages=20,
    cc_size=0x06,
    version=bytes.fromhex("0004030101000B03"),
    config_page=16,
    config=b"\x00\x00\x00\xff\x00\x05\x00\x00",
)
TYPE2_GENERIC = Type2Profile(
    name="type2",
    product="Type2Tag",
    total_pages=16,
    cc_size=0x06,
    version=None,
    uid_lengths=(4, 7),
    atqa=b"\x04\x00",
)
FELICA = Type3Profile(
    name="felica",
    product="FeliCa Standard (RC-S915)",
    pmm=bytes.fromhex("0101BFBFBFBFBFBF"),
)

PROFILES: dict[str, Type2Profile | Type3Profile] = {
    p.name: p for p in (NTAG213, NTAG215, NTAG216, ULTRALIGHT_EV1, TYPE2_GENERIC, FELICA)
}
"""Every card the simulator can play, by the name ``tapfleet sim tap --type`` takes."""
