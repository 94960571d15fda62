"""Signed, short-lived member tokens for the QR code on a member's phone.

The coordinator signs a token with an Ed25519 key; kiosks verify it offline with the public
key from the rule bundle (``RuleBundle.qr_keys``). A token looks like::

    TF1.<payload, urlsafe base64>.<signature, urlsafe base64>

The signature covers the exact text ``TF1.<payload>`` so nothing has to be re-serialised to
verify. The payload is compact binary (a QR code on a phone should stay small)::

    issued_ms   6 bytes, big-endian, UTC epoch milliseconds
    expires_ms  6 bytes, big-endian
    key_id      1 length byte + ASCII   ([A-Za-z0-9_-]{1,16})
    member_id   1 length byte + ASCII   (shared.model.Id)
    nonce       1 length byte + ASCII   ([A-Za-z0-9_-]{8,32})

What is *not* here: "accept a token at most once per kiosk" needs memory, so the kiosk's
ledger keeps the nonces it has accepted until they expire (``TokenClaims.nonce`` and
``expires_ms``), and the coordinator flags a nonce seen at two kiosks.

Pure: no IO. Every failure is a :class:`shared.errors.TokenError` whose ``reason`` is a
:class:`shared.reasons.RejectReason` value.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shared.errors import TokenError
from shared.events import CredentialKind, CredentialRef
from shared.model import QrKey
from shared.reasons import RejectReason

PREFIX = "TF1"
"""Token format marker; a new format gets a new prefix so old kiosks refuse it cleanly."""

MAX_TOKEN_CHARS = 512
"""Anything longer is refused before decoding (a real token is about 150 characters)."""

DEFAULT_MAX_TTL_S = 3600
"""Longest lifetime a kiosk honours unless told otherwise (``Rules.qr_token_ttl_s`` <= 3600)."""

_MAX_MS = 2**48 - 1
_B64 = re.compile(r"^[A-Za-z0-9_-]*$")
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_MEMBER_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_NONCE = re.compile(r"^[A-Za-z0-9_-]{8,32}$")


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says. Only ever built from a token whose signature checked out."""

    key_id: str
    member_id: str
    issued_ms: int
    expires_ms: int
    nonce: str

    def credential(self) -> CredentialRef:
        """The credential reference to store in events identified by this token."""
        return CredentialRef(kind=CredentialKind.QR, qr_nonce=self.nonce, qr_key_id=self.key_id)


def new_nonce() -> str:
    """A fresh random nonce: 12 random bytes as 16 urlsafe base64 characters."""
    return _b64encode(secrets.token_bytes(12))


def generate_keypair(
    key_id: str, *, not_before_ms: int = 0, not_after_ms: int | None = None
) -> tuple[bytes, QrKey]:
    """A new Ed25519 signing key: (raw 32-byte private key, public ``QrKey`` for bundles)."""
    if not _KEY_ID.match(key_id):
        raise ValueError(f"key_id {key_id!r} must match {_KEY_ID.pattern}")
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes_raw()
    return raw, qr_key_for(raw, key_id, not_before_ms=not_before_ms, not_after_ms=not_after_ms)


def qr_key_for(
    private_key_bytes: bytes,
    key_id: str,
    *,
    not_before_ms: int = 0,
    not_after_ms: int | None = None,
) -> QrKey:
    """The public ``QrKey`` matching a raw 32-byte Ed25519 private key."""
    private = _private_key(private_key_bytes)
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return QrKey(
        key_id=key_id,
        public_key=base64.urlsafe_b64encode(public).decode("ascii"),
        not_before_ms=not_before_ms,
        not_after_ms=not_after_ms,
    )


def encode_private_key(private_key_bytes: bytes) -> str:
    """Text form of a raw private key for key files (urlsafe base64, no padding)."""
    _private_key(private_key_bytes)
    return _b64encode(private_key_bytes)


def decode_private_key(text: str) -> bytes:
    """Inverse of :func:`encode_private_key`; raises ValueError saying what is wrong."""
    raw = _b64decode(text.strip())
    if raw is None or len(raw) != 32:
        raise ValueError(
            "a QR signing key file must hold one line: the 32-byte Ed25519 private key "
            "in urlsafe base64 (43 characters)"
        )
    return raw


