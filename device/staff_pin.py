"""Staff PIN hashing: the kiosk stores only a salted hash of the PIN, never the PIN.

The hash format and its cost are :mod:`shared.password_hash`'s (scrypt, the same as the
coordinator's ops users); this module adds what is particular to a PIN: 4 to 12 digits,
and the development PIN. Generate a hash with ``tapfleet kiosk --hash-pin`` (reads the PIN
from stdin). A PIN hash in the older ``pbkdf2_sha256$...`` format still verifies; the kiosk
says in its log that it is outdated (it never rewrites its config file).
"""

from __future__ import annotations

import re

from shared.password_hash import (
    RECOMMENDED,
    HashFormatError,
    ScryptCost,
    check_format,
    hash_password,
    needs_upgrade,
    verify_password,
)

PIN_PATTERN = re.compile(r"^[0-9]{4,12}$")

DEV_PIN = "0000"
"""The development PIN. Settings refuse any hash of it outside dev mode."""

DEV_PIN_HASH = (
    "$scrypt$ln=14,r=8,p=5$dGFwZmxlZXQtZGV2LXBpbg$J7XJ23pKpApf/92KjT3LOEcwwboozIg2RgL+nuzG/AY"
)
"""``hash_pin(DEV_PIN, salt=b"tapfleet-dev-pin")``: a fixed salt keeps the dev default stable.
It protects nothing and the settings validator refuses it (or any hash of ``DEV_PIN``)
outside dev mode."""


class PinHashError(HashFormatError):
    """A stored PIN hash is not in a format the kiosk can verify."""


def hash_pin(pin: str, *, cost: ScryptCost = RECOMMENDED, salt: bytes | None = None) -> str:
    """A storable hash of ``pin`` (4-12 digits); raises ValueError for anything else."""
    if not PIN_PATTERN.match(pin):
        raise ValueError("a staff PIN is 4 to 12 digits")
    return hash_password(pin, cost, salt=salt)


def check_pin_hash(stored: str) -> str:
    """``stored`` if the kiosk can verify it; PinHashError saying what to do otherwise."""
    try:
        return check_format(stored)
    except HashFormatError as exc:
        raise PinHashError(
            f"{exc}; generate a staff PIN hash with `tapfleet kiosk --hash-pin`"
        ) from exc


def verify_pin(pin: str, stored: str) -> bool:
    """True when ``pin`` matches the stored hash (constant-time comparison)."""
    check_pin_hash(stored)
    if not PIN_PATTERN.match(pin):
        return False
    return verify_password(pin, stored)


def pin_hash_outdated(stored: str) -> bool:
    """True when ``stored`` is an older format or cheaper than today's cost."""
    return needs_upgrade(stored, RECOMMENDED)
