"""Running the UI's ASGI app with uvicorn on a background thread, started and stopped cleanly."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading

import uvicorn
from fastapi import FastAPI

from device.errors import DeviceError

log = logging.getLogger(__name__)


class UiServerError(DeviceError):
    """The UI server could not start (port taken, bad address)."""

    code = "ui_server_error"


class UiServer:
    """uvicorn serving ``app`` on ``host:port`` from its own thread (port 0: any free port)."""

    def __init__(
        self,
        app: FastAPI,
        host: str,
        port: int,
        *,
        start_timeout_s: float = 10.0,
        name: str = "the kiosk UI",
        setting: str = "ui.port",
    ):
        self.app = app
        self.name = name
        """What is served, for messages (the door stations' endpoint uses this class too)."""
        self._setting = setting
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self._start_timeout_s = start_timeout_s
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        if self.port is None:
            raise UiServerError("the UI server is not running")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Bind the socket (errors surface here, in the caller's thread) and serve."""
        if self._thread is not None:
            raise UiServerError("the UI server is already running")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError as exc:
            sock.close()
            raise UiServerError(
                f"{self.name} cannot listen on {self.host}:{self.requested_port}: "
                f"{exc.strerror or exc}; pick another {self._setting} or stop what uses it"
            ) from exc
        sock.listen(64)
        sock.setblocking(False)
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            ws="none",
        )
        server = uvicorn.Server(config)
        self._server = server

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except BaseException as exc:  # reported to start()/logged; never silent
                self._error = exc
                log.exception("%s stopped with an error", self.name)
            finally:
                sock.close()

        self._thread = threading.Thread(target=run, name=f"server {self.name}", daemon=True)
        self._thread.start()
        deadline = threading.Event()
        waited = 0.0
        while not server.started and self._thread.is_alive() and waited < self._start_timeout_s:
            deadline.wait(0.02)  # uvicorn offers no start event; its flag flips within ms
            waited += 0.02
        if not server.started:
            self.stop()
            raise UiServerError(f"{self.name} did not start: {self._error!r}")
        log.info("%s on %s", self.name, self.url)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask uvicorn to exit and join its thread. Idempotent."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout_s)
            if thread.is_alive():
                log.warning("%s thread did not stop within %.0f s", self.name, 2 * timeout_s)
        self._server = None
        self._thread = None