def issue_token(
    private_key_bytes: bytes,
    key_id: str,
    member_id: str,
    now_ms: int,
    ttl_s: int,
    nonce: str | None = None,
) -> str:
    """Sign a token for ``member_id``, valid from ``now_ms`` for ``ttl_s`` seconds."""
    nonce = new_nonce() if nonce is None else nonce
    if not _KEY_ID.match(key_id):
        raise ValueError(f"key_id {key_id!r} must match {_KEY_ID.pattern}")
    if not _MEMBER_ID.match(member_id):
        raise ValueError(f"member_id {member_id!r} must match {_MEMBER_ID.pattern}")
    if not _NONCE.match(nonce):
        raise ValueError(f"nonce {nonce!r} must match {_NONCE.pattern}")
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    return sign_payload(PREFIX, private_key_bytes, key_id, member_id, now_ms, ttl_s, nonce)


def sign_payload(
    prefix: str,
    private_key_bytes: bytes,
    key_id: str,
    member_id: str,
    now_ms: int,
    ttl_s: int,
    nonce: str,
) -> str:
    """``<prefix>.<payload>.<signature>`` over the binary payload this module describes.

    The one encoder of the payload: coordinator tokens (``TF1``) and phone-signed codes
    (``TF2``, :mod:`shared.phonecode`) differ only in prefix and in who holds the key.
    """
    expires_ms = now_ms + ttl_s * 1000
    if not 0 <= now_ms <= expires_ms <= _MAX_MS:
        raise ValueError(f"now_ms {now_ms} is out of range")
    payload = (
        now_ms.to_bytes(6, "big")
        + expires_ms.to_bytes(6, "big")
        + _field(key_id)
        + _field(member_id)
        + _field(nonce)
    )
    signed = f"{prefix}.{_b64encode(payload)}"
    signature = _private_key(private_key_bytes).sign(signed.encode("ascii"))
    return f"{signed}.{_b64encode(signature)}"


def read_unverified(token: object, prefix: str) -> tuple[bytes, bytes, TokenClaims]:
    """(signed text, signature, claims) of a well-formed token, signature NOT checked.

    Only for finding which key to check it with; nothing here may be trusted until
    :func:`signature_matches` says so. Raises ``TokenError`` (QR_MALFORMED).
    """
    signed, payload, signature = _split(token, prefix)
    return signed, signature, _parse_payload(payload)


def is_public_key(text: str) -> bool:
    """True when ``text`` is a raw 32-byte Ed25519 public key in urlsafe base64."""
    return _public_key_text(text) is not None


def signature_matches(public_key: str, signed: bytes, signature: bytes) -> bool:
    """True when ``signature`` over ``signed`` verifies with the urlsafe-base64 raw key."""
    public = _public_key_text(public_key)
    return public is not None and _signature_ok(public, signed, signature)


def verify_token(
    token: str,
    keys: Sequence[QrKey],
    now_ms: int,
    skew_s: int,
    *,
    max_ttl_s: int = DEFAULT_MAX_TTL_S,
) -> TokenClaims:
    """Check a scanned token offline and return its claims, or raise ``TokenError``.

    Order of checks: shape, key, signature, key validity window, time. Nothing from the
    payload is trusted until the signature is verified. ``skew_s`` is tolerated both ways
    (phone and kiosk clocks differ). A token whose stated lifetime exceeds ``max_ttl_s``
    expires ``max_ttl_s`` after issue anyway, so a leaked retired key cannot mint
    long-lived tokens.
    """
    signed, payload, signature = _split(token)
    claims = _parse_payload(payload)

    candidates = [key for key in keys if key.key_id == claims.key_id]
    if not candidates:
        raise TokenError(
            RejectReason.QR_UNKNOWN_KEY.value,
            f"token signed with key {claims.key_id!r}, which is not in the rule bundle "
            "(bundle out of date, or key never published)",
        )
    usable = [(key, public) for key in candidates if (public := _public_key(key)) is not None]
    if not usable:
        raise TokenError(
            RejectReason.QR_UNKNOWN_KEY.value,
            f"key {claims.key_id!r} in the rule bundle is not a valid Ed25519 public key",
        )
    verifying = [key for key, public in usable if _signature_ok(public, signed, signature)]
    if not verifying:
        raise TokenError(
            RejectReason.QR_BAD_SIGNATURE.value,
            f"signature does not match key {claims.key_id!r} (forged, altered or signed "
            "with another key)",
        )
    if not any(_key_honours(key, claims.issued_ms) for key in verifying):
        raise TokenError(
            RejectReason.QR_UNKNOWN_KEY.value,
            f"key {claims.key_id!r} is not valid for tokens issued at {claims.issued_ms} "
            "(retired or not yet active)",
        )

    skew_ms = skew_s * 1000
    if claims.issued_ms > now_ms + skew_ms:
        raise TokenError(
            RejectReason.QR_NOT_YET_VALID.value,
            f"token issued at {claims.issued_ms}, {claims.issued_ms - now_ms} ms after "
            f"the kiosk's clock (tolerance {skew_ms} ms)",
        )
    effective_expiry = min(claims.expires_ms, claims.issued_ms + max_ttl_s * 1000)
    if now_ms > effective_expiry + skew_ms:
        raise TokenError(
            RejectReason.QR_EXPIRED.value,
            f"token expired at {effective_expiry}, {now_ms - effective_expiry} ms ago "
            f"(tolerance {skew_ms} ms)",
        )
    return claims


