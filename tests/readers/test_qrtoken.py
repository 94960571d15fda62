"""Signed member QR tokens: issue, verify, and every way a token must be refused."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.errors import TokenError
from shared.events import CredentialKind, CredentialRef
from shared.model import QrKey
from shared.qrtoken import (
    MAX_TOKEN_CHARS,
    decode_private_key,
    encode_private_key,
    generate_keypair,
    issue_token,
    qr_key_for,
    verify_token,
)
from shared.reasons import RejectReason

NOW = 1_760_000_000_000
SKEW_S = 30
PRIVATE, KEY = generate_keypair("k1")
OTHER_PRIVATE, OTHER_KEY = generate_keypair("k2")


def token(**overrides: object) -> str:
    args: dict[str, object] = {
        "private_key_bytes": PRIVATE,
        "key_id": "k1",
        "member_id": "M-1001",
        "now_ms": NOW,
        "ttl_s": 60,
    }
    args.update(overrides)
    return issue_token(**args)  # type: ignore[arg-type]


def reason_of(tok: object, keys: list[QrKey] | None = None, now: int = NOW) -> str:
    with pytest.raises(TokenError) as info:
        verify_token(tok, keys if keys is not None else [KEY], now, SKEW_S)  # type: ignore[arg-type]
    return info.value.reason


def test_valid_token_round_trips_member_expiry_and_nonce() -> None:
    tok = token(nonce="abcdEFGH_-12")
    claims = verify_token(tok, [KEY], NOW + 5_000, SKEW_S)
    assert claims.member_id == "M-1001"
    assert claims.key_id == "k1"
    assert claims.issued_ms == NOW
    assert claims.expires_ms == NOW + 60_000
    assert claims.nonce == "abcdEFGH_-12"
    assert claims.credential() == CredentialRef(
        kind=CredentialKind.QR, qr_nonce="abcdEFGH_-12", qr_key_id="k1"
    )


def test_generated_nonces_are_fresh_and_fit_the_event_schema() -> None:
    nonces = {verify_token(token(), [KEY], NOW, SKEW_S).nonce for _ in range(50)}
    assert len(nonces) == 50
    for nonce in nonces:
        CredentialRef(kind=CredentialKind.QR, qr_nonce=nonce, qr_key_id="k1")


def test_token_is_compact_enough_for_a_small_qr_code() -> None:
    assert len(token(member_id="M-1001")) < 160
    assert len(token(member_id="M" * 64)) < 230


def test_forged_token_signed_with_another_key_is_bad_signature() -> None:
    forged = issue_token(OTHER_PRIVATE, "k1", "M-1001", NOW, 60)
    assert reason_of(forged) == RejectReason.QR_BAD_SIGNATURE


def test_tampered_member_id_is_bad_signature() -> None:
    genuine = token(member_id="M-1001")
    other = token(member_id="M-9999")
    # Splice the payload of one token onto the signature of another.
    spliced = ".".join([*other.split(".")[:2], genuine.split(".")[2]])
    assert reason_of(spliced) == RejectReason.QR_BAD_SIGNATURE


def test_unknown_key_id() -> None:
    assert reason_of(token(), keys=[OTHER_KEY]) == RejectReason.QR_UNKNOWN_KEY
    assert reason_of(token(), keys=[]) == RejectReason.QR_UNKNOWN_KEY


def test_expired_beyond_skew_but_accepted_within_skew() -> None:
    tok = token(ttl_s=60)
    verify_token(tok, [KEY], NOW + 60_000 + SKEW_S * 1000, SKEW_S)
    assert reason_of(tok, now=NOW + 60_000 + SKEW_S * 1000 + 1) == RejectReason.QR_EXPIRED


def test_not_yet_valid_beyond_skew_but_accepted_within_skew() -> None:
    tok = token()
    verify_token(tok, [KEY], NOW - SKEW_S * 1000, SKEW_S)
    assert reason_of(tok, now=NOW - SKEW_S * 1000 - 1) == RejectReason.QR_NOT_YET_VALID


def test_lifetime_is_capped_by_max_ttl() -> None:
    tok = token(ttl_s=86_400)
    with pytest.raises(TokenError) as info:
        verify_token(tok, [KEY], NOW + 3_700_000, SKEW_S, max_ttl_s=3600)
    assert info.value.reason == RejectReason.QR_EXPIRED


def test_replay_relevant_fields_are_exposed_for_the_kiosk_ledger() -> None:
    """Same token twice verifies twice: replay is the ledger's job, by nonce until expiry."""
    tok = token()
    first = verify_token(tok, [KEY], NOW, SKEW_S)
    second = verify_token(tok, [KEY], NOW + 1000, SKEW_S)
    assert first.nonce == second.nonce
    assert first.expires_ms == NOW + 60_000
    assert verify_token(token(), [KEY], NOW, SKEW_S).nonce != first.nonce


