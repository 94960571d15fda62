"""The PN532 simulator behind a pseudo-terminal: a UART as far as any driver can tell.

The slave side (``path``, e.g. ``/dev/pts/4``) is set to raw mode, as a real serial port
is, and kept open here so it survives drivers opening and closing it. A thread answers
whatever the host writes on it with the chip's bytes.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import threading
import tty

from simulators.nfc.type2 import Type2Card
from simulators.pn532.chip import ChipFaults, FieldCard, Pn532Chip


class PtyChip:
    """A ``Pn532Chip`` served on a fresh pty until ``close``."""

    def __init__(self, faults: ChipFaults | None = None) -> None:
        self.chip = Pn532Chip(faults)
        self._master, self._slave = pty.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self.bytes_in = 0
        self._thread = threading.Thread(target=self._serve, name=f"pn532 {self.path}", daemon=True)
        self._thread.start()

    @property
    def faults(self) -> ChipFaults:
        """The chip's fault settings (change them at any time)."""
        return self.chip.faults

    def place(self, card: FieldCard) -> None:
        """Put a card in the chip's field."""
        self.chip.place(card)

    def place_uid(self, uid: str, profile: str = "ntag215") -> Type2Card:
        """Put a fresh simulated Type 2 card with this UID (hex) in the field."""
        from simulators.nfc.profiles import PROFILES, Type2Profile

        chosen = PROFILES[profile]
        if not isinstance(chosen, Type2Profile):
            raise ValueError(f"{profile} is not a type A card; the PN532 field holds NTAG/MIFARE")
        card = Type2Card(chosen, bytes.fromhex(uid), None)
        self.chip.place(card)
        return card

    def lift(self) -> None:
        """Take the card away."""
        self.chip.lift()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(self._master, 4096)
            except OSError:
                if self._stop.is_set():
                    return
                continue
            self.bytes_in += len(data)
            answer = self.chip.receive(data)
            if answer:
                with contextlib.suppress(OSError):
                    os.write(self._master, answer)

    def close(self) -> None:
        """Stop answering and close both ends."""
        self._stop.set()
        self._thread.join(2.0)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PtyChip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
