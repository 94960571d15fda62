"""A real coordinator served by uvicorn from a thread of the test process.

    server = LiveServer(settings, database=db, clock=clock)   # create_app(...) underneath
    server.start()                                            # lifespan done: serving
    server.url                                                # http://127.0.0.1:<port>
    server.stop()                                             # lifespan shutdown, joined

The listening socket is bound (port chosen by the OS) before uvicorn starts and handed to
it, so no other process or parallel test worker can take the port in between.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import uvicorn

from coordinator.app import create_app
from coordinator.clock import Clock
from coordinator.settings import CoordinatorSettings
from simulators.waiting import wait_until


class LiveServer:
    """uvicorn serving a coordinator app on 127.0.0.1:<free port> from a thread."""

    def __init__(
        self, settings: CoordinatorSettings, *, database: Any = None, clock: Clock | None = None
    ):
        self.app = create_app(settings, database=database, clock=clock)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.setblocking(False)
        self._sock = sock
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=3,
            ws="none",
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="test-coordinator", daemon=True)
        self.error: BaseException | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self._sock]))
        except BaseException as exc:  # surfaced by start()
            self.error = exc
        finally:
            self._sock.close()

    def start(self) -> None:
        """Serve and wait until uvicorn says it started (lifespan done)."""
        self._thread.start()
        wait_until(
            lambda: self.server.started or not self._thread.is_alive(), 30, "uvicorn to start"
        )
        if not self.server.started:
            raise RuntimeError(f"the coordinator did not start: {self.error!r}")

    def stop(self) -> None:
        """Ask uvicorn to exit (runs the lifespan shutdown) and join its thread."""
        self.server.should_exit = True
        self._thread.join(15)
        if self._thread.is_alive():
            self.server.force_exit = True
            self._thread.join(10)
