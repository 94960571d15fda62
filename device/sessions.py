"""Who may act on the kiosk screen right now: the member who just tapped, or logged-in staff.

A member session is bound to one accepted tap: the page gets an opaque token with the tap
result and every redemption names only that token, never a member id, so the page cannot
act for anyone else. A new tap replaces the session; it expires after a short time.

Staff log in with their own PIN (hashes from the rule bundle's staff list: the session then
records that person) or the kiosk's shared PIN (hashed in the settings; records the
configured staff id), with a lockout after repeated wrong PINs, or with a staff card (their
own, matched against the keyed UID hashes of the bundle's staff cards, or one of the cards in
the kiosk's settings); the session closes after a period without activity. Time comes from
the injected clock's monotonic seconds, so tests need no sleeps.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from device.ports import Clock
from device.staff_pin import pin_hash_outdated, verify_pin
from shared.password_hash import HashFormatError, describe
from shared.staff_cards import card_matches

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemberSession:
    """The member who just tapped, for a short redemption session."""

    token: str
    member_id: str
    lang: str
    expires_at: float
    """Monotonic seconds."""


class MemberSessions:
    """At most one live member session: the latest accepted tap's. Thread-safe."""

    def __init__(self, clock: Clock, ttl_s: float) -> None:
        self._clock = clock
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._current: MemberSession | None = None

    def open(self, member_id: str, lang: str) -> MemberSession:
        """Start a session for ``member_id`` (ending any previous one)."""
        session = MemberSession(
            token=secrets.token_urlsafe(18),
            member_id=member_id,
            lang=lang,
            expires_at=self._clock.monotonic() + self.ttl_s,
        )
        with self._lock:
            self._current = session
        return session

    def get(self, token: str | None) -> MemberSession | None:
        """The live session for ``token``, or None (unknown, replaced or expired)."""
        if not token:
            return None
        with self._lock:
            current = self._current
            if current is None or not secrets.compare_digest(current.token, token):
                return None
            if self._clock.monotonic() >= current.expires_at:
                self._current = None
                return None
            return current

    def remaining_s(self, session: MemberSession) -> float:
        """Seconds left in ``session``."""
        return max(0.0, session.expires_at - self._clock.monotonic())

    def end(self, token: str | None = None) -> None:
        """End the session for ``token`` (or whichever is live when None)."""
        with self._lock:
            if self._current is not None and (token is None or self._current.token == token):
                self._current = None


@dataclass(frozen=True)
class StaffSession:
    """A logged-in staff user."""

    token: str
    staff_id: str
    via: str
    """``pin`` or ``card``."""
    last_active: float


@dataclass(frozen=True)
class LoginRefused:
    """Why a PIN login failed: ``wrong_pin`` or ``locked`` (retry after some seconds)."""

    reason: str
    retry_after_s: float = 0.0
    attempts_left: int = 0


