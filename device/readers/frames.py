"""Camera frames through OpenCV's ``VideoCapture``: the one real frame source.

On a Pi the source is a camera index (``0`` = /dev/video0 through V4L2) or a device path;
in CI and demos it is the simulated camera's MJPEG-over-HTTP stream
(``http://127.0.0.1:PORT/stream.mjpg``, decoded by OpenCV's FFmpeg backend exactly as an IP
camera would be). The same class also plays video files and image sequences
(``frames/%04d.png``) for field diagnosis.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from device.readers.errors import FrameSourceError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)


def parse_source(source: int | str) -> int | str:
    """A camera index for ``0``/``"0"``; anything else is a path, pattern or URL."""
    if isinstance(source, int):
        return source
    text = source.strip()
    return int(text) if text.isdigit() else text


class OpenCvFrameSource:
    """Frames from ``cv2.VideoCapture`` (camera index, device path, file or stream URL)."""

    def __init__(
        self,
        source: int | str,
        *,
        open_timeout_s: float = 3.0,
        read_timeout_s: float = 2.0,
    ) -> None:
        self.source = parse_source(source)
        self.description = (
            f"camera {self.source}" if isinstance(self.source, int) else str(self.source)
        )
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self._capture: Any = None
        self._lock = threading.Lock()

    def open(self) -> None:
        """Open the capture; raises ``FrameSourceError`` naming the source if it fails."""
        import cv2

        self.close()
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(self.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(self.read_timeout_s * 1000),
        ]
        if isinstance(self.source, str) and "://" in self.source:
            # Network streams go to FFmpeg directly (probing other backends first only adds
            # delay), with timeouts so a dead camera is noticed instead of hanging forever.
            capture = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, params)
        else:
            # Local devices and files: no timeout parameters, which backends such as V4L2
            # do not take (OpenCV refuses to open with unused parameters).
            capture = cv2.VideoCapture(self.source, cv2.CAP_ANY)
        if not capture.isOpened():
            capture.release()
            raise FrameSourceError(
                f"cannot open camera {self.description} (unplugged, in use, or wrong address)"
            )
        with self._lock:
            self._capture = capture

    def read(self) -> np.ndarray | None:
        """The next frame; raises ``FrameSourceError`` when the camera stops delivering."""
        with self._lock:
            capture = self._capture
        if capture is None:
            raise FrameSourceError(f"camera {self.description} is not open")
        ok, frame = capture.read()
        if not ok or frame is None:
            raise FrameSourceError(
                f"camera {self.description} stopped delivering frames "
                f"(no frame within {self.read_timeout_s:g} s or stream ended)"
            )
        return frame  # type: ignore[no-any-return]

    def close(self) -> None:
        """Release the capture (idempotent)."""
        with self._lock:
            capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()
