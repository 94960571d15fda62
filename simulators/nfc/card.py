"""The virtual card API for tests, demos and ``tapfleet sim tap``.

    with present_card("04A1B2C3D4E5F6", "ntag215", port=port, ndef_text="M-1001"):
        ...  # an NfcReader on udp:127.0.0.1:<port> reads the card once

A card is "on the reader" from ``present()`` until ``remove()``: it answers every poll and
presence check in between, so a reader sees one held card, and a new ``present()`` after
``remove()`` is a new tap.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

from simulators.nfc.link import UdpCardLink
from simulators.nfc.profiles import PROFILES, Type2Profile, Type3Profile
from simulators.nfc.type2 import Type2Card
from simulators.nfc.type3 import Type3Card

_HEX = re.compile(r"^(?:[0-9A-Fa-f]{2})+$")


def ndef_message(
    *, text: str | None = None, uri: str | None = None, records: Sequence[Any] = ()
) -> bytes | None:
    """Encode an NDEF message from a text, an URI and/or ``ndef`` records (None if empty)."""
    import ndef

    all_records = list(records)
    if text is not None:
        all_records.append(ndef.TextRecord(text, "en"))
    if uri is not None:
        all_records.append(ndef.UriRecord(uri))
    if not all_records:
        return None
    return b"".join(ndef.message_encoder(all_records))


def parse_uid(uid: str) -> bytes:
    """UID bytes from hex text (``04A1B2C3D4E5F6``, ``04:a1:...`` also accepted)."""
    cleaned = uid.replace(":", "").replace(" ", "")
    if not _HEX.match(cleaned):
        raise ValueError(f"card UID {uid!r} is not hex bytes")
    return bytes.fromhex(cleaned)


class VirtualCard:
    """A simulated card that can be placed on (and lifted from) a udp reader."""

    def __init__(
        self,
        uid: str,
        card_type: str = "ntag215",
        *,
        ndef_text: str | None = None,
        ndef_uri: str | None = None,
        ndef_records: Sequence[Any] = (),
    ) -> None:
        profile = PROFILES.get(card_type)
        if profile is None:
            raise ValueError(
                f"unknown card type {card_type!r}; choose one of {', '.join(PROFILES)}"
            )
        self.profile = profile
        self.uid = parse_uid(uid).hex().upper()
        self._message = ndef_message(text=ndef_text, uri=ndef_uri, records=ndef_records)
        self._make_card()  # validate UID length and NDEF size now, not at present()
        self._link: UdpCardLink | None = None
        self._lock = threading.Lock()
        self.presentations = 0

    @property
    def family(self) -> str:
        """``type2`` or ``type3``."""
        return "type2" if isinstance(self.profile, Type2Profile) else "type3"

    def _make_card(self) -> Type2Card | Type3Card:
        uid = bytes.fromhex(self.uid)
        if isinstance(self.profile, Type3Profile):
            return Type3Card(self.profile, uid, self._message)
        return Type2Card(self.profile, uid, self._message)

    def present(self, port: int, host: str = "127.0.0.1") -> VirtualCard:
        """Put the card on the reader at ``udp:host:port``; returns once it answers.

        Each presentation is a fresh power-up (memory as built, state idle).
        """
        with self._lock:
            if self._link is not None:
                raise RuntimeError(f"card {self.uid} is already on a reader")
            techs = ("106A",) if self.family == "type2" else ("212F", "424F")
            link = UdpCardLink(self._make_card(), techs, host, port)
            link.start()
            self._link = link
            self.presentations += 1
        return self

    def remove(self) -> None:
        """Lift the card off the reader (it stops answering). Idempotent."""
        with self._lock:
            link, self._link = self._link, None
        if link is not None:
            link.stop()

    def hold(self, port: int, seconds: float, host: str = "127.0.0.1") -> int:
        """Present the card for ``seconds``, then remove it; returns the commands answered."""
        done = threading.Event()
        self.present(port, host)
        try:
            done.wait(seconds)
            return self.commands
        finally:
            self.remove()

    @property
    def on_reader(self) -> bool:
        """True while the card is presented."""
        return self._link is not None and self._link.running

    @property
    def commands(self) -> int:
        """Commands (beyond polling/anticollision) the current presentation answered."""
        link = self._link
        return int(getattr(link.card, "commands", 0)) if link is not None else 0

    @property
    def answers(self) -> int:
        """Frames answered in the current presentation (polls and presence checks too)."""
        link = self._link
        return link.answers if link is not None else 0

    def wait_for_answers(self, count: int, timeout: float = 10.0) -> bool:
        """Block until the current presentation answered ``count`` frames; False on timeout.

        Lets a test wait for "the reader kept talking to the held card" without sleeping.
        """
        link = self._link
        if link is None:
            raise RuntimeError(f"card {self.uid} is not on a reader")
        return link.wait_for_answers(count, timeout)

    def __enter__(self) -> VirtualCard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def present_card(
    uid: str,
    card_type: str = "ntag215",
    *,
    port: int,
    host: str = "127.0.0.1",
    ndef_text: str | None = None,
    ndef_uri: str | None = None,
    ndef_records: Sequence[Any] = (),
) -> VirtualCard:
    """Create a card and present it at ``udp:host:port`` (use as a context manager)."""
    card = VirtualCard(
        uid, card_type, ndef_text=ndef_text, ndef_uri=ndef_uri, ndef_records=ndef_records
    )
    return card.present(port, host)