def test_key_rotation_honours_old_key_only_for_tokens_issued_before_retirement() -> None:
    retire_at = NOW + 10_000
    old = qr_key_for(PRIVATE, "k1", not_after_ms=retire_at)
    new_private, new = generate_keypair("k2", not_before_ms=retire_at - 60_000)
    before = token(now_ms=retire_at - 1)
    after = token(now_ms=retire_at)
    assert verify_token(before, [old, new], retire_at + 5_000, SKEW_S).key_id == "k1"
    with pytest.raises(TokenError) as info:
        verify_token(after, [old, new], retire_at + 5_000, SKEW_S)
    assert info.value.reason == RejectReason.QR_UNKNOWN_KEY
    fresh = issue_token(new_private, "k2", "M-1001", retire_at, 60)
    assert verify_token(fresh, [old, new], retire_at + 5_000, SKEW_S).key_id == "k2"


def test_key_not_yet_active_is_refused() -> None:
    future = qr_key_for(PRIVATE, "k1", not_before_ms=NOW + 1)
    assert reason_of(token(), keys=[future]) == RejectReason.QR_UNKNOWN_KEY


def test_invalid_public_key_in_bundle_is_unknown_key_not_a_crash() -> None:
    broken = QrKey(key_id="k1", public_key="!" * 43)
    assert reason_of(token(), keys=[broken]) == RejectReason.QR_UNKNOWN_KEY
    # A valid key next to the broken one still verifies.
    assert verify_token(token(), [broken, KEY], NOW, SKEW_S).member_id == "M-1001"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "hello",
        "https://example.com/member/123",
        "TF1",
        "TF1..",
        "TF2.AAAA.BBBB",
        "TF1.AAAA",
        "TF1.!!!!.AAAA",
        "TF1.AAAA.AAAA.AAAA",
        " " + "TF1.AAAA.AAAA",
    ],
)
def test_garbage_is_malformed(bad: str) -> None:
    assert reason_of(bad) == RejectReason.QR_MALFORMED


def test_truncated_tokens_are_malformed_or_bad_signature() -> None:
    tok = token()
    for cut in range(1, len(tok)):
        reason = reason_of(tok[:cut])
        assert reason == RejectReason.QR_MALFORMED, (cut, reason)


def test_oversized_token_is_malformed_before_decoding() -> None:
    assert reason_of("TF1." + "A" * MAX_TOKEN_CHARS + ".A") == RejectReason.QR_MALFORMED


def test_non_canonical_base64_is_malformed() -> None:
    tok = token()
    prefix, payload, sig = tok.split(".")
    # The last of 86 signature characters carries 2 unused bits: change only those.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(sig[-1])
    twin = sig[:-1] + alphabet[last ^ 0b01]
    assert reason_of(f"{prefix}.{payload}.{twin}") == RejectReason.QR_MALFORMED


def test_non_text_input_is_malformed() -> None:
    assert reason_of(b"TF1.AAAA.AAAA") == RejectReason.QR_MALFORMED
    assert reason_of(None) == RejectReason.QR_MALFORMED


def test_issue_refuses_bad_inputs() -> None:
    with pytest.raises(ValueError):
        token(member_id="has space")
    with pytest.raises(ValueError):
        token(nonce="short")
    with pytest.raises(ValueError):
        token(ttl_s=0)
    with pytest.raises(ValueError):
        issue_token(b"too short", "k1", "M-1", NOW, 60)


def test_private_key_text_round_trip() -> None:
    assert decode_private_key(encode_private_key(PRIVATE) + "\n") == PRIVATE
    with pytest.raises(ValueError):
        decode_private_key("not a key")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=600), st.binary(max_size=600)))
def test_random_input_only_ever_raises_token_error(data: str | bytes) -> None:
    with pytest.raises(TokenError) as info:
        verify_token(data, [KEY, OTHER_KEY], NOW, SKEW_S)  # type: ignore[arg-type]
    assert info.value.reason in {r.value for r in RejectReason}


@settings(max_examples=300)
@given(
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", max_size=300
    )
)
def test_random_token_shaped_text_only_ever_raises_token_error(body: str) -> None:
    with pytest.raises(TokenError):
        verify_token("TF1." + body, [KEY], NOW, SKEW_S)


TOKEN = issue_token(PRIVATE, "k1", "M-1001", NOW, 60, nonce="nonce-1234")


@settings(max_examples=400)
@given(st.integers(min_value=0, max_value=len(TOKEN) * 8 - 1))
def test_every_single_bit_flip_is_rejected(bit: int) -> None:
    raw = bytearray(TOKEN.encode("ascii"))
    raw[bit // 8] ^= 1 << (bit % 8)
    flipped = raw.decode("latin-1")
    with pytest.raises(TokenError):
        verify_token(flipped, [KEY], NOW, SKEW_S)


def test_every_single_bit_flip_exhaustively() -> None:
    for bit in range(len(TOKEN) * 8):
        raw = bytearray(TOKEN.encode("ascii"))
        raw[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(TokenError):
            verify_token(raw.decode("latin-1"), [KEY], NOW, SKEW_S)