def _split(token: object, prefix: str = PREFIX) -> tuple[bytes, bytes, bytes]:
    """(signed text, payload bytes, signature bytes) or QR_MALFORMED."""
    if not isinstance(token, str):
        raise _malformed("not text")
    if len(token) > MAX_TOKEN_CHARS:
        raise _malformed(f"{len(token)} characters, more than {MAX_TOKEN_CHARS}")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != prefix:
        raise _malformed(f"not a {prefix} member token")
    payload = _b64decode(parts[1])
    signature = _b64decode(parts[2])
    if payload is None or signature is None:
        raise _malformed("invalid base64")
    if len(signature) != 64:
        raise _malformed("signature has the wrong length (truncated?)")
    return f"{parts[0]}.{parts[1]}".encode("ascii"), payload, signature


def _parse_payload(payload: bytes) -> TokenClaims:
    if len(payload) < 15:
        raise _malformed("payload too short (truncated?)")
    issued_ms = int.from_bytes(payload[0:6], "big")
    expires_ms = int.from_bytes(payload[6:12], "big")
    offset = 12
    fields: list[str] = []
    for name, pattern in (("key_id", _KEY_ID), ("member_id", _MEMBER_ID), ("nonce", _NONCE)):
        if offset >= len(payload):
            raise _malformed(f"payload ends before {name}")
        length = payload[offset]
        raw = payload[offset + 1 : offset + 1 + length]
        offset += 1 + length
        if len(raw) != length:
            raise _malformed(f"payload ends inside {name}")
        text = raw.decode("ascii", errors="replace")
        if not pattern.match(text):
            raise _malformed(f"{name} has invalid characters")
        fields.append(text)
    if offset != len(payload):
        raise _malformed("unexpected bytes after the payload")
    if expires_ms < issued_ms:
        raise _malformed("expires before it was issued")
    key_id, member_id, nonce = fields
    return TokenClaims(
        key_id=key_id,
        member_id=member_id,
        issued_ms=issued_ms,
        expires_ms=expires_ms,
        nonce=nonce,
    )


def _signature_ok(public: Ed25519PublicKey, signed: bytes, signature: bytes) -> bool:
    try:
        public.verify(signature, signed)
    except InvalidSignature:
        return False
    return True


def _key_honours(key: QrKey, issued_ms: int) -> bool:
    if issued_ms < key.not_before_ms:
        return False
    return key.not_after_ms is None or issued_ms < key.not_after_ms


def _public_key(key: QrKey) -> Ed25519PublicKey | None:
    return _public_key_text(key.public_key)


def _public_key_text(public_key: str) -> Ed25519PublicKey | None:
    text = public_key.rstrip("=")
    raw = _b64decode(text)
    if raw is None or len(raw) != 32:
        return None
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return None


def _private_key(private_key_bytes: bytes) -> Ed25519PrivateKey:
    if len(private_key_bytes) != 32:
        raise ValueError("an Ed25519 private key is 32 raw bytes")
    return Ed25519PrivateKey.from_private_bytes(private_key_bytes)


def _field(text: str) -> bytes:
    raw = text.encode("ascii")
    return bytes([len(raw)]) + raw


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes | None:
    """Strict urlsafe base64 without padding; None unless ``text`` is the canonical form.

    The canonical check matters: the last character carries unused bits, and two texts that
    decode to the same bytes must not both be accepted as "the same" token.
    """
    if not _B64.match(text) or len(text) % 4 == 1:
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    if _b64encode(data) != text:
        return None
    return data


def _malformed(detail: str) -> TokenError:
    return TokenError(RejectReason.QR_MALFORMED.value, f"not a valid member token: {detail}")
