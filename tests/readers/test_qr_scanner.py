"""The camera scanner end to end: simulated MJPEG camera -> cv2.VideoCapture -> decoder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from device.readers.base import HealthState, QrRead
from device.readers.frames import OpenCvFrameSource
from device.readers.qr import CameraQrScanner, QrScannerConfig
from shared.qrtoken import generate_keypair, issue_token, verify_token
from simulators.camera.render import render_sequence
from simulators.camera.server import SimulatedCamera
from tests.support.readers import Collector

NOW = 1_760_000_000_000
PRIVATE, KEY = generate_keypair("k1")


@pytest.fixture
def camera() -> Iterator[SimulatedCamera]:
    """A running simulated camera on a free port."""
    cam = SimulatedCamera(fps=20).start()
    try:
        yield cam
    finally:
        cam.stop()


@pytest.fixture
def scanner(camera: SimulatedCamera) -> Iterator[CameraQrScanner]:
    """A scanner on the simulated camera's stream (started by the test)."""
    source = OpenCvFrameSource(camera.url, open_timeout_s=1.0, read_timeout_s=0.5)
    config = QrScannerConfig(gone_after_frames=6, retry_initial_s=0.05, retry_max_s=0.2)
    scan = CameraQrScanner(source, config)
    try:
        yield scan
    finally:
        scan.stop()


def test_code_in_view_is_one_scan_and_shown_again_is_another(
    camera: SimulatedCamera, scanner: CameraQrScanner
) -> None:
    token = issue_token(PRIVATE, "k1", "M-1001", NOW, 60)
    scans: Collector[QrRead] = Collector()
    scanner.start(scans)
    assert scanner.wait_for_health(HealthState.OK, 5)
    camera.show_token(token, seconds=1.0, realism=["rotate", "blur"])
    assert scans.wait_for(1, 5)
    assert camera.scene.wait_idle(5)
    # The scanner may lag the stream (TCP buffers frames); its n-th frame is the n-th frame
    # served to it, so wait until it has decoded 8 frames past the end of the show: more
    # than gone_after_frames empty frames, i.e. the code has left the view.
    assert scanner.wait_for_frames(camera.frames_served + 8, 10)
    assert [s.text for s in scans.items] == [token]
    claims = verify_token(scans.items[0].text, [KEY], NOW, 30)
    assert claims.member_id == "M-1001"

    camera.show_token(token, seconds=0.5)
    assert scans.wait_for(2, 5)
    assert [s.text for s in scans.items] == [token, token]
    assert scans.items[1].frame_index > scans.items[0].frame_index


def test_empty_camera_gives_no_scans(camera: SimulatedCamera, scanner: CameraQrScanner) -> None:
    scans: Collector[QrRead] = Collector()
    scanner.start(scans)
    assert scanner.wait_for_frames(30, 10)
    assert scans.items == []
    assert camera.frames_served >= 30


def test_pyzbar_backend_is_selectable(camera: SimulatedCamera) -> None:
    token = issue_token(PRIVATE, "k1", "M-3003", NOW, 60)
    scans: Collector[QrRead] = Collector()
    scan = CameraQrScanner(OpenCvFrameSource(camera.url), QrScannerConfig(backend="pyzbar"))
    try:
        scan.start(scans)
        camera.show_token(token, seconds=1.0)
        assert scans.wait_for(1, 5)
    finally:
        scan.stop()
    assert scans.items[0].text == token


def test_camera_unplugged_and_back(camera: SimulatedCamera, scanner: CameraQrScanner) -> None:
    """Simulated: the camera goes away (stream closed, port refusing) and comes back."""
    scans: Collector[QrRead] = Collector()
    scanner.start(scans)
    assert scanner.wait_for_health(HealthState.OK, 5)
    camera.stop()
    assert scanner.wait_for_health(HealthState.UNAVAILABLE, 5)
    health = scanner.health
    assert camera.url in health.detail
    assert health.message("en") == "QR scanner unavailable, please tap your card."
    assert "刷会员卡" in health.message("zh")

    camera.start()  # same port again
    assert scanner.wait_for_health(HealthState.OK, 10)
    token = issue_token(PRIVATE, "k1", "M-1001", NOW, 60)
    camera.show_token(token, seconds=1.0)
    assert scans.wait_for(1, 5)
    assert scans.items[0].text == token


def test_camera_that_never_opens_is_unavailable() -> None:
    source = OpenCvFrameSource("http://127.0.0.1:9/stream.mjpg", open_timeout_s=0.5)
    scan = CameraQrScanner(source, QrScannerConfig(retry_initial_s=0.05, retry_max_s=0.1))
    try:
        scan.start(lambda read: None)
        assert scan.wait_for_health(HealthState.UNAVAILABLE, 5)
        assert "cannot open camera" in scan.health.detail
    finally:
        scan.stop()
    assert scan.health.state is HealthState.STOPPED


@pytest.mark.allow_logged_exceptions
def test_failing_callback_does_not_stop_scanning(
    camera: SimulatedCamera, scanner: CameraQrScanner
) -> None:
    calls: Collector[QrRead] = Collector()

    def on_code(read: QrRead) -> None:
        calls(read)
        raise RuntimeError("kiosk handler bug")

    scanner.start(on_code)
    camera.show_token(issue_token(PRIVATE, "k1", "M-1", NOW, 60), seconds=0.5)
    assert calls.wait_for(1, 5)
    camera.show_token(issue_token(PRIVATE, "k1", "M-2", NOW, 60), seconds=0.5)
    assert calls.wait_for(2, 5)
    assert scanner.callback_errors == 2
    assert scanner.health.state is HealthState.OK


def test_image_sequence_through_videocapture_then_end_of_stream(tmp_path: Path) -> None:
    """Frames saved by a technician (``sim show-qr --out``) replayed through VideoCapture."""
    token = issue_token(PRIVATE, "k1", "M-5005", NOW, 60)
    for i, frame in enumerate(render_sequence(token, 6, ["rotate"], seed=2)):
        cv2.imwrite(str(tmp_path / f"frame_{i:04d}.png"), frame)
    source = OpenCvFrameSource(str(tmp_path / "frame_%04d.png"))
    scan = CameraQrScanner(source, QrScannerConfig(retry_initial_s=30, retry_max_s=30))
    scans: Collector[QrRead] = Collector()
    try:
        scan.start(scans)
        assert scans.wait_for(1, 5)
        assert scan.wait_for_health(HealthState.UNAVAILABLE, 5)  # the sequence ended
        assert "stream ended" in scan.health.detail
    finally:
        scan.stop()
    assert [s.text for s in scans.items] == [token]
    assert scan.frames == 6