class StaffSessions:
    """One staff session at a time, PIN lockout, idle timeout. Thread-safe."""

    def __init__(
        self,
        clock: Clock,
        *,
        pin_hash: str | None,
        staff_id: str,
        cards: tuple[str, ...],
        idle_s: float,
        max_attempts: int,
        lockout_s: float,
        roster: Callable[[], Sequence[tuple[str, str]]] | None = None,
        card_roster: Callable[[], Sequence[tuple[str, str]]] | None = None,
    ) -> None:
        self._clock = clock
        self._roster = roster
        """(staff id, PIN hash) of this store's staff, from the rule bundle in force."""
        self._card_roster = card_roster
        """(staff id, staff card hash) of this store's staff, from the rule bundle in force."""
        self._pin_hash = pin_hash
        self.pin_hash_outdated = pin_hash is not None and pin_hash_outdated(pin_hash)
        """The PIN hash is an older format or cheaper than today's cost (see
        :mod:`shared.password_hash`): a successful PIN login says so in the log, once."""
        self._outdated_reported = False
        self._staff_id = staff_id
        self._cards = frozenset(cards)
        self.idle_s = idle_s
        self._max_attempts = max_attempts
        self._lockout_s = lockout_s
        self._lock = threading.Lock()
        self._current: StaffSession | None = None
        self._failures = 0
        self._locked_until = 0.0

    def is_staff_card(self, uid: str) -> bool:
        """True when ``uid`` is a staff card: configured, or a staff member's own."""
        return uid.upper() in self._cards or self._card_owner(uid) is not None

    def _card_owner(self, uid: str) -> str | None:
        """The staff member whose own staff card ``uid`` is (None: nobody's here)."""
        for staff_id, card_hash in self._card_roster() if self._card_roster else ():
            if card_matches(uid, card_hash):
                return staff_id
        return None

    def login_pin(self, pin: str) -> StaffSession | LoginRefused:
        """Check the PIN; a session on success, a refusal (wrong or locked) otherwise."""
        now = self._clock.monotonic()
        with self._lock:
            if now < self._locked_until:
                return LoginRefused("locked", retry_after_s=self._locked_until - now)
        # Slow on purpose (scrypt): outside the lock. No hash: PIN login is off.
        person = self._staff_with(pin)
        ok = person is not None or (self._pin_hash is not None and verify_pin(pin, self._pin_hash))
        with self._lock:
            if not ok:
                self._failures += 1
                if self._failures >= self._max_attempts:
                    self._failures = 0
                    self._locked_until = now + self._lockout_s
                    return LoginRefused("locked", retry_after_s=self._lockout_s)
                return LoginRefused("wrong_pin", attempts_left=self._max_attempts - self._failures)
            self._failures = 0
            report = self.pin_hash_outdated and not self._outdated_reported
            self._outdated_reported = True
            session = self._open(person or self._staff_id, "pin", now)
            report = report and person is None
        if report and self._pin_hash is not None:
            log.warning(
                "staff.pin_hash is outdated (%s); the PIN was right, but a stolen config file "
                "is cheap to crack: replace it with the output of `tapfleet kiosk --hash-pin`",
                describe(self._pin_hash),
            )
        return session

    def _staff_with(self, pin: str) -> str | None:
        """The staff member whose own PIN this is (None: nobody's). A bad hash in the bundle
        is logged and skipped, never a crash of the login."""
        for staff_id, pin_hash in self._roster() if self._roster else ():
            try:
                if verify_pin(pin, pin_hash):
                    return staff_id
            except HashFormatError as exc:
                log.error("the rule bundle's PIN hash of staff %s is unusable: %s", staff_id, exc)
        return None

    def login_card(self, uid: str) -> StaffSession | None:
        """A session for a staff card, or None when ``uid`` is not a staff card. A staff
        member's own card records that person; a card of the settings ``card-<UID>``."""
        uid = uid.upper()
        person = self._card_owner(uid)
        if person is None and uid not in self._cards:
            return None
        with self._lock:
            return self._open(person or f"card-{uid}", "card", self._clock.monotonic())

    def _open(self, staff_id: str, via: str, now: float) -> StaffSession:
        self._current = StaffSession(secrets.token_urlsafe(18), staff_id, via, now)
        return self._current

    def get(self, token: str | None, *, touch: bool = True) -> StaffSession | None:
        """The live session for ``token`` (activity extends it), or None."""
        if not token:
            return None
        now = self._clock.monotonic()
        with self._lock:
            current = self._current
            if current is None or not secrets.compare_digest(current.token, token):
                return None
            if now - current.last_active >= self.idle_s:
                self._current = None
                return None
            if touch:
                self._current = replace(current, last_active=now)
            return self._current

    def active(self) -> StaffSession | None:
        """The live session, if any (does not count as activity)."""
        with self._lock:
            current = self._current
        if current is None:
            return None
        return self.get(current.token, touch=False)

    def logout(self, token: str | None = None) -> None:
        """End the staff session (the one for ``token``, or whichever is live)."""
        with self._lock:
            if self._current is not None and (token is None or self._current.token == token):
                self._current = None
