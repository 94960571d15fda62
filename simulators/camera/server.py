"""A simulated kiosk camera: an MJPEG-over-HTTP stream, like a cheap IP camera.

The kiosk opens it with the real ``cv2.VideoCapture`` (FFmpeg backend), so CI exercises the
same capture, JPEG decoding and reconnect paths as a camera on a Pi. Chosen over writing
image files into a spool directory because that would bypass VideoCapture entirely, and
over OpenCV's image-sequence reader because that one ends at the first missing file and
cannot be a live feed.

Endpoints:

* ``GET /stream.mjpg`` - ``multipart/x-mixed-replace`` JPEG frames at ``fps``.
* ``GET /snapshot.jpg`` - the current frame.
* ``POST /show`` - JSON ``{"token": str, "realism": [str], "seconds": float, "seed": int}``:
  hold a phone showing ``token`` in front of the camera for ``seconds``.
* ``POST /clear`` - take the phone away now.

Between shows the camera sees an empty counter top.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

from simulators.camera.realism import REALISM
from simulators.camera.render import FRAME_SIZE, background, noise, render_sequence

log = logging.getLogger(__name__)

BOUNDARY = "tapfleetframe"
MAX_SHOW_BODY = 64 * 1024


class Scene:
    """What is in front of the camera at a given moment (thread-safe)."""

    def __init__(self, size: tuple[int, int] = FRAME_SIZE, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        empty = background(size, seed)
        self._empty = [noise(empty, 3, rng) for _ in range(4)]
        self._lock = threading.Lock()
        self._frames: list[np.ndarray] = []
        self._until = 0.0
        self._shows = 0
        self._idle = threading.Condition(self._lock)

    def show(self, frames: Sequence[np.ndarray], seconds: float) -> None:
        """Play ``frames`` (cycling) for ``seconds`` from now, replacing any current show."""
        if not frames:
            raise ValueError("a show needs at least one frame")
        with self._lock:
            self._frames = list(frames)
            self._until = time.monotonic() + seconds
            self._shows += 1

    def clear(self) -> None:
        """End the current show now."""
        with self._lock:
            self._until = 0.0
            self._idle.notify_all()

    def frame(self, index: int) -> np.ndarray:
        """Frame number ``index`` of the stream as the camera sees it now."""
        with self._lock:
            if self._frames and time.monotonic() < self._until:
                return self._frames[index % len(self._frames)]
            if self._frames:
                self._frames = []
                self._idle.notify_all()
            return self._empty[index % len(self._empty)]

    @property
    def showing(self) -> bool:
        """True while a show is running."""
        with self._lock:
            return bool(self._frames) and time.monotonic() < self._until

    def wait_idle(self, timeout: float) -> bool:
        """Block until no show is running (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._frames and time.monotonic() < self._until:
                remaining = min(self._until, deadline) - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
            return True


class SimulatedCamera:
    """The MJPEG camera server. ``url`` is what the kiosk's camera source is set to."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        fps: float = 15.0,
        size: tuple[int, int] = FRAME_SIZE,
        jpeg_quality: int = 90,
        seed: int = 0,
    ) -> None:
        self.host = host
        self.port = port
        self.fps = fps
        self.size = size
        self.jpeg_quality = jpeg_quality
        self.scene = Scene(size, seed)
        self.frames_served = 0
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The stream URL to give ``OpenCvFrameSource``."""
        return f"http://{self.host}:{self.port}/stream.mjpg"

    @property
    def control_url(self) -> str:
        """Base URL for ``/show`` and ``/clear`` (``tapfleet sim show-qr --camera``)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> SimulatedCamera:
        """Start serving (on the same port again after ``stop()``)."""
        if self._server is not None:
            raise RuntimeError("camera already running")
        self._stop.clear()
        server = _Server((self.host, self.port), _Handler)
        server.camera = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sim-camera :{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Unplug the camera: close streams and the listening socket, join all threads."""
        self._stop.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()  # joins the handler threads, which see _stop and end
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5.0)

    def show_token(
        self, token: str, seconds: float, realism: Sequence[str] = (), seed: int = 0
    ) -> int:
        """Hold a phone showing ``token`` in view for ``seconds``; returns frames rendered."""
        count = max(1, min(int(self.fps * 2), 30))  # a short loop; each frame differs
        frames = render_sequence(token, count, realism, size=self.size, seed=seed)
        self.scene.show(frames, seconds)
        return len(frames)

    def __enter__(self) -> SimulatedCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _jpeg(self, index: int) -> bytes:
        frame = self.scene.frame(index)
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return buf.tobytes()


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    camera: SimulatedCamera


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sim camera: " + format, *args)

    def do_GET(self) -> None:
        camera = self.server.camera
        if self.path.startswith("/stream"):
            self._stream(camera)
        elif self.path.startswith("/snapshot"):
            body = camera._jpeg(0)
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "try /stream.mjpg or /snapshot.jpg"})

    def do_POST(self) -> None:
        camera = self.server.camera
        if self.path == "/clear":
            camera.scene.clear()
            self._json(HTTPStatus.OK, {"ok": True})
            return
        if self.path != "/show":
            self._json(HTTPStatus.NOT_FOUND, {"error": "POST /show or /clear"})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if not 0 < length <= MAX_SHOW_BODY:
                raise ValueError(f"body must be 1..{MAX_SHOW_BODY} bytes of JSON")
            request = json.loads(self.rfile.read(length))
            token = request["token"]
            realism = request.get("realism", [])
            seconds = float(request.get("seconds", 5))
            seed = int(request.get("seed", 0))
            if not isinstance(token, str) or not token:
                raise ValueError("token must be a non-empty string")
            if not isinstance(realism, list) or any(r not in REALISM for r in realism):
                raise ValueError(f"realism must be a list drawn from {', '.join(REALISM)}")
            if not 0 < seconds <= 3600:
                raise ValueError("seconds must be in (0, 3600]")
            frames = camera.show_token(token, seconds, realism, seed)
        except (ValueError, KeyError, TypeError) as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"bad show request: {exc}"})
            return
        self._json(HTTPStatus.OK, {"ok": True, "frames": frames, "seconds": seconds})

    def _json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, camera: SimulatedCamera) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        interval = 1.0 / camera.fps
        index = 0
        next_at = time.monotonic()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while not camera._stop.is_set():
                body = camera._jpeg(index)
                self.wfile.write(
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                    + b"\r\n"
                )
                self.wfile.flush()
                camera.frames_served += 1
                index += 1
                next_at += interval
                camera._stop.wait(max(0.0, next_at - time.monotonic()))
