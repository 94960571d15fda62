"""Staff PIN hashing: the kiosk stores only a salted PBKDF2 hash of the PIN, never the PIN.

Format (one string, safe in TOML/JSON and environment variables)::

    pbkdf2_sha256$<iterations>$<salt, urlsafe base64>$<hash, urlsafe base64>

Generate one with ``tapfleet kiosk --hash-pin`` (reads the PIN from stdin).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

ALGORITHM = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 120_000
MIN_ITERATIONS = 10_000
PIN_PATTERN = re.compile(r"^[0-9]{4,12}$")

DEV_PIN = "0000"
"""The development PIN. Settings refuse any hash of it outside dev mode."""

DEV_PIN_HASH = (
    "pbkdf2_sha256$120000$dGFwZmxlZXQtZGV2LXBpbg$mu1sTF9UweyEysVip5cp_tiYrG42-eKzk50-O9bV9G0"
)
"""``hash_pin(DEV_PIN, salt=b"tapfleet-dev-pin")``: a fixed salt keeps the dev default stable.
It protects nothing and the settings validator refuses it (or any hash of ``DEV_PIN``)
outside dev mode."""


class PinHashError(ValueError):
    """A stored PIN hash is not in the expected format."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(pin: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"), salt, iterations)


def hash_pin(pin: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None) -> str:
    """A storable hash of ``pin`` (4-12 digits); raises ValueError for anything else."""
    if not PIN_PATTERN.match(pin):
        raise ValueError("a staff PIN is 4 to 12 digits")
    if iterations < MIN_ITERATIONS:
        raise ValueError(f"iterations must be at least {MIN_ITERATIONS}")
    salt = secrets.token_bytes(16) if salt is None else salt
    return f"{ALGORITHM}${iterations}${_b64(salt)}${_b64(_derive(pin, salt, iterations))}"


def parse_pin_hash(stored: str) -> tuple[int, bytes, bytes]:
    """(iterations, salt, digest) of a stored hash; raises PinHashError saying what is wrong."""
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != ALGORITHM:
        raise PinHashError(
            f"a staff PIN hash looks like '{ALGORITHM}$<iterations>$<salt>$<hash>'; "
            "generate one with `tapfleet kiosk --hash-pin`"
        )
    try:
        iterations = int(parts[1])
        salt, digest = _unb64(parts[2]), _unb64(parts[3])
    except ValueError as exc:
        raise PinHashError(f"the staff PIN hash is damaged: {exc}") from exc
    if iterations < MIN_ITERATIONS or len(salt) < 8 or len(digest) != 32:
        raise PinHashError(
            "the staff PIN hash is too weak or truncated; generate a new one with "
            "`tapfleet kiosk --hash-pin`"
        )
    return iterations, salt, digest


def verify_pin(pin: str, stored: str) -> bool:
    """True when ``pin`` matches the stored hash (constant-time comparison)."""
    iterations, salt, digest = parse_pin_hash(stored)
    if not PIN_PATTERN.match(pin):
        return False
    return hmac.compare_digest(_derive(pin, salt, iterations), digest)
