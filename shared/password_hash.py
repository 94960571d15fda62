"""Password and PIN hashes: one format, one place, for ops users and kiosk staff PINs alike.

New hashes are scrypt (``hashlib.scrypt``, OpenSSL), written as a PHC string::

    $scrypt$ln=<log2 N>,r=<block size>,p=<parallelism>$<salt>$<hash>

(salt 16 random bytes, hash 32 bytes, both standard base64 without padding; one string,
safe in TOML, JSON, SQL and environment variables).

Why scrypt, and these parameters. Today's guidance (OWASP Password Storage Cheat Sheet,
2023 onwards) is argon2id first, then scrypt, then PBKDF2-HMAC-SHA256 at 600,000 iterations.
scrypt is memory-hard: every guess needs ``128 * r * N`` bytes of memory, which is what makes
GPU and ASIC cracking expensive, and PBKDF2 is not; unlike argon2 it ships with Python
(no native wheel to build on a Raspberry Pi). The default cost, N = 2**14, r = 8, p = 5, is
one of OWASP's equivalent scrypt settings: 16 MiB per hash and about 0.2 s on one core of
a 2020s x86 server (about 1 s on a Raspberry Pi 4, which has no SHA or AES instructions to
help it). The 16 MiB row was chosen over OWASP's first row (N = 2**17, 128 MiB) because a
kiosk shares 1-4 GB with Chromium, and because a coordinator answering a burst of logins on
its 40 worker threads must not need 5 GiB for it (40 x 16 MiB is 640 MiB).

Older hashes keep verifying: both PBKDF2-SHA256 formats this project wrote before, which
shared the tag ``pbkdf2_sha256`` and 120,000 iterations::

    pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>                  (coordinator ops users)
    pbkdf2_sha256$<iterations>$<salt b64url>$<hash b64url>            (kiosk staff PIN)

:func:`needs_upgrade` tells a caller that a hash it just verified is older or cheaper than
the configured cost: the coordinator then rewrites the stored hash, the kiosk (whose PIN
hash comes from its config file) reports it. Tests pass a cheap :class:`ScryptCost`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.errors import TapfleetError

SCRYPT_TAG = "scrypt"
LEGACY_TAG = "pbkdf2_sha256"
SALT_BYTES = 16
HASH_BYTES = 32
MAX_MEMORY_BYTES = 256 * 1024 * 1024
"""A stored hash asking for more memory than this is refused (a typo must not take the box)."""
LEGACY_MIN_ITERATIONS = 10_000


class HashFormatError(TapfleetError, ValueError):
    """A stored hash is damaged, truncated, too weak to trust, or in an unknown format."""

    code = "bad_password_hash"


class ScryptCost(BaseModel):
    """The cost of new scrypt hashes (``N = 2**log2_n``, block size ``r``, parallelism ``p``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    log2_n: int = Field(
        14, ge=1, le=20, description="log2 of scrypt's CPU/memory cost N (memory: 128*r*N bytes)."
    )
    r: int = Field(8, ge=1, le=32, description="scrypt block size.")
    p: int = Field(5, ge=1, le=16, description="scrypt parallelism (run one after another).")

    @model_validator(mode="after")
    def _bounded(self) -> ScryptCost:
        if self.memory_bytes > MAX_MEMORY_BYTES:
            raise ValueError(
                f"scrypt cost needs {self.memory_bytes >> 20} MiB per hash; at most "
                f"{MAX_MEMORY_BYTES >> 20} MiB (lower log2_n or r)"
            )
        return self

    @property
    def memory_bytes(self) -> int:
        """Memory one hash needs."""
        return 128 * self.r * (1 << self.log2_n)

    @property
    def work(self) -> int:
        """Relative CPU work of one hash (N * r * p)."""
        return (1 << self.log2_n) * self.r * self.p

    def weaker_than(self, other: ScryptCost) -> bool:
        """True when this cost is below ``other`` in memory or in work."""
        return self.memory_bytes < other.memory_bytes or self.work < other.work

    def describe(self) -> str:
        """``scrypt ln=14,r=8,p=5`` (for logs)."""
        return f"{SCRYPT_TAG} ln={self.log2_n},r={self.r},p={self.p}"


RECOMMENDED = ScryptCost()
"""The production cost (see the module docstring for the reasons)."""


@dataclass(frozen=True)
class _Parsed:
    scheme: str
    """``scrypt`` or ``pbkdf2_sha256``."""
    salt: bytes
    digest: bytes
    cost: ScryptCost | None = None
    iterations: int = 0

    def describe(self) -> str:
        if self.cost is not None:
            return self.cost.describe()
        return f"{LEGACY_TAG} with {self.iterations} iterations"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str, *, urlsafe: bool = False) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    if urlsafe:
        return base64.urlsafe_b64decode(padded)
    return base64.b64decode(padded, validate=True)


