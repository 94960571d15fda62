"""Virtual NFC cards on nfcpy's ``udp`` transport, read by nfcpy's real reader code.

A reader opened on ``udp:HOST:PORT`` sends each command as a datagram to HOST:PORT; a
virtual card binds that port and answers like the card would over the air. Card variants
(NTAG213/215/216, MIFARE Ultralight EV1, FeliCa) are rows in ``profiles``; the protocol code
is written once per card family (``type2``, ``type3``).

Use ``present_card`` (or ``VirtualCard``) from tests and ``tapfleet sim tap`` by hand.
"""

from simulators.nfc.card import VirtualCard, ndef_message, present_card
from simulators.nfc.profiles import PROFILES, Type2Profile, Type3Profile

__all__ = [
    "PROFILES",
    "Type2Profile",
    "Type3Profile",
    "VirtualCard",
    "ndef_message",
    "present_card",
]
