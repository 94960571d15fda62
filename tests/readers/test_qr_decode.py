"""Rendered camera frames through the real decoders (zxing-cpp default, pyzbar selectable)."""

from __future__ import annotations

import numpy as np
import pytest

from device.readers.errors import DecodeError
from device.readers.qr import decode_frame
from shared.qrtoken import generate_keypair, issue_token, verify_token
from simulators.camera.render import (
    apply,
    background,
    degraded_frame_set,
    noise,
    phone_frame,
    qr_image,
    render_sequence,
)

NOW = 1_760_000_000_000
PRIVATE, KEY = generate_keypair("k1")
TOKEN = issue_token(PRIVATE, "k1", "M-1001", NOW, 60, nonce="frame-nonce-01")
BASE = phone_frame(TOKEN, seed=1)


@pytest.mark.parametrize("backend", ["zxing", "pyzbar"])
def test_clean_frame_decodes_to_a_verifiable_token(backend: str) -> None:
    texts = decode_frame(BASE, backend)
    assert texts == [TOKEN]
    claims = verify_token(texts[0], [KEY], NOW + 1000, 30)
    assert (claims.member_id, claims.nonce) == ("M-1001", "frame-nonce-01")


@pytest.mark.parametrize(
    ("condition", "level"),
    [
        ("rotate", 10),
        ("rotate", -20),
        ("rotate", 30),
        ("blur", 1.0),
        ("blur", 1.4),
        ("low_contrast", 0.4),
        ("low_contrast", 0.2),
        ("perspective", 0.1),
        ("perspective", 0.2),
        ("noise", 20),
        ("low_light", 0.35),
    ],
)
def test_degraded_frames_decode_with_zxing(condition: str, level: float) -> None:
    for seed in range(3):
        frame = apply(BASE, condition, level, seed)
        assert decode_frame(frame) == [TOKEN], (condition, level, seed)


def test_grey_bgr_and_bgra_frames_all_decode() -> None:
    gray = qr_image(TOKEN, module_px=4)
    bgra = np.dstack([BASE, np.full(BASE.shape[:2], 255, np.uint8)])
    assert decode_frame(gray) == [TOKEN]
    assert decode_frame(gray[:, :, None]) == [TOKEN]
    assert decode_frame(bgra) == [TOKEN]
    assert decode_frame(BASE.astype(np.float32)) == [TOKEN]


def test_realistic_sequences_decode_on_most_frames() -> None:
    frames = render_sequence(TOKEN, 24, ["rotate", "blur", "perspective", "noise"], seed=7)
    decoded = sum(decode_frame(f) == [TOKEN] for f in frames)
    assert decoded >= 18


@pytest.mark.parametrize("backend", ["zxing", "pyzbar"])
def test_no_false_decodes_on_200_empty_and_noise_frames(backend: str) -> None:
    rng = np.random.default_rng(42)
    frames = []
    for _ in range(100):
        frames.append(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8))  # pure noise
    for i in range(60):
        frames.append(noise(background((320, 240), seed=i), rng.uniform(2, 40), rng))
    for _ in range(40):  # blocky random patterns: the nearest thing to a code that is none
        blocks = rng.integers(0, 2, (30, 40), dtype=np.uint8) * 255
        frames.append(np.kron(blocks, np.ones((8, 8), dtype=np.uint8)))
    assert len(frames) == 200
    assert [decode_frame(f, backend) for f in frames] == [[]] * 200


def test_labelled_degraded_set_for_the_benchmark() -> None:
    frames = degraded_frame_set(TOKEN, seed=0)
    labels = [f.label for f in frames]
    assert len(set(labels)) == len(labels)
    for wanted in (
        "clean",
        "rotate_30",
        "blur_1.5",
        "low_contrast_0.2",
        "perspective_0.2",
        "empty",
    ):
        assert wanted in labels
    by_label = {f.label: f for f in frames}
    assert by_label["empty"].expected is None
    assert decode_frame(by_label["empty"].frame) == []
    assert decode_frame(by_label["clean"].frame) == [TOKEN]
    assert all(f.frame.shape == (480, 640, 3) and f.frame.dtype == np.uint8 for f in frames)


def test_two_codes_in_one_frame_are_both_returned() -> None:
    other = issue_token(PRIVATE, "k1", "M-2002", NOW, 60)
    left, right = qr_image(TOKEN, 3), qr_image(other, 3)
    height = max(left.shape[0], right.shape[0])
    canvas = np.full((height + 40, left.shape[1] + right.shape[1] + 60), 255, np.uint8)
    canvas[20 : 20 + left.shape[0], 20 : 20 + left.shape[1]] = left
    canvas[20 : 20 + right.shape[0], 40 + left.shape[1] : 40 + left.shape[1] + right.shape[1]] = (
        right
    )
    assert sorted(decode_frame(canvas)) == sorted([TOKEN, other])


@pytest.mark.parametrize(
    "bad", [np.zeros((0, 0), np.uint8), np.zeros((4, 4, 2), np.uint8), "not an array"]
)
def test_unusable_arrays_raise_decode_error(bad: object) -> None:
    with pytest.raises(DecodeError):
        decode_frame(bad)  # type: ignore[arg-type]


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(DecodeError, match="unknown QR backend"):
        decode_frame(BASE, "opencv")
