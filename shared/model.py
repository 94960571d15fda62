"""Ledger values: members, credentials, passes, coupons, points lots, classes and rules.

All values are frozen pydantic models: validated once at the edge, immutable afterwards, and
serialised with the same code on kiosk and coordinator. Times are UTC epoch milliseconds
(``*_ms``); store-local days are computed with the rule bundle's timezone. Points and
sessions are integers; money is integer fen (minor units).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]
"""Identifier of a store, kiosk, member, pass, coupon, class or event."""

CardUid = Annotated[str, StringConstraints(pattern=r"^(?:[0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$")]
"""NFC card UID as upper-case hex: 4, 7 or 10 bytes (ISO 14443 single/double/triple size).

A FeliCa (Type 3) card's 8-byte IDm is mapped to 16 hex digits; see ``felica_idm``."""

FelicaIdm = Annotated[str, StringConstraints(pattern=r"^[0-9A-F]{16}$")]
Uid = Annotated[
    str, StringConstraints(pattern=r"^(?:[0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{16}|[0-9A-F]{20})$")
]
"""Any credential UID the kiosk reads: ISO 14443-A UIDs or a FeliCa IDm, upper-case hex."""

Ms = Annotated[int, Field(ge=0, le=10**14)]
"""UTC epoch milliseconds (non-negative, sanity-bounded)."""

Count = Annotated[int, Field(ge=0, le=10**9)]
Text = Annotated[str, StringConstraints(max_length=200)]


class Frozen(BaseModel):
    """Base of every ledger value and wire message: immutable, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class PassKind(StrEnum):
    """Punch pass (计次卡: N sessions) or time pass (月卡/季卡: unlimited entries in a period)."""

    PUNCH = "punch"
    TIME = "time"


class CouponKind(StrEnum):
    """What a coupon gives: a percentage discount, a cash voucher (fen) or a free trial."""

    DISCOUNT = "discount"
    VOUCHER = "voucher"
    TRIAL = "trial"


class MemberStatus(StrEnum):
    """A suspended member is refused at every kiosk until HQ reactivates them."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class CouponPolicy(StrEnum):
    """How single-use coupons may be redeemed while a kiosk is offline.

    ``online_only``: every coupon redemption needs a claim granted by the coordinator, so a
    coupon can never be spent twice. ``store_scoped``: a coupon valid in exactly one store may
    be redeemed offline by that store's kiosks (worst case: one extra use per other kiosk of
    that store); coupons valid in several stores still need the network.
    """

    ONLINE_ONLY = "online_only"
    STORE_SCOPED = "store_scoped"


class PassState(Frozen):
    """A member's punch or time pass as folded from its issue/update/use events."""

    pass_id: Id
    kind: PassKind
    name: Text
    class_types: tuple[Id, ...] = ()
    """Class types this pass covers; empty means every class type."""
    store_ids: tuple[Id, ...] = ()
    """Stores where the pass is valid; empty means every store of the chain."""
    valid_from_ms: Ms
    valid_until_ms: Ms
    sessions_total: Count = 0
    sessions_used: int = 0
    """May exceed ``sessions_total`` centrally after offline overuse (a conflict is raised)."""
    frozen: bool = False
    price_fen: Count = 0

    @property
    def sessions_left(self) -> int:
        """Sessions remaining on a punch pass (negative when overdrawn offline)."""
        return self.sessions_total - self.sessions_used

    def covers(self, class_type: str | None, store_id: str) -> bool:
        """True when the pass is meant for this class type (None: a plain visit) and store."""
        if self.store_ids and store_id not in self.store_ids:
            return False
        return class_type is None or not self.class_types or class_type in self.class_types


class CouponState(Frozen):
    """A single-use coupon issued to a member."""

    coupon_id: Id
    campaign_id: Id
    kind: CouponKind
    title: Text
    value: Count = 0
    """Percent off for ``discount``, fen for ``voucher``, 0 for ``trial``."""
    store_ids: tuple[Id, ...] = ()
    valid_from_ms: Ms
    valid_until_ms: Ms
    redeemed_event_id: Id | None = None
    redeem_count: int = 0
    """Times redeemed; above 1 only after an offline double spend (a conflict is raised)."""

    def valid_in(self, store_id: str) -> bool:
        """True when the coupon may be used in this store."""
        return not self.store_ids or store_id in self.store_ids


