"""A simulated PN532 NFC chip that speaks the chip's real host protocol, behind a pty.

One chip simulator, two drivers: the door station's MicroPython PN532 driver
(``device/station/tapstation/pn532.py``) and nfcpy's own ``pn532`` driver on the kiosk
(``tty:`` path) both talk to it over a pseudo-terminal, frame by frame, exactly as they
would talk to a PN532 breakout on a UART. The cards in its field are the same virtual cards
the udp reader tests use (``simulators.nfc``), so a card answers the same way whichever
reader reads it.

    with PtyChip() as chip:                     # chip.path: /dev/pts/N
        chip.place(Type2Card(NTAG215, uid, None))
        ...                                     # a driver on chip.path sees the card
        chip.lift()
"""

from simulators.pn532.chip import ChipFaults, Pn532Chip, TornCard
from simulators.pn532.pty_link import PtyChip

__all__ = ["ChipFaults", "Pn532Chip", "PtyChip", "TornCard"]