def _scrypt(secret: str, salt: bytes, cost: ScryptCost) -> bytes:
    n = 1 << cost.log2_n
    return hashlib.scrypt(
        secret.encode("utf-8"),
        salt=salt,
        n=n,
        r=cost.r,
        p=cost.p,
        # OpenSSL's own accounting: B (p*128*r) plus V (128*r*(N+2)), with some room.
        maxmem=128 * cost.r * (n + 2 + cost.p) + 65_536,
        dklen=HASH_BYTES,
    )


def hash_password(secret: str, cost: ScryptCost = RECOMMENDED, *, salt: bytes | None = None) -> str:
    """A storable scrypt hash of ``secret`` with a fresh random salt (or ``salt``)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    params = f"ln={cost.log2_n},r={cost.r},p={cost.p}"
    return f"${SCRYPT_TAG}${params}${_b64(salt)}${_b64(_scrypt(secret, salt, cost))}"


_SCRYPT = re.compile(
    r"^\$scrypt\$ln=(?P<ln>[0-9]{1,2}),r=(?P<r>[0-9]{1,2}),p=(?P<p>[0-9]{1,2})"
    r"\$(?P<salt>[A-Za-z0-9+/]+)\$(?P<digest>[A-Za-z0-9+/]+)$"
)
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _parse(stored: str) -> _Parsed:
    match = _SCRYPT.match(stored)
    if match is not None:
        try:
            cost = ScryptCost(log2_n=int(match["ln"]), r=int(match["r"]), p=int(match["p"]))
            salt, digest = _unb64(match["salt"]), _unb64(match["digest"])
        except (ValueError, binascii.Error) as exc:
            raise HashFormatError(f"the scrypt hash is damaged: {exc}") from exc
        if len(salt) < 8 or len(digest) != HASH_BYTES:
            raise HashFormatError("the scrypt hash is truncated (salt or hash too short)")
        return _Parsed(SCRYPT_TAG, salt, digest, cost=cost)
    parts = stored.split("$")
    if len(parts) == 4 and parts[0] == LEGACY_TAG:
        try:
            iterations = int(parts[1])
            if _HEX_DIGEST.match(parts[3]):  # the coordinator's ops users wrote hex
                salt, digest = bytes.fromhex(parts[2]), bytes.fromhex(parts[3])
            else:  # the kiosk's staff PIN was urlsafe base64
                salt, digest = _unb64(parts[2], urlsafe=True), _unb64(parts[3], urlsafe=True)
        except (ValueError, binascii.Error) as exc:
            raise HashFormatError(f"the {LEGACY_TAG} hash is damaged: {exc}") from exc
        if iterations < LEGACY_MIN_ITERATIONS or len(salt) < 8 or len(digest) != HASH_BYTES:
            raise HashFormatError(f"the {LEGACY_TAG} hash is too weak or truncated")
        return _Parsed(LEGACY_TAG, salt, digest, iterations=iterations)
    raise HashFormatError(
        "unknown password hash format: expected '$scrypt$ln=..,r=..,p=..$<salt>$<hash>' "
        f"(or an older '{LEGACY_TAG}$...')"
    )


def check_format(stored: str) -> str:
    """``stored`` if it is a hash this module can verify; HashFormatError saying why not."""
    _parse(stored)
    return stored


def verify_password(secret: str, stored: str) -> bool:
    """True when ``secret`` matches ``stored`` (any supported format; constant-time compare).

    Raises HashFormatError when ``stored`` is not a usable hash.
    """
    parsed = _parse(stored)
    if parsed.cost is not None:
        candidate = _scrypt(secret, parsed.salt, parsed.cost)
    else:
        candidate = hashlib.pbkdf2_hmac(
            "sha256", secret.encode("utf-8"), parsed.salt, parsed.iterations
        )
    return hmac.compare_digest(candidate, parsed.digest)


def needs_upgrade(stored: str, cost: ScryptCost = RECOMMENDED) -> bool:
    """True when ``stored`` is an older format or cheaper than ``cost``: hash it again.

    A hash stronger than ``cost`` is left alone (lowering the cost never rewrites hashes).
    """
    parsed = _parse(stored)
    return parsed.cost is None or parsed.cost.weaker_than(cost)


def describe(stored: str) -> str:
    """The scheme and cost of ``stored``, never its salt or hash (for logs)."""
    return _parse(stored).describe()