class PointsLot(Frozen):
    """Points earned together, expiring together. ``lot_id`` is the earning event's id."""

    lot_id: Id
    earned_ms: Ms
    expires_ms: Ms
    amount: int
    remaining: int


class SignIn(Frozen):
    """A class sign-in remembered so that a second tap never deducts twice."""

    class_session_id: Id
    pass_id: Id | None
    event_id: Id
    at_ms: Ms


class MemberLedger(Frozen):
    """Everything the ledger knows about one member's balances, folded from events."""

    points_lots: tuple[PointsLot, ...] = ()
    points_debt: Count = 0
    """Points redeemed beyond what was available (offline overdraw); paid from new earnings."""
    passes: tuple[PassState, ...] = ()
    coupons: tuple[CouponState, ...] = ()
    signins: tuple[SignIn, ...] = ()
    last_checkin_ms: Ms | None = None
    last_reward_day: str | None = None
    """Store-local date (YYYY-MM-DD) of the last check-in that earned points."""
    checkins: Count = 0
    points_earned_total: Count = 0

    def points_available(self, now_ms: int) -> int:
        """Spendable points at ``now_ms``: unexpired lots minus any debt."""
        live = sum(lot.remaining for lot in self.points_lots if lot.expires_ms > now_ms)
        return live - self.points_debt

    def find_pass(self, pass_id: str) -> PassState | None:
        """The pass with this id, or None."""
        return next((p for p in self.passes if p.pass_id == pass_id), None)

    def find_coupon(self, coupon_id: str) -> CouponState | None:
        """The coupon with this id, or None."""
        return next((c for c in self.coupons if c.coupon_id == coupon_id), None)


class MemberRecord(Frozen):
    """A member as a kiosk caches it: masked identity, credentials and folded ledger."""

    member_id: Id
    display_name: Text
    """Already masked for kiosk screens (e.g. ``李*华``, ``Anna L.``); never a full name."""
    tier: Id = "basic"
    status: MemberStatus = MemberStatus.ACTIVE
    cards: tuple[Uid, ...] = ()
    lang: Annotated[str, StringConstraints(pattern=r"^(zh|en)$")] = "zh"
    ledger: MemberLedger = MemberLedger()


class TierRule(Frozen):
    """A tier reached by earning ``min_points_earned`` within the rule bundle's tier window."""

    name: Id
    min_points_earned: Count
    multiplier_permille: Annotated[int, Field(ge=0, le=100_000)] = 1000
    """Check-in points multiplier in thousandths (1500 = 1.5x)."""
    title_zh: Text = ""
    title_en: Text = ""


class OfflineLimits(Frozen):
    """How much a kiosk may give away on information the coordinator has not yet confirmed.

    An *unconfirmed* deduction is one of this kiosk's events not yet folded into the member
    snapshot it holds. Online, confirmation takes a fraction of a second; offline it lasts
    until the kiosk reconnects. ``shared.limits`` turns these numbers into the worst-case
    overspend across N kiosks.
    """

    max_unconfirmed_sessions_per_member: Annotated[int, Field(ge=0, le=1000)] = 2
    max_unconfirmed_points_per_member: Annotated[int, Field(ge=0, le=10**7)] = 500
    max_offline_sessions_per_member_day: Annotated[int, Field(ge=0, le=1000)] = 2
    max_offline_points_per_member_day: Annotated[int, Field(ge=0, le=10**7)] = 500
    kiosk_max_unconfirmed_sessions: Annotated[int, Field(ge=0, le=10**6)] = 300
    kiosk_max_unconfirmed_points: Annotated[int, Field(ge=0, le=10**9)] = 50_000
    max_offline_hours: Annotated[int, Field(ge=0, le=24 * 90)] = 72
    """Past this, an offline kiosk still checks members in but refuses deductions."""
    coupon_policy: CouponPolicy = CouponPolicy.STORE_SCOPED


class Reward(Frozen):
    """Something a member can buy with points at the kiosk."""

    reward_id: Id
    title_zh: Text
    title_en: Text
    points_cost: Annotated[int, Field(ge=1, le=10**7)]


