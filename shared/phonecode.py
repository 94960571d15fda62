"""QR codes signed by the member's own phone, verified offline by any kiosk.

The phone page creates an Ed25519 key pair in the browser (WebCrypto; the private key is
never exported), registers the public key with the coordinator, and from then on signs a
short-lived code every few seconds with no network. The coordinator pushes each member's
device public keys to kiosks inside the member record (``MemberRecord.devices``), so a
kiosk checks a phone-signed code as it checks a coordinator-signed one. A code looks like::

    TF2.<payload, urlsafe base64>.<signature, urlsafe base64>

with exactly the payload of :mod:`shared.qrtoken` (``key_id`` is the device id), signed
over ``TF2.<payload>``. Replays are the kiosk ledger's business as for ``TF1``: the nonce is
accepted once per kiosk, and the coordinator flags a nonce seen at two kiosks.

Browsers without Ed25519 in WebCrypto (before Safari 17, Firefox 129, Chrome 137), or a
page whose stored key was evicted, keep showing coordinator-signed ``TF1`` tokens while
online; a new key is registered transparently when the old one is gone.

Pure: no IO. Every failure is a :class:`shared.errors.TokenError` whose ``reason`` is a
:class:`shared.reasons.RejectReason` value.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared import qrtoken
from shared.errors import TokenError
from shared.model import DeviceKey
from shared.qrtoken import TokenClaims
from shared.reasons import RejectReason

PREFIX = "TF2"
"""Phone-signed code marker (``TF1`` is the coordinator's)."""

CODE_TTL_S = 30
"""How long a code the phone signs is valid; the page signs a new one every few seconds."""

REFRESH_S = 5
"""How often the phone page signs a new code."""

MAX_DEVICES = 3
"""Active devices a member may hold; a fourth is refused until one is revoked."""

CLOCK_OFF_AFTER_S = 300
"""An expired code issued more than this long before the kiosk's time is blamed on the
phone's clock (or an old screenshot) in the member's words, not on a slow scan."""


def is_phone_code(text: str) -> bool:
    """True when ``text`` claims to be a phone-signed code (cheap: prefix only)."""
    return text.startswith(PREFIX + ".")


def sign_code(
    private_key_bytes: bytes,
    device_id: str,
    member_id: str,
    now_ms: int,
    ttl_s: int = CODE_TTL_S,
    nonce: str | None = None,
) -> str:
    """What the phone page does in JavaScript, for tests and benchmarks."""
    nonce = qrtoken.new_nonce() if nonce is None else nonce
    return qrtoken.sign_payload(
        PREFIX, private_key_bytes, device_id, member_id, now_ms, ttl_s, nonce
    )


def claimed_member(text: str) -> str:
    """The member a code names, before any check: which record's devices to verify with.

    Raises ``TokenError`` (QR_MALFORMED) for anything that is not a well-formed code.
    """
    return qrtoken.read_unverified(text, PREFIX)[2].member_id


def verify_code(
    text: str,
    devices: Sequence[DeviceKey],
    now_ms: int,
    skew_s: int,
    *,
    max_ttl_s: int = CODE_TTL_S,
) -> TokenClaims:
    """Check a phone-signed code offline against the named member's devices.

    ``devices`` are the devices of the member the code names (``MemberRecord.devices``), so a
    key registered for another member is simply not among them. Order: shape, device,
    signature, revocation, time. A lifetime above ``max_ttl_s`` is cut to it. A code from
    the future beyond ``skew_s``, or expired long ago, is refused as the phone's clock
    (``PHONE_CLOCK_OFF``) with the offset in the detail; a just-expired one as QR_EXPIRED.
    """
    signed, signature, claims = qrtoken.read_unverified(text, PREFIX)
    device = next((d for d in devices if d.device_id == claims.key_id), None)
    if device is None:
        raise TokenError(
            RejectReason.DEVICE_UNKNOWN.value,
            f"code signed by device {claims.key_id!r}, which member {claims.member_id!r} "
            "does not hold (never registered, registered to another member, or record stale)",
        )
    if not qrtoken.signature_matches(device.public_key, signed, signature):
        raise TokenError(
            RejectReason.QR_BAD_SIGNATURE.value,
            f"signature does not match device {claims.key_id!r} of member "
            f"{claims.member_id!r} (forged, altered or signed with another key)",
        )
    if device.revoked_ms is not None:
        raise TokenError(
            RejectReason.DEVICE_REVOKED.value,
            f"device {claims.key_id!r} of member {claims.member_id!r} was revoked at "
            f"{device.revoked_ms}",
        )
    skew_ms = skew_s * 1000
    if claims.issued_ms > now_ms + skew_ms:
        raise TokenError(
            RejectReason.PHONE_CLOCK_OFF.value,
            f"code issued {_minutes(claims.issued_ms - now_ms)} ahead of the kiosk's clock "
            f"(tolerance {skew_s} s): the phone's clock is fast",
        )
    effective_expiry = min(claims.expires_ms, claims.issued_ms + max_ttl_s * 1000)
    if now_ms > effective_expiry + skew_ms:
        behind_ms = now_ms - claims.issued_ms
        if behind_ms > CLOCK_OFF_AFTER_S * 1000:
            raise TokenError(
                RejectReason.PHONE_CLOCK_OFF.value,
                f"code issued {_minutes(behind_ms)} before the kiosk's clock: the phone's "
                "clock is slow, or this is an old screenshot",
            )
        raise TokenError(
            RejectReason.QR_EXPIRED.value,
            f"code expired at {effective_expiry}, {now_ms - effective_expiry} ms ago "
            f"(tolerance {skew_ms} ms)",
        )
    return claims


def _minutes(ms: int) -> str:
    minutes = ms / 60_000
    return f"{minutes:.1f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
