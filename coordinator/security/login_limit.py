"""Rate limits for password guessing: failed logins per user and address, and per address.

A sliding window per key holds the times of recent failures. Once ``max_failures`` failures
of one user from one client address (or ``max_per_address`` failures of any users from one
address) fall within the window, further attempts are refused with 429 and ``Retry-After``
— before the password is even checked — until the oldest failure leaves the window. A
successful login clears its user-and-address count (not the address count, so one valid
account cannot be used to reset a password spray).

The failures live in the database (table ``login_failures``), so every coordinator replica
behind a load balancer counts the same attempts: an attacker gets ``max_failures`` guesses
per window whichever replica answers, not ``replicas x max_failures``. Rows older than the
window are deleted as new failures arrive, so an attacker rotating addresses cannot grow
the table beyond one window's worth of attempts. Behind a load balancer, set the
coordinator's ``forwarded_allow_ips`` to the balancer's addresses so the client address is
the real one (X-Forwarded-For), not the balancer's.
"""

from __future__ import annotations

import math

import sqlalchemy as sa

from coordinator import schema
from coordinator.db import Database
from coordinator.errors import ApiError

_PART = 120
"""Longest user name or address kept in a key (longer ones are cut, which only merges the
counts of names that differ past this length)."""


class FailureLimiter:
    """Counts failures per (subject, address) and per address within a sliding window,
    in the database shared by every replica; ``scope`` keeps separate limiters apart."""

    def __init__(
        self,
        db: Database,
        *,
        scope: str,
        max_failures: int,
        max_per_address: int,
        window_ms: int,
    ):
        self.db = db
        self.scope = scope
        self.max_failures = max_failures
        self.max_per_address = max_per_address
        self.window_ms = window_ms

    @staticmethod
    def _subject_key(subject: str, address: str) -> str:
        return f"user:{subject.strip().casefold()[:_PART]}|{address[:_PART]}"

    @staticmethod
    def _address_key(address: str) -> str:
        return f"address|{address[:_PART]}"

    def _keys(self, subject: str | None, address: str) -> list[tuple[str, int]]:
        keys = [(self._address_key(address), self.max_per_address)]
        if subject is not None:
            keys.append((self._subject_key(subject, address), self.max_failures))
        return keys

    def check(self, subject: str | None, address: str, now_ms: int) -> None:
        """Raise 429 (with ``Retry-After``) while ``subject`` from ``address`` is blocked."""
        lf = schema.login_failures
        wait_ms = 0
        with self.db.read() as conn:
            for key, limit in self._keys(subject, address):
                times = list(
                    conn.execute(
                        sa.select(lf.c.at_ms)
                        .where(
                            lf.c.scope == self.scope,
                            lf.c.key == key,
                            lf.c.at_ms > now_ms - self.window_ms,
                        )
                        .order_by(lf.c.at_ms.desc())
                        .limit(limit)
                    ).scalars()
                )
                if len(times) >= limit:
                    # The oldest of the last ``limit`` failures must leave the window.
                    wait_ms = max(wait_ms, int(times[-1]) + self.window_ms - now_ms)
        if wait_ms > 0:
            seconds = max(1, math.ceil(wait_ms / 1000))
            raise ApiError(
                429,
                "too_many_attempts",
                f"too many failed attempts; try again in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )

    def failed(self, subject: str | None, address: str, now_ms: int) -> None:
        """Record a failed attempt (and forget failures that have left the window)."""
        lf = schema.login_failures
        with self.db.write() as conn:
            conn.execute(
                sa.insert(lf),
                [
                    {"scope": self.scope, "key": key, "at_ms": now_ms}
                    for key, _ in self._keys(subject, address)
                ],
            )
            conn.execute(
                sa.delete(lf).where(lf.c.scope == self.scope, lf.c.at_ms <= now_ms - self.window_ms)
            )

    def succeeded(self, subject: str, address: str) -> None:
        """Forget the failures of ``subject`` from ``address`` (after a good password)."""
        lf = schema.login_failures
        with self.db.write() as conn:
            conn.execute(
                sa.delete(lf).where(
                    lf.c.scope == self.scope, lf.c.key == self._subject_key(subject, address)
                )
            )


def client_address(request: object) -> str:
    """The caller's address as the server saw it ("unknown" without one)."""
    client = getattr(request, "client", None)
    host = getattr(client, "host", None)
    return str(host) if host else "unknown"
