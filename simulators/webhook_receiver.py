"""A webhook receiver on this machine: verifies every Standard Webhooks signature, records
what arrived, and behaves as told (answers, fails, hangs, redirects, gone, floods).

For the tests, the demo and the bench::

    receiver = WebhookReceiver(secret, now_s=clock_s).start()
    receiver.url                 # http://127.0.0.1:<port>/hooks
    receiver.mode = "fail"       # ok | fail | slow | gone | redirect | huge
    receiver.received            # every request, with its verdict
    receiver.stop()

It is a real HTTP server (``ThreadingHTTPServer``) reading the raw body, as a real
receiver must: the signature covers the bytes sent, not a re-serialised JSON.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shared.webhook_signature import WebhookVerificationError, verify
from simulators.ports import LOCALHOST, free_tcp_port


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    message_id: str
    event_type: str
    data: dict[str, Any]
    valid: bool
    problem: str
    mode: str
    """What the receiver answered with (the mode at the time)."""


class WebhookReceiver:
    """A local endpoint that checks signatures with ``secrets`` (any one may match)."""

    def __init__(
        self,
        *secrets: str,
        now_s: Callable[[], int] | None = None,
        slow_s: float = 2.0,
        on_message: Callable[[Received], None] | None = None,
    ):
        self.secrets = list(secrets)
        self.now_s = now_s or (lambda: int(time.time()))
        self.slow_s = slow_s
        self.mode = "ok"
        self.on_message = on_message
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Where to point an endpoint."""
        return f"http://{LOCALHOST}:{self.port}/hooks"

    def start(self) -> WebhookReceiver:
        """Listen on a free port (in a thread of its own)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                receiver._handle(self, body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the test reads ``received``

        self.port = free_tcp_port()
        self._server = ThreadingHTTPServer((LOCALHOST, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook-receiver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (idempotent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def valid_ids(self) -> set[str]:
        """Message ids received with a valid signature."""
        with self._lock:
            return {r.message_id for r in self.received if r.valid}

    def _check(self, headers: dict[str, str], body: bytes) -> tuple[str, str]:
        problem = "no secret"
        for secret in self.secrets:
            try:
                return verify(secret, headers, body, self.now_s()), ""
            except WebhookVerificationError as exc:
                problem = str(exc)
        return headers.get("webhook-id", ""), problem

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        message_id, problem = self._check(headers, body)
        mode = self.mode
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        record = Received(
            message_id=message_id,
            event_type=str(payload.get("type", "")),
            data=payload.get("data") or {},
            valid=not problem,
            problem=problem,
            mode=mode,
        )
        with self._lock:
            self.received.append(record)
        if self.on_message is not None:
            self.on_message(record)
        # The sender may stop reading (a timeout, a bounded read): that is what is tested.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._answer(handler, mode, bool(problem))

    def _answer(self, handler: BaseHTTPRequestHandler, mode: str, bad: bool) -> None:
        if mode == "slow":
            time.sleep(self.slow_s)
        status, extra, text = {
            "ok": (204, {}, b""),
            "slow": (204, {}, b""),
            "fail": (500, {}, b"receiver down"),
            "gone": (410, {}, b"gone"),
            "redirect": (302, {"location": "http://169.254.169.254/latest"}, b""),
            "huge": (200, {}, b"x" * 5_000_000),
        }[mode]
        if bad:
            status, extra, text = 401, {}, b"bad signature"
        handler.send_response(status)
        for key, value in extra.items():
            handler.send_header(key, value)
        handler.send_header("content-length", str(len(text)))
        handler.end_headers()
        if text:
            handler.wfile.write(text)
