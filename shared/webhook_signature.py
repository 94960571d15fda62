"""Standard Webhooks 1.0 signatures: the one signer (coordinator) and verifier (receivers).

A message is signed as ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`` where
``key`` is the base64 part of a ``whsec_`` secret. During a secret rotation the sender signs
with every live secret and sends the signatures space-separated; a receiver accepts the
message when any one matches the secret it holds. Receivers verify the raw body bytes
(re-serialising JSON would change them) and refuse timestamps too far from their clock,
so a captured request cannot be replayed later. Pure: no IO, no clock of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _secrets
from collections.abc import Iterable

PREFIX = "whsec_"
TOLERANCE_S = 300
"""How far a message's timestamp may be from the receiver's clock (the spec's 5 minutes)."""


class WebhookVerificationError(ValueError):
    """A webhook whose headers or signature do not check out (the message says which)."""


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` + base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(_secrets.token_bytes(32)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (ValueError when it is not one)."""
    if not secret.startswith(PREFIX):
        raise ValueError("a webhook secret starts with 'whsec_'")
    try:
        key = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except ValueError as exc:
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from exc
    if not 24 <= len(key) <= 64:
        raise ValueError("a webhook secret's key is 24 to 64 bytes")
    return key


def signature(secret: str, message_id: str, timestamp_s: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of the message under ``secret``."""
    signed = f"{message_id}.{timestamp_s}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def sign_headers(
    secrets: Iterable[str], message_id: str, timestamp_s: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret given (a rotation)."""
    sigs = " ".join(signature(s, message_id, timestamp_s, body) for s in secrets)
    if not sigs:
        raise ValueError("a webhook needs at least one secret to be signed")
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": sigs,
    }


def verify(
    secret: str, headers: dict[str, str], body: bytes, now_s: int, tolerance_s: int = TOLERANCE_S
) -> str:
    """Check a received webhook against ``secret``; returns its message id.

    ``headers`` are matched case-insensitively. Raises :class:`WebhookVerificationError`
    naming what is wrong: a missing header, a timestamp outside the tolerance, or no
    signature that matches.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        message_id = lower["webhook-id"]
        stamp = lower["webhook-timestamp"]
        given = lower["webhook-signature"]
    except KeyError as exc:
        raise WebhookVerificationError(f"missing header {exc.args[0]}") from exc
    try:
        timestamp_s = int(stamp)
    except ValueError as exc:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from exc
    if abs(now_s - timestamp_s) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    expected = signature(secret, message_id, timestamp_s, body)
    for candidate in given.split(" "):
        if hmac.compare_digest(candidate.encode(), expected.encode()):
            return message_id
    raise WebhookVerificationError("no signature matches")
