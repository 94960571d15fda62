"""Rate limits for password guessing: failed logins per user and address, and per address.

A sliding window per key holds the times of recent failures. Once ``max_failures`` failures
of one user from one client address (or ``max_per_address`` failures of any users from one
address) fall within the window, further attempts are refused with 429 and ``Retry-After``
— before the password is even checked — until the oldest failure leaves the window. A
successful login clears its user-and-address count (not the address count, so one valid
account cannot be used to reset a password spray).

The counts live in this process: with several coordinator replicas behind a load balancer
an attacker gets at most ``replicas x max_failures`` guesses per window. Behind a reverse
proxy, run uvicorn with ``--proxy-headers`` so the client address is the real one.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque

from coordinator.errors import ApiError

_MAX_KEYS = 100_000
"""Bound on remembered keys (an attacker rotating addresses cannot exhaust memory)."""


class FailureLimiter:
    """Counts failures per (subject, address) and per address within a sliding window."""

    def __init__(self, *, max_failures: int, max_per_address: int, window_ms: int):
        self.max_failures = max_failures
        self.max_per_address = max_per_address
        self.window_ms = window_ms
        self._lock = threading.Lock()
        self._failures: OrderedDict[tuple[str, str], deque[int]] = OrderedDict()

    @staticmethod
    def _subject_key(subject: str, address: str) -> tuple[str, str]:
        return (f"user:{subject.strip().casefold()}", address)

    def _recent(self, key: tuple[str, str], now_ms: int) -> deque[int]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now_ms - self.window_ms:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def check(self, subject: str | None, address: str, now_ms: int) -> None:
        """Raise 429 (with ``Retry-After``) while ``subject`` from ``address`` is blocked."""
        with self._lock:
            keys: list[tuple[tuple[str, str], int]] = [(("address", address), self.max_per_address)]
            if subject is not None:
                keys.append((self._subject_key(subject, address), self.max_failures))
            wait_ms = 0
            for key, limit in keys:
                times = self._recent(key, now_ms)
                if len(times) >= limit:
                    wait_ms = max(wait_ms, times[len(times) - limit] + self.window_ms - now_ms)
        if wait_ms > 0:
            seconds = max(1, math.ceil(wait_ms / 1000))
            raise ApiError(
                429,
                "too_many_attempts",
                f"too many failed attempts; try again in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )

    def failed(self, subject: str | None, address: str, now_ms: int) -> None:
        """Record a failed attempt."""
        with self._lock:
            keys = [("address", address)]
            if subject is not None:
                keys.append(self._subject_key(subject, address))
            for key in keys:
                times = self._failures.setdefault(key, deque())
                times.append(now_ms)
                self._failures.move_to_end(key)
            while len(self._failures) > _MAX_KEYS:
                self._failures.popitem(last=False)

    def succeeded(self, subject: str, address: str) -> None:
        """Forget the failures of ``subject`` from ``address`` (after a good password)."""
        with self._lock:
            self._failures.pop(self._subject_key(subject, address), None)


def client_address(request: object) -> str:
    """The caller's address as the server saw it ("unknown" without one)."""
    client = getattr(request, "client", None)
    host = getattr(client, "host", None)
    return str(host) if host else "unknown"
