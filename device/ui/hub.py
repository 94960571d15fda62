"""Fan-out of UI messages from any thread to every connected page (Server-Sent Events).

Taps are decided on reader threads; pages listen on uvicorn's event loop. ``publish`` is
thread-safe and never blocks: each subscriber has a bounded queue, and a page too slow to
keep up loses its oldest messages rather than stalling a tap.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UiMessage:
    """One pushed message: an SSE event name and its JSON data."""

    kind: str
    data: dict[str, Any]
    id: int = 0

    def sse(self) -> str:
        """The message framed as a Server-Sent Event."""
        payload = json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))
        return f"id: {self.id}\nevent: {self.kind}\ndata: {payload}\n\n"


_CLOSED = UiMessage("closed", {})


class Subscription:
    """One page's queue. Create with :meth:`EventHub.subscribe` on the event loop."""

    def __init__(self, hub: EventHub, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self._hub = hub
        self._loop = loop
        self._queue: asyncio.Queue[UiMessage] = asyncio.Queue(size)
        self.dropped = 0

    def _offer(self, message: UiMessage) -> None:
        """Runs on the loop: enqueue, dropping the oldest message when full."""
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
                self.dropped += 1
        self._queue.put_nowait(message)

    def deliver(self, message: UiMessage) -> bool:
        """From any thread; False when the loop is gone (the subscription is dead)."""
        try:
            self._loop.call_soon_threadsafe(self._offer, message)
        except RuntimeError:
            return False
        return True

    async def next(self, timeout_s: float) -> UiMessage | None:
        """The next message; None after ``timeout_s`` without one (send a keep-alive)."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout_s)
        except TimeoutError:
            return None

    @staticmethod
    def is_closed(message: UiMessage) -> bool:
        """True for the end-of-stream marker sent when the hub closes."""
        return message is _CLOSED

    def close(self) -> None:
        """Stop receiving messages."""
        self._hub._remove(self)


class EventHub:
    """Thread-safe broadcaster; ``sticky`` kinds are replayed to pages that connect later."""

    def __init__(self, *, queue_size: int = 200, sticky: tuple[str, ...] = ("status",)) -> None:
        self._lock = threading.Lock()
        self._subs: set[Subscription] = set()
        self._sticky_kinds = frozenset(sticky)
        self._sticky: dict[str, UiMessage] = {}
        self._ids = itertools.count(1)
        self._queue_size = queue_size
        self._closed = False
        self.published = 0

    def publish(self, kind: str, data: dict[str, Any]) -> UiMessage:
        """Send ``data`` as event ``kind`` to every page (callable from any thread)."""
        with self._lock:
            message = UiMessage(kind, data, next(self._ids))
            if kind in self._sticky_kinds:
                self._sticky[kind] = message
            subs = list(self._subs)
            self.published += 1
        dead = [sub for sub in subs if not sub.deliver(message)]
        for sub in dead:
            self._remove(sub)
        return message

    def last(self, kind: str) -> UiMessage | None:
        """The latest sticky message of ``kind``."""
        with self._lock:
            return self._sticky.get(kind)

    def subscribe(self) -> Subscription:
        """A new subscription; call on the event loop that will read it."""
        sub = Subscription(self, asyncio.get_running_loop(), self._queue_size)
        with self._lock:
            replay = list(self._sticky.values())
            if self._closed:
                replay = [_CLOSED]
            else:
                self._subs.add(sub)
        for message in replay:
            sub._offer(message)
        return sub

    @property
    def subscribers(self) -> int:
        """Pages listening right now."""
        with self._lock:
            return len(self._subs)

    def close(self) -> None:
        """End every stream (server shutdown); later subscribers end at once."""
        with self._lock:
            self._closed = True
            subs = list(self._subs)
            self._subs.clear()
        for sub in subs:
            sub.deliver(_CLOSED)

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)
