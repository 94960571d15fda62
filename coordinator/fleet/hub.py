"""Handing the fleet monitor's snapshots (a thread) to live pages (the event loop).

The monitor calls :meth:`SnapshotHub.publish` from its thread; Server-Sent-Event
handlers ``await`` :meth:`SnapshotHub.wait_newer` on uvicorn's loop. Only the newest
snapshot is kept: a slow page skips states, it never builds a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any


class SnapshotHub:
    """The newest fleet snapshot and a wake-up for everyone waiting on a newer one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, Any] | None = None
        self._version = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the loop that serves the pages (called from the app's lifespan)."""
        self._loop = loop
        self._changed = asyncio.Event()

    def unbind(self) -> None:
        """Detach at shutdown; waiters return at their next timeout."""
        self._loop = None

    @property
    def version(self) -> int:
        """Number of snapshots published so far."""
        with self._lock:
            return self._version

    def latest(self) -> dict[str, Any] | None:
        """The newest snapshot (None before the first)."""
        with self._lock:
            return self._latest

    def publish(self, snapshot: dict[str, Any]) -> None:
        """From any thread: store ``snapshot`` and wake the waiting pages."""
        with self._lock:
            self._latest = snapshot
            self._version += 1
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        if changed is not None:
            changed.set()

    async def wait_newer(self, seen: int, timeout_s: float) -> int:
        """Wait until a snapshot newer than version ``seen`` exists (or the timeout)."""
        if self.version != seen or self._changed is None:
            return self.version
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout_s)
        return self.version
