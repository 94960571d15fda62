"""Coupon claims waiting for the coordinator's answer."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from shared.decide import ClaimOutcome
from shared.protocol import ClaimResult


@dataclass
class _Waiter:
    coupon_id: str
    done: threading.Event = field(default_factory=threading.Event)
    outcome: ClaimOutcome | None = None


class PendingClaims:
    """Claims sent and not yet answered, keyed by claim id. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, _Waiter] = {}

    def open(self, claim_id: str, coupon_id: str) -> None:
        """Start waiting for the answer to ``claim_id``."""
        with self._lock:
            self._waiting[claim_id] = _Waiter(coupon_id)

    def resolve(self, result: ClaimResult) -> bool:
        """Hand an answer to its waiter; False when nobody waits for it (late or unknown)."""
        with self._lock:
            waiter = self._waiting.get(result.claim_id)
            if waiter is None or waiter.coupon_id != result.coupon_id:
                return False
            waiter.outcome = ClaimOutcome(
                claim_id=result.claim_id, granted=result.granted, reason=result.reason
            )
        waiter.done.set()
        return True

    def wait(self, claim_id: str, timeout_s: float) -> ClaimOutcome | None:
        """Block until answered or ``timeout_s`` passed; the claim is forgotten either way."""
        with self._lock:
            waiter = self._waiting.get(claim_id)
        if waiter is None:
            return None
        waiter.done.wait(timeout_s)
        with self._lock:
            self._waiting.pop(claim_id, None)
            return waiter.outcome

    def abandon_all(self) -> None:
        """Wake every waiter without an answer (the link is stopping)."""
        with self._lock:
            waiters = list(self._waiting.values())
        for waiter in waiters:
            waiter.done.set()
