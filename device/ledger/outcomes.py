"""Small frozen values the ledger hands to the kiosk UI and the link."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from device.ledger.stations import StationVerdict
from shared.decide import Accepted, Decision, NeedsClaim, Refused
from shared.events import Event
from shared.model import ClassSession, CouponState, MemberStatus, PassState
from shared.protocol import Versions
from shared.reasons import RejectReason


class QrClaims(Protocol):
    """What a verified member QR token says (``shared.qrtoken.TokenClaims`` fits)."""

    @property
    def member_id(self) -> str: ...

    @property
    def nonce(self) -> str: ...

    @property
    def key_id(self) -> str: ...

    @property
    def expires_ms(self) -> int: ...


@dataclass(frozen=True)
class VerifiedQr:
    """Plain :class:`QrClaims` value (tests, and callers holding claims from elsewhere)."""

    member_id: str
    nonce: str
    key_id: str
    expires_ms: int


@dataclass(frozen=True)
class MemberSummary:
    """What the kiosk screen may show about a member: masked name and local balances."""

    member_id: str
    display_name: str
    tier: str
    lang: str
    status: MemberStatus
    points_balance: int
    checkins: int
    passes: tuple[PassState, ...]
    coupons: tuple[CouponState, ...]
    """Coupons not yet used (expired ones included; the screen greys them out)."""
    pending_events: int
    """This kiosk's events for the member the coordinator has not yet folded in."""
    stored_value_fen: int = 0
    """Stored value available (fen, negative after an offline overdraw)."""


@dataclass(frozen=True)
class TapOutcome:
    """The decision on one request and the events it recorded (empty when nothing was)."""

    decision: Decision
    events: tuple[Event, ...]
    member: MemberSummary | None

    @property
    def accepted(self) -> bool:
        """True when the request was carried out."""
        return isinstance(self.decision, Accepted)

    @property
    def needs_claim(self) -> bool:
        """True when a coupon must first be claimed from the coordinator (nothing recorded)."""
        return isinstance(self.decision, NeedsClaim)

    @property
    def reason(self) -> RejectReason | None:
        """The refusal reason, or None when not refused."""
        return self.decision.reason if isinstance(self.decision, Refused) else None


@dataclass(frozen=True)
class StationTapOutcome:
    """A door station's tap: the verdict it is told, and the ledger outcome when decided now."""

    verdict: StationVerdict
    duplicate: bool
    """True when the tap had been decided before (answered from the record, nothing new)."""
    outcome: TapOutcome | None
    """The decision and its events (None for a duplicate)."""


@dataclass(frozen=True)
class RosterEntry:
    """One member signed in to a class."""

    member_id: str
    display_name: str
    at_ms: int
    pass_id: str | None
    station_id: str | None = None
    """The door station the student signed in at (None: at the kiosk itself)."""


@dataclass(frozen=True)
class ClassRoster:
    """A class of today in this store and who has signed in so far."""

    session: ClassSession
    signed_in: tuple[RosterEntry, ...]


@dataclass(frozen=True)
class RecentEvent:
    """One of this kiosk's recent events, as the staff undo screen lists them."""

    event: Event
    reversed: bool
    undoable: bool
    acked: bool


@dataclass(frozen=True)
class SyncStatus:
    """Separate facts about the kiosk's sync state (never one flag that lies)."""

    online: bool
    offline_since_ms: int | None
    last_seq: int
    acked_seq: int
    confirmed_seq: int
    outbox_depth: int
    oldest_unacked_age_s: int | None
    versions: Versions
    members: int
    unconfirmed_sessions: int
    unconfirmed_points: int
    staging_chunks: int
    """Chunks of an incoming full snapshot stored so far (0 when none is in progress)."""
