"""Phone-signed member codes (``shared.phonecode``): what a kiosk accepts and refuses, offline."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared import phonecode, qrtoken
from shared.errors import TokenError
from shared.model import DeviceKey
from shared.reasons import RejectReason, messages

NOW = 1_764_770_000_000
SKEW_S = 30


def device(device_id: str, revoked_ms: int | None = None) -> tuple[bytes, DeviceKey]:
    """A phone's private key and the public record kiosks hold."""
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes_raw()
    key = DeviceKey(
        device_id=device_id,
        public_key=base64.urlsafe_b64encode(public).decode().rstrip("="),
        revoked_ms=revoked_ms,
    )
    return private.private_bytes_raw(), key


def refused(code: str, devices: tuple[DeviceKey, ...], now_ms: int = NOW) -> str:
    with pytest.raises(TokenError) as caught:
        phonecode.verify_code(code, devices, now_ms, SKEW_S)
    return caught.value.reason


def test_a_code_signed_by_the_members_phone_verifies_offline() -> None:
    private, key = device("d1")
    code = phonecode.sign_code(private, "d1", "m1", NOW)
    assert phonecode.is_phone_code(code) and phonecode.claimed_member(code) == "m1"
    claims = phonecode.verify_code(code, (key,), NOW + 10_000, SKEW_S)
    assert (claims.member_id, claims.key_id) == ("m1", "d1")
    assert claims.expires_ms == NOW + phonecode.CODE_TTL_S * 1000
    assert claims.credential().qr_nonce == claims.nonce


def test_a_forged_signature_is_refused() -> None:
    _, key = device("d1")
    forger, _ = device("d1")  # the attacker's own key, claiming the member's device id
    assert refused(phonecode.sign_code(forger, "d1", "m1", NOW), (key,)) == "qr_bad_signature"
    genuine = phonecode.sign_code(device("d1")[0], "d1", "m1", NOW)
    head, payload, signature = genuine.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert refused(f"{head}.{payload}.{flipped}", (key,)) in {"qr_bad_signature", "qr_malformed"}


def test_a_key_registered_for_another_member_is_refused() -> None:
    mallory_private, mallory_key = device("dM")
    _, anna_key = device("dA")
    # Mallory signs a code naming Anna with her own registered device: the kiosk looks up
    # Anna's devices, and Mallory's is not among them.
    code = phonecode.sign_code(mallory_private, "dM", "anna", NOW)
    assert refused(code, (anna_key,)) == RejectReason.DEVICE_UNKNOWN
    # Even if a stale record listed the right id with another key, the signature fails.
    stale = DeviceKey(device_id="dM", public_key=anna_key.public_key)
    assert refused(code, (stale,)) == RejectReason.QR_BAD_SIGNATURE
    assert phonecode.verify_code(
        phonecode.sign_code(mallory_private, "dM", "mallory", NOW), (mallory_key,), NOW, SKEW_S
    )


def test_a_revoked_device_is_refused_whatever_time_it_claims() -> None:
    private, key = device("d1", revoked_ms=NOW - 3_600_000)
    backdated = phonecode.sign_code(private, "d1", "m1", NOW)
    assert refused(backdated, (key,)) == RejectReason.DEVICE_REVOKED
    assert "removed" in messages(RejectReason.DEVICE_REVOKED)[1]


def test_a_phone_clock_far_off_is_refused_in_words() -> None:
    private, key = device("d1")
    ahead = phonecode.sign_code(private, "d1", "m1", NOW + 10 * 60_000)
    with pytest.raises(TokenError) as caught:
        phonecode.verify_code(ahead, (key,), NOW, SKEW_S)
    assert caught.value.reason == RejectReason.PHONE_CLOCK_OFF
    assert "10.0 min ahead" in str(caught.value)
    behind = phonecode.sign_code(private, "d1", "m1", NOW - 2 * 3_600_000)
    with pytest.raises(TokenError) as caught:
        phonecode.verify_code(behind, (key,), NOW, SKEW_S)
    assert caught.value.reason == RejectReason.PHONE_CLOCK_OFF
    assert "2.0 h before" in str(caught.value)
    zh, en = messages(RejectReason.PHONE_CLOCK_OFF)
    assert "手机时间" in zh and "clock" in en
    # Within the tolerance the code is fine; just past its life it is merely expired.
    assert phonecode.verify_code(
        phonecode.sign_code(private, "d1", "m1", NOW + 20_000), (key,), NOW, SKEW_S
    )
    just_old = phonecode.sign_code(private, "d1", "m1", NOW - 90_000)
    assert refused(just_old, (key,)) == RejectReason.QR_EXPIRED


def test_a_long_lifetime_is_cut_to_the_kiosks_limit() -> None:
    private, key = device("d1")
    code = phonecode.sign_code(private, "d1", "m1", NOW, ttl_s=3600)
    later = NOW + (phonecode.CODE_TTL_S + SKEW_S + 1) * 1000
    assert refused(code, (key,), later) == RejectReason.QR_EXPIRED


def test_a_coordinator_token_is_not_a_phone_code_and_back() -> None:
    private, key = device("d1")
    tf1 = qrtoken.issue_token(private, "d1", "m1", NOW, 60)
    assert not phonecode.is_phone_code(tf1)
    assert refused(tf1, (key,)) == RejectReason.QR_MALFORMED
    tf2 = phonecode.sign_code(private, "d1", "m1", NOW)
    qr_key = qrtoken.qr_key_for(private, "d1")
    with pytest.raises(TokenError) as caught:
        qrtoken.verify_token(tf2, (qr_key,), NOW, SKEW_S)
    assert caught.value.reason == RejectReason.QR_MALFORMED
