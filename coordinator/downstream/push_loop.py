"""The member push loop: coalesces member changes into one delta per store per interval.

While ingest has messages waiting (a kiosk draining a backlog), the loop keeps coalescing
for up to ``max_interval_s``: every push carries each changed member's whole record, so
during a drain fewer, larger pushes send and apply far fewer bytes for the same end state,
and leave ingest the write lock and the CPU.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa

from coordinator.clock import HlcSource
from coordinator.db import TRANSIENT_RETRY_MAX_S, TRANSIENT_RETRY_MIN_S, Database
from coordinator.downstream.member_deltas import collect_push
from coordinator.downstream.snapshots import EncodedUpdate
from coordinator.metrics import Metrics
from shared import topics
from shared.backoff import Backoff

log = logging.getLogger(__name__)


class MemberPusher:
    """Wakes when members changed, waits the coalescing interval, then publishes deltas."""

    def __init__(
        self,
        *,
        db: Database,
        hlc: HlcSource,
        metrics: Metrics,
        send: Callable[[str, EncodedUpdate], None],
        interval_s: float,
        max_interval_s: float | None = None,
        backlog: Callable[[], int] = lambda: 0,
    ):
        self._db = db
        self._hlc = hlc
        self._metrics = metrics
        self._send = send
        self._interval = interval_s
        self._max_interval = max(interval_s, max_interval_s or interval_s)
        self._backlog = backlog
        self._wake = threading.Event()
        self.cycles = 0

    def wake(self) -> None:
        """Members changed: push within one interval."""
        self._wake.set()

    def push_now(self) -> int:
        """Run one cycle now; returns how many store messages were published."""
        backoff = Backoff(TRANSIENT_RETRY_MIN_S, TRANSIENT_RETRY_MAX_S)
        for attempt in range(5):
            try:
                with self._db.write() as conn:
                    updates = collect_push(conn, self._hlc.now())
                break
            except sa.exc.OperationalError as exc:
                log.warning("member push retried (%d): %s", attempt + 1, exc)
                time.sleep(backoff.next_delay())
        else:
            self._wake.set()
            return 0
        for update in updates:
            self._send(topics.store_topic(update.store_id), update)
        if updates:
            self.cycles += 1
            self._metrics.member_pushes.inc()
        return len(updates)

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop``: one cycle per wake-up, at most one per interval."""
        while not stop.is_set():
            if not self._wake.wait(1.0) or stop.is_set():
                continue
            # Coalesce: let more changes arrive before building the delta (longer while
            # ingest has a backlog, up to the maximum interval).
            if stop.wait(self._interval):
                break
            waited = self._interval
            while waited < self._max_interval and self._backlog() > 0:
                if stop.wait(self._interval):
                    return
                waited += self._interval
            self._wake.clear()
            try:
                sent = self.push_now()
            except Exception:
                log.exception("member push cycle failed; retrying on the next change")
                self._wake.set()
                stop.wait(1.0)
                continue
            if sent:
                # More may be dirty than one message holds: go again.
                self._wake.set()
