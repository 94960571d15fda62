"""Card reads on a PN532: who is in the field, and was the card read fully.

``Pn532Reader.detect`` lists one ISO 14443-A target and judges what the chip reported:

* a UID that is not 4, 7 or 10 bytes long is refused (``ReadProblem("bad_uid")``): no
  member card has one, so it is a misread or a foreign device;
* a Type 2 card (NTAG21x, MIFARE Ultralight: SEL_RES 00) is read once more with
  InDataExchange (READ page 0) and its memory must repeat the UID; a card that goes silent
  or answers something else was pulled away mid-read (``ReadProblem("unreadable")``), so no
  tap is sent and the member is asked to tap again. Other cards (MIFARE Classic needs a key
  to read) count on their anticollision UID alone.

The same two methods are the port an MFRC522 driver would implement (``ports.CardReader``).
"""

from tapstation.pn532 import ChipStatus, Pn532

UID_LENGTHS = (4, 7, 10)
READ_PAGE_0 = b"\x30\x00"


class ReadProblem(Exception):
    """A card was in the field but gave no usable UID; ``kind`` says why."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__("{}: {}".format(kind, detail))
        self.kind = kind
        self.detail = detail


def hex_upper(data: bytes) -> str:
    """Upper-case hex without separators."""
    return "".join("{:02X}".format(b) for b in data)


def uid_in_memory(uid: bytes, page: bytes) -> bool:
    """True when pages 0-1 of a Type 2 card hold ``uid`` (7-byte: with BCC0 in between)."""
    if len(page) < 8:
        return False
    if len(uid) == 7:
        return page[0:3] == uid[0:3] and page[4:8] == uid[3:7]
    if len(uid) == 4:
        return page[0:4] == uid
    return True  # 10-byte UIDs are not Type 2 cards; nothing to compare


class Pn532Reader:
    """``ports.CardReader`` on a PN532."""

    def __init__(self, chip: Pn532) -> None:
        self.chip = chip

    def start(self) -> str:
        """Wake and configure the chip; returns e.g. ``PN532 v1.6``."""
        _ic, version, revision = self.chip.begin()
        return "PN532 v{}.{}".format(version, revision)

    def detect(self) -> str | None:
        """The UID of the card in the field (see the module docstring), or None."""
        found = self.chip.list_target_a()
        if found is None:
            return None
        tg, _sens_res, sel_res, uid = found
        if len(uid) not in UID_LENGTHS:
            raise ReadProblem(
                "bad_uid", "UID of {} bytes ({}) is not 4, 7 or 10".format(len(uid), hex_upper(uid))
            )
        if sel_res & 0x60 == 0 and not sel_res & 0x18:  # Type 2 (MIFARE Classic: 0x08/0x18)
            try:
                page = self.chip.data_exchange(tg, READ_PAGE_0)
            except ChipStatus as exc:
                raise ReadProblem("unreadable", "card left before it was read: {}".format(exc))
            if not uid_in_memory(uid, page):
                raise ReadProblem("unreadable", "card memory does not repeat its UID")
        return hex_upper(uid)
