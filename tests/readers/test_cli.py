"""``tapfleet qr decode``, ``tapfleet sim tap`` and ``tapfleet sim show-qr`` as subprocesses."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from device.readers.base import CardRead
from device.readers.nfc_reader import NfcReader, NfcReaderConfig
from device.readers.qr import decode_frame
from shared.qrtoken import encode_private_key, generate_keypair, issue_token, verify_token
from simulators.camera.render import apply, background, phone_frame
from simulators.camera.server import SimulatedCamera
from tests.support.readers import Collector

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_760_000_000_000
PRIVATE, KEY = generate_keypair("k7")


def tapfleet(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the tapfleet CLI; ``subprocess.run`` kills it if it outlives ``timeout``."""
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_qr_decode_reports_each_file(tmp_path: Path) -> None:
    token = issue_token(PRIVATE, "k7", "M-1001", NOW, 60)
    clean = tmp_path / "clean.png"
    tilted = tmp_path / "tilted.jpg"
    empty = tmp_path / "empty.png"
    junk = tmp_path / "junk.png"
    missing = tmp_path / "missing.png"
    frame = phone_frame(token)
    cv2.imwrite(str(clean), frame)
    cv2.imwrite(str(tilted), apply(frame, "rotate", 25))
    cv2.imwrite(str(empty), background())
    junk.write_text("this is not an image")

    result = tapfleet("qr", "decode", str(clean), str(tilted), str(empty), str(junk), str(missing))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines == [
        f"{clean}: {token}",
        f"{tilted}: {token}",
        f"{empty}: no code found",
        f"{junk}: error: cannot read image (missing, unreadable or not an image)",
        f"{missing}: error: cannot read image (missing, unreadable or not an image)",
    ]


@pytest.mark.parametrize("backend", ["zxing", "pyzbar"])
def test_qr_decode_exit_zero_when_every_file_holds_a_code(tmp_path: Path, backend: str) -> None:
    token = issue_token(PRIVATE, "k7", "M-1001", NOW, 60)
    path = tmp_path / "code.png"
    cv2.imwrite(str(path), phone_frame(token))
    result = tapfleet("qr", "decode", "--backend", backend, str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{path}: {token}"


def test_show_qr_writes_frames_with_a_fresh_verifiable_token(tmp_path: Path) -> None:
    key_file = tmp_path / "qr.key"
    key_file.write_text(encode_private_key(PRIVATE) + "\n")
    out = tmp_path / "frames"
    result = tapfleet(
        "sim",
        "show-qr",
        "--member",
        "M-4242",
        "--key-file",
        str(key_file),
        "--key-id",
        "k7",
        "--out",
        str(out),
        "--seconds",
        "0.2",
        "--realism",
        "rotate,blur",
    )
    assert result.returncode == 0, result.stderr
    files = sorted(out.glob("*.png"))
    assert len(files) == 3
    decoded = tapfleet("qr", "decode", *map(str, files))
    texts = {line.split(": ", 1)[1] for line in decoded.stdout.splitlines()}
    assert len(texts) == 1
    claims = verify_token(texts.pop(), [KEY], time.time_ns() // 1_000_000, 30)
    assert claims.member_id == "M-4242"


def test_show_qr_puts_the_code_in_front_of_a_simulated_camera() -> None:
    token = issue_token(PRIVATE, "k7", "M-1001", NOW, 60)
    with SimulatedCamera() as camera:
        result = tapfleet(
            "sim",
            "show-qr",
            "--member",
            "M-1001",
            "--token",
            token,
            "--camera",
            camera.control_url,
            "--seconds",
            "30",
        )
        assert result.returncode == 0, result.stderr
        assert camera.scene.showing
        assert decode_frame(camera.scene.frame(0)) == [token]
        camera.scene.clear()
        assert decode_frame(camera.scene.frame(0)) == []


def test_show_qr_without_a_camera_says_how_to_start_one() -> None:
    result = tapfleet(
        "sim",
        "show-qr",
        "--member",
        "M-1",
        "--token",
        "TF1.x.y",
        "--camera",
        "http://127.0.0.1:9",
    )
    assert result.returncode == 1
    assert "tapfleet sim camera" in result.stderr


def test_sim_tap_is_read_by_a_running_reader(udp_port: int) -> None:
    taps: Collector[CardRead] = Collector()
    reader = NfcReader(NfcReaderConfig(path=f"udp:127.0.0.1:{udp_port}", targets=("106A",)))
    reader.start(taps)
    try:
        result = tapfleet(
            "sim",
            "tap",
            "--card",
            "04:A1:B2:C3:D4:E5:F6",
            "--type",
            "ntag215",
            "--reader",
            f"udp:127.0.0.1:{udp_port}",
            "--hold",
            "2.5",
            "--ndef-text",
            "hi",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert taps.wait_for(1, 5)
    finally:
        reader.stop()
    assert taps.items[0].uid == "04A1B2C3D4E5F6"
    assert taps.items[0].text_records() == ("hi",)
    assert "held on udp:127.0.0.1" in result.stdout


def test_sim_tap_with_no_reader_fails_clearly(udp_port: int) -> None:
    result = tapfleet(
        "sim",
        "tap",
        "--card",
        "012E4CD1A2B3C4D5",
        "--type",
        "felica",
        "--reader",
        f"udp:127.0.0.1:{udp_port}",
        "--hold",
        "0.2",
    )
    assert result.returncode == 1
    assert "no reader read the card" in result.stderr


def test_sim_tap_rejects_bad_arguments() -> None:
    result = tapfleet("sim", "tap", "--card", "04A1", "--reader", "usb")
    assert result.returncode == 2
    assert "udp:127.0.0.1:54321" in result.stderr
