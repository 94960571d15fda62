"""The narrow interfaces the station talks to its hardware through (for the type checker).

Only imported under ``TYPE_CHECKING``: MicroPython never loads this module. A board driver
(``machine.UART`` and ``machine.Pin`` on an ESP32, the simulated ones in CI) and a card
reader (``reader.Pn532Reader`` today, an MFRC522 reader later) fit these shapes.
"""

from typing import Protocol


class Uart(Protocol):
    """What the PN532 driver needs from ``machine.UART``."""

    def read(self, __nbytes: int) -> bytes | None:
        """Up to ``nbytes`` bytes; None when nothing arrived within the UART's timeout."""
        ...

    def write(self, __buf: bytes) -> int | None:
        """Send ``buf``."""
        ...

    def any(self) -> int:
        """Bytes waiting to be read."""
        ...


class OutputPin(Protocol):
    """A GPIO set up as an output (LED colour, buzzer)."""

    def value(self, __x: int) -> None:
        """Drive the pin low (0) or high (1)."""
        ...


class CardReader(Protocol):
    """A card reader the station polls: one method to start, one to look for a card."""

    def start(self) -> str:
        """Set the chip up; returns a description (e.g. ``PN532 v1.6``). Raises ChipError."""
        ...

    def detect(self) -> str | None:
        """The UID (upper-case hex) of the card in the field, or None.

        Raises ``reader.ReadProblem`` for a card that could not be read fully or whose
        UID is not 4, 7 or 10 bytes, and ``pn532.ChipError`` when the chip misbehaves.
        """
        ...


class Display(Protocol):
    """An optional small display for the refusal's reason code."""

    def show(self, text: str) -> None:
        """Show ``text`` (empty clears)."""
        ...