class ClassSession(Frozen):
    """One scheduled class in a store, with its sign-in window."""

    class_session_id: Id
    class_type: Id
    store_id: Id
    title_zh: Text
    title_en: Text
    starts_ms: Ms
    ends_ms: Ms
    signin_opens_before_s: Annotated[int, Field(ge=0, le=86_400)] = 1800
    signin_closes_after_s: Annotated[int, Field(ge=0, le=86_400)] = 900
    capacity: Count = 0
    instructor: Text = ""
    room: Id | None = None
    """The room it is held in: a door station enrolled for that room signs students into it."""

    def signin_open(self, now_ms: int) -> bool:
        """True while students may sign in."""
        return self.signin_opens_ms <= now_ms <= self.signin_closes_ms

    @property
    def signin_opens_ms(self) -> int:
        """When sign-in opens."""
        return self.starts_ms - self.signin_opens_before_s * 1000

    @property
    def signin_closes_ms(self) -> int:
        """When sign-in closes."""
        return self.starts_ms + self.signin_closes_after_s * 1000


class QrKey(Frozen):
    """A coordinator public key kiosks use to verify member QR tokens offline.

    During a rotation two keys are listed; the old one carries ``not_after_ms`` (the stated
    time until which tokens signed with it are still honoured).
    """

    key_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,16}$")]
    public_key: Annotated[str, StringConstraints(min_length=43, max_length=44)]
    """Raw Ed25519 public key, urlsafe base64 (32 bytes)."""
    not_before_ms: Ms = 0
    not_after_ms: Ms | None = None


class Rules(Frozen):
    """Chain-wide ledger rules."""

    timezone: Annotated[str, StringConstraints(max_length=64)] = "Asia/Shanghai"
    points_per_checkin: Annotated[int, Field(ge=0, le=10**6)] = 10
    checkin_reward_once_per_day: bool = True
    double_tap_window_s: Annotated[int, Field(ge=0, le=86_400)] = 60
    checkin_without_class_pass: bool = True
    """During a class sign-in window, a member with no pass for the class at all is checked
    in as a store visitor (gym + studio chains). False: refused NO_VALID_PASS (class-only
    studios)."""
    points_expiry_days: Annotated[int, Field(ge=1, le=3650)] = 365
    tier_window_days: Annotated[int, Field(ge=1, le=3650)] = 365
    tiers: tuple[TierRule, ...] = (
        TierRule(name="basic", min_points_earned=0, title_zh="普通会员", title_en="Member"),
        TierRule(
            name="silver",
            min_points_earned=500,
            multiplier_permille=1200,
            title_zh="银卡会员",
            title_en="Silver",
        ),
        TierRule(
            name="gold",
            min_points_earned=2000,
            multiplier_permille=1500,
            title_zh="金卡会员",
            title_en="Gold",
        ),
    )
    offline: OfflineLimits = OfflineLimits()
    qr_token_ttl_s: Annotated[int, Field(ge=5, le=3600)] = 60
    qr_clock_skew_s: Annotated[int, Field(ge=0, le=3600)] = 30
    undo_window_s: Annotated[int, Field(ge=0, le=3600)] = 120
    clock_skew_flag_s: Annotated[int, Field(ge=1, le=10**7)] = 300
    """Events whose kiosk wall clock is further than this from the coordinator's are flagged."""

    def tier(self, name: str) -> TierRule:
        """The tier rule with this name, or the lowest tier when unknown."""
        for rule in self.tiers:
            if rule.name == name:
                return rule
        return min(self.tiers, key=lambda t: t.min_points_earned)


class RuleBundle(Frozen):
    """What a store's kiosks need to decide: rules, today's classes, rewards and QR keys.

    Versions are global and monotonic; a kiosk never applies a bundle older than the one it
    has. ``store_ids`` empty means the bundle applies to every store.
    """

    version: Annotated[int, Field(ge=0)]
    store_ids: tuple[Id, ...] = ()
    rules: Rules = Rules()
    classes: tuple[ClassSession, ...] = ()
    rewards: tuple[Reward, ...] = ()
    qr_keys: tuple[QrKey, ...] = ()
    published_ms: Ms = 0

    def reward(self, reward_id: str) -> Reward | None:
        """The reward with this id, or None."""
        return next((r for r in self.rewards if r.reward_id == reward_id), None)

    def class_session(self, class_session_id: str) -> ClassSession | None:
        """The class session with this id, or None."""
        return next((c for c in self.classes if c.class_session_id == class_session_id), None)


class DenyEntry(Frozen):
    """A lost or revoked card: refused at every kiosk from ``revoked_ms`` on."""

    uid: Uid
    revoked_ms: Ms
    reason: Annotated[str, StringConstraints(pattern=r"^(lost|stolen|replaced|revoked)$")] = "lost"
