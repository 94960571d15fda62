"""Staff cards: the keyed hash of a staff card's UID that kiosks match a tapped card against.

A card UID is not a secret (any reader prints it, the card answers it to anyone), so this is
not what keeps a staff card from being cloned. The hash keeps the rule bundle, which every
kiosk of the store holds on its SD card, from listing the staff's card numbers: a stolen
kiosk or a copied bundle does not hand out a list of UIDs to write onto blank cards. Each
card gets its own random key (HMAC-SHA256 with a 16-byte key), so the same UID hashes
differently per binding and equal hashes never reveal two equal cards. A tap checks a
store's few dozen staff cards with one HMAC each: microseconds, fine on the tap path.

Format (one string, safe in JSON and SQL)::

    hmac-sha256$<key hex>$<digest hex>
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

PREFIX = "hmac-sha256"
CARD_HASH_PATTERN = r"^hmac-sha256\$[0-9a-f]{32}\$[0-9a-f]{64}$"
_FORMAT = re.compile(CARD_HASH_PATTERN)


def normalise_uid(uid: str) -> str:
    """A card UID as readers and the ledger write it: upper-case hex, no separators."""
    return uid.strip().replace(":", "").upper()


def hash_card_uid(uid: str, key: bytes | None = None) -> str:
    """The keyed hash of ``uid`` (a fresh random key unless one is given, for tests)."""
    key = secrets.token_bytes(16) if key is None else key
    digest = hmac.new(key, normalise_uid(uid).encode("ascii"), hashlib.sha256).hexdigest()
    return f"{PREFIX}${key.hex()}${digest}"


def card_matches(uid: str, card_hash: str) -> bool:
    """Whether ``uid`` is the card ``card_hash`` was made from (False for a malformed hash)."""
    if not _FORMAT.match(card_hash):
        return False
    _, key_hex, digest = card_hash.split("$")
    mine = hmac.new(bytes.fromhex(key_hex), normalise_uid(uid).encode("ascii"), hashlib.sha256)
    return hmac.compare_digest(mine.hexdigest(), digest)
