"""QR: decode success and frames/s on the degraded set, kiosk pipeline vs raw decoder call.

Frames: ``simulators.camera.render.degraded_frame_set`` for a real signed member token
(23 labelled 640x480 BGR frames: clean, rotation, blur, noise, perspective, low light, low
contrast, far away, and one empty frame), for zxing-cpp and pyzbar.

Tapfleet: the kiosk's ``CameraQrScanner`` (scanner thread, ``decode_frame`` with the
backend's grey conversion, the debouncer, the callback) fed by a frame source that hands
over the benchmark's frames from memory. It implements the ``FrameSource`` port like
``OpenCvFrameSource`` does; capture and JPEG decoding are left out on purpose, since the raw
decoder call does not do them either. Success is per frame, with ``decode_frame`` itself:
the expected token found (nothing for the empty frame).

Baseline: the library called directly on the same BGR frames, as the camera delivers them:
``zxingcpp.read_barcodes(frame, formats=QRCode)`` and ``pyzbar.decode(frame, [QRCODE])``
(pyzbar reads the first channel of a 3-channel array).

Rounds alternate raw and pipeline passes over the whole set, so both see the same noise.
"""

from __future__ import annotations

import queue
import time
from typing import Any

from bench.common import Result, emit, parse_args, progress

NAME = "qr"


class MemoryFrames:
    """A ``FrameSource`` whose frames the benchmark hands over (see the module doc)."""

    description = "benchmark frames in memory"

    def __init__(self) -> None:
        self._frames: queue.Queue[Any] = queue.Queue()

    def open(self) -> None:
        """Nothing to open."""

    def read(self) -> Any:
        """The next frame handed over, or None after 50 ms without one."""
        try:
            return self._frames.get(timeout=0.05)
        except queue.Empty:
            return None

    def close(self) -> None:
        """Nothing to release."""

    def feed(self, frames: list[Any]) -> None:
        """Hand frames to the scanner."""
        for frame in frames:
            self._frames.put(frame)


def raw_decoder(backend: str) -> Any:
    """The library's own call for ``backend``, returning the decoded texts."""
    if backend == "zxing":
        import zxingcpp

        fmt = zxingcpp.BarcodeFormat.QRCode
        return lambda frame: [r.text for r in zxingcpp.read_barcodes(frame, formats=fmt)]
    from pyzbar import pyzbar

    symbols = [pyzbar.ZBarSymbol.QRCODE]
    return lambda frame: [s.data.decode() for s in pyzbar.decode(frame, symbols=symbols)]


def _correct(texts: list[str], expected: str | None) -> bool:
    return texts == ([] if expected is None else [expected])


def measure_backend(backend: str, frames: list[Any], rounds: int) -> dict[str, Any]:
    """Success and frames/s of pipeline and raw decoder for one backend."""
    from device.readers.qr import CameraQrScanner, QrScannerConfig, decode_frame

    images = [f.frame for f in frames]
    raw = raw_decoder(backend)
    missed = [f.label for f in frames if not _correct(decode_frame(f.frame, backend), f.expected)]
    pipeline_ok = len(frames) - len(missed)
    raw_ok = sum(_correct(raw(f.frame), f.expected) for f in frames)

    source = MemoryFrames()
    scanner = CameraQrScanner(source, QrScannerConfig(backend=backend))
    codes: list[object] = []
    scanner.start(codes.append)
    raw_s = pipe_s = 0.0
    done = 0
    try:
        for _ in range(rounds):
            t0 = time.perf_counter()
            for image in images:
                raw(image)
            t1 = time.perf_counter()
            source.feed(images)
            done += len(images)
            if not scanner.wait_for_frames(done, 300):
                raise RuntimeError(f"the {backend} scanner stalled at {scanner.frames} frames")
            t2 = time.perf_counter()
            raw_s += t1 - t0
            pipe_s += t2 - t1
    finally:
        scanner.stop()
    count = len(images) * rounds
    return {
        "pipeline_success": pipeline_ok / len(frames),
        "raw_success": raw_ok / len(frames),
        "pipeline_fps": count / pipe_s,
        "raw_fps": count / raw_s,
        "missed": missed,
    }


def run(rounds: int) -> Result:
    """Both backends; the ratio is the worse backend's pipeline/raw throughput."""
    from shared.qrtoken import generate_keypair, issue_token
    from simulators.camera.render import degraded_frame_set

    private, _key = generate_keypair("k1")
    token = issue_token(private, "k1", "M-1001", time.time_ns() // 1_000_000, 60)
    frames = degraded_frame_set(token, seed=0)
    figures: dict[str, dict[str, Any]] = {}
    for backend in ("zxing", "pyzbar"):
        progress(NAME, f"{backend}: {rounds} rounds of {len(frames)} frames")
        figures[backend] = measure_backend(backend, frames, rounds)
    z, p = figures["zxing"], figures["pyzbar"]

    def side(kind: str) -> str:
        return ", ".join(
            f"{b} {figures[b][kind + '_success']:.0%} ok {figures[b][kind + '_fps']:.1f} fps"
            for b in ("zxing", "pyzbar")
        )

    ratios = {b: figures[b]["pipeline_fps"] / figures[b]["raw_fps"] for b in figures}
    ratio = min(ratios.values())
    return Result(
        name=NAME,
        tapfleet=(
            f"pipeline {side('pipeline')} ({len(frames)} degraded frames x {rounds}; "
            f"zxing missed {' '.join(z['missed']) or 'none'}, "
            f"pyzbar missed {' '.join(p['missed']) or 'none'})"
        ),
        baseline=f"raw call {side('raw')}",
        ratio=ratio,
        target=(
            f"pipeline >= 0.8x raw fps (zxing {ratios['zxing']:.2f}, pyzbar "
            f"{ratios['pyzbar']:.2f}), zxing success >= 95%"
        ),
        passed=ratio >= 0.8 and z["pipeline_success"] >= 0.95 and p["pipeline_fps"] > 0,
    )


def main() -> None:
    """Entry point."""
    args = parse_args(__doc__ or NAME)
    emit(run(rounds=1 if args.quick else 15))


if __name__ == "__main__":
    main()
