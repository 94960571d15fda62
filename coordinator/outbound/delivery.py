"""Sending webhooks: one bounded HTTP POST per attempt, and the loop that drives the outbox.

The sender never follows redirects (a 3xx is a failed attempt: a redirect could point the
coordinator at an internal address), gives every request a connect and a total deadline,
and reads at most ``max_response_bytes`` of the answer. The loop takes due deliveries in
batches (:func:`coordinator.outbound.webhooks.take_due`), sends them outside any database
transaction, and records the batch's attempts in one transaction.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx

from coordinator.db import Database
from coordinator.outbound import webhooks
from coordinator.outbound.settings import WebhookSettings
from coordinator.outbound.targets import TargetRefused, check_target
from shared.webhook_signature import sign_headers

log = logging.getLogger(__name__)


class WebhookSender:
    """POSTs signed bodies with deadlines, no redirects and a bounded read."""

    def __init__(self, settings: WebhookSettings, *, allow_private: bool):
        self.settings = settings
        self.allow_private = allow_private
        timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)

    def send(self, due: webhooks.Due, now_ms: int) -> webhooks.Attempt:
        """One attempt of ``due`` (never raises: every failure is an attempt's outcome)."""
        started = time.monotonic()

        def attempt(outcome: str, status: int | None = None, detail: str = "") -> webhooks.Attempt:
            return webhooks.Attempt(
                delivery_id=due.delivery_id,
                endpoint_id=due.endpoint_id,
                at_ms=now_ms,
                outcome=outcome,
                status_code=status,
                duration_ms=int((time.monotonic() - started) * 1000),
                detail=detail,
            )

        try:
            check_target(due.url, allow_private=self.allow_private)
        except TargetRefused as exc:
            return attempt("refused_target", detail=str(exc))
        if not due.secrets:
            return attempt("refused_target", detail="the endpoint has no live secret")
        body = due.body.encode("utf-8")
        headers = sign_headers(due.secrets, due.message_id, now_ms // 1000, body)
        headers["content-type"] = "application/json"
        deadline = started + self.settings.timeout_s
        try:
            with self._client.stream("POST", due.url, content=body, headers=headers) as response:
                excerpt = self._read_bounded(response, deadline)
                status = response.status_code
        except httpx.TimeoutException as exc:
            return attempt("timeout", detail=f"no answer in time ({type(exc).__name__})")
        except _TooSlow:
            return attempt("timeout", detail="the answer took longer than the timeout")
        except httpx.HTTPError as exc:
            return attempt("connect_error", detail=f"{type(exc).__name__}: {exc}")
        if 200 <= status < 300:
            return attempt("ok", status, excerpt)
        if 300 <= status < 400:
            where = response.headers.get("location", "")
            return attempt("http_error", status, f"redirect to {where!r} not followed")
        return attempt("http_error", status, excerpt)

    def _read_bounded(self, response: httpx.Response, deadline: float) -> str:
        limit = self.settings.max_response_bytes
        data = bytearray()
        for chunk in response.iter_raw():
            if time.monotonic() > deadline:
                raise _TooSlow
            data.extend(chunk[: max(0, limit - len(data))])
            if len(data) >= limit:
                break  # the rest of a huge answer is never read
        return data.decode("utf-8", "replace")

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


class _TooSlow(Exception):
    """An answer that kept trickling past the total deadline."""


class WebhookDispatcher:
    """Drives the outbox: take a batch, send it, record it; repeat while there is work."""

    def __init__(
        self,
        db: Database,
        settings: WebhookSettings,
        *,
        allow_private: bool,
        wall_ms: Callable[[], int],
        rng: random.Random | None = None,
        open_secret: Callable[[str, str], str] | None = None,
    ):
        self.db = db
        self.open_secret = open_secret or (lambda _endpoint_id, text: text)
        """(endpoint id, stored secret) -> the ``whsec_`` secret (unsealed)."""
        self.settings = settings
        self.wall_ms = wall_ms
        self.sender = WebhookSender(settings, allow_private=allow_private)
        self.rng = rng or random.Random()
        self.policy = webhooks.RetryPolicy(
            min_s=settings.retry_min_s,
            max_s=max(settings.retry_max_s, settings.retry_min_s),
            disable_after_failing_ms=settings.disable_after_failing_s * 1000,
        )
        self._wake = threading.Event()

    def run_once(self) -> int:
        """Send one batch of due deliveries; returns how many were attempted."""
        token = webhooks.new_token()
        now = self.wall_ms()
        # The lease covers the worst case of the whole batch, so no other replica takes a
        # row while this one may still be sending it.
        lease_ms = int(
            self.settings.batch_size
            * (self.settings.timeout_s + self.settings.connect_timeout_s)
            * 1000
            + 60_000
        )
        with self.db.write() as conn:
            due = webhooks.take_due(
                conn, now_ms=now, limit=self.settings.batch_size, lease_ms=lease_ms, token=token
            )
        if not due:
            return 0
        groups: dict[str, list[webhooks.Due]] = {}
        for item in due:
            groups.setdefault(item.endpoint_id, []).append(item)
        workers = min(self.settings.parallel_endpoints, len(groups))
        if workers <= 1:
            attempts = [a for items in groups.values() for a in self._deliver(items, token)]
        else:
            # Endpoints side by side, each recorded when its own requests are done: a slow
            # or hanging endpoint holds up only its own deliveries.
            with ThreadPoolExecutor(workers, thread_name_prefix="tapfleet-webhook-send") as pool:
                done = list(pool.map(lambda items: self._deliver(items, token), groups.values()))
            attempts = [a for group in done for a in group]
        failed = sum(1 for a in attempts if not a.ok)
        if failed:
            log.info("webhooks: %d of %d attempt(s) failed", failed, len(attempts))
        return len(attempts)

    def _deliver(self, items: list[webhooks.Due], token: str) -> list[webhooks.Attempt]:
        """Send one endpoint's deliveries in order, then record their attempts."""
        attempts = [self._send(item) for item in items]
        with self.db.write() as conn:
            webhooks.record_attempts(
                conn,
                attempts,
                token=token,
                now_ms=self.wall_ms(),
                policy=self.policy,
                rng=self.rng,
            )
        return attempts

    def _send(self, due: webhooks.Due) -> webhooks.Attempt:
        try:
            secrets = tuple(self.open_secret(due.endpoint_id, s) for s in due.secrets)
        except Exception as exc:  # a secret sealed under another key: say so in the log
            log.error("webhook endpoint %s: cannot open its secret: %s", due.endpoint_id, exc)
            return webhooks.Attempt(
                delivery_id=due.delivery_id,
                endpoint_id=due.endpoint_id,
                at_ms=self.wall_ms(),
                outcome="refused_target",
                status_code=None,
                duration_ms=0,
                detail=f"cannot open the endpoint's secret: {exc}",
            )
        return self.sender.send(replace(due, secrets=secrets), self.wall_ms())

    def wake(self) -> None:
        """Look for due deliveries now (a message was just published)."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """The delivery loop of this replica, until ``stop`` is set."""
        while not stop.is_set():
            try:
                busy = self.run_once() >= self.settings.batch_size
            except Exception:
                log.exception("webhook delivery failed; trying again next interval")
                busy = False
            if not busy:
                self._wake.wait(self.settings.poll_interval_s)
                self._wake.clear()
        self.sender.close()

    def stop(self) -> None:
        """Let a waiting loop see its stop event."""
        self._wake.set()
