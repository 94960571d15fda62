"""Ledger values: members, credentials, passes, coupons, points lots, classes and rules.

All values are frozen pydantic models: validated once at the edge, immutable afterwards, and
serialised with the same code on kiosk and coordinator. Times are UTC epoch milliseconds
(``*_ms``); store-local days are computed with the rule bundle's timezone. Points and
sessions are integers; money is integer fen (minor units).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shared.automation import Automation
from shared.local_days import add_local_days
from shared.money import MoneyRules, StoredValue
from shared.reasons import RejectReason
from shared.staff_cards import CARD_HASH_PATTERN

DAY_MS = 86_400_000

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


def added_later(default: Any) -> Any:
    """The default of a field added to a kiosk-bound model after kiosks were in the field.

    The field is left out of the JSON while it holds ``default``: a kiosk still on an older
    build refuses unknown fields (``extra="forbid"``), so a record or rule bundle that does
    not use the feature must be byte for byte what that build knows. Coordinators are
    updated before kiosks; a chain that turns a feature on needs kiosks that know it.
    ``tests/coordinator/test_wire_compat.py`` holds the last release's schema and fails when a new
    field is sent at its default.
    """
    return Field(default=default, exclude_if=lambda value: value == default)


class PassKind(StrEnum):
    """Punch pass (计次卡: N sessions) or time pass (月卡/季卡: unlimited entries in a period)."""

    PUNCH = "punch"
    TIME = "time"


class CouponKind(StrEnum):
    """What a coupon gives: a discount (permille off), a cash voucher (fen) or a free trial.

    Every kind has its entry in :data:`COUPON_KINDS` (names, value unit): the dashboard's
    campaign form, its labels and the kiosk's coupon list are built from there.
    """

    DISCOUNT = "discount"
    VOUCHER = "voucher"
    TRIAL = "trial"


ValueUnit = Literal["permille", "fen", "none"]


@dataclass(frozen=True)
class CouponKindInfo:
    """What screens and forms say about a coupon kind, and what its ``value`` means."""

    name_zh: str
    name_en: str
    unit: ValueUnit
    """``permille``: thousandths off (150 = 15 % off = 8.5折, 1–999 only); ``fen``: money off
    in fen; ``none``: the value is unused."""

    def form_label(self, lang: str) -> str:
        """The kind as a form names it, with the unit its value is entered in."""
        unit_words = _UNIT_WORDS[self.unit]
        if lang == "en":
            return f"{self.name_en} ({unit_words[1]})" if unit_words[1] else self.name_en
        return f"{self.name_zh}（{unit_words[0]}）" if unit_words[0] else self.name_zh

    def value_problem(self, value: int) -> str | None:
        """Why ``value`` is not a value of this kind (None: it is): a discount is 1–999
        permille, a voucher at least 1 fen; a trial's value is unused."""
        if self.unit == "permille" and not 1 <= value <= 999:
            return "a discount is 1–999 permille off (150 = 15 % off = 8.5折)"
        if self.unit == "fen" and value < 1:
            return "a voucher takes at least 1 fen off"
        return None

    def describe(self, value: int, min_spend_fen: int = 0) -> tuple[str, str]:
        """(zh, en) of a coupon of this kind and value, for a member's screen: ``代金券 ¥20
        满¥100可用`` / ``Voucher ¥20 on ¥100 or more``, ``折扣 8.5折`` / ``Discount 15% off``,
        ``体验券`` / ``Free trial``. Integer arithmetic only (no float rounding)."""
        if self.unit == "permille":
            zh = f"{_decimal(1000 - value, 100)}折" if 0 < value < 1000 else f"{value}‰"
            return f"{self.name_zh} {zh}", f"{self.name_en} {_decimal(value, 10)}% off"
        if self.unit == "fen":
            money = yuan_text(value)
            zh, en = f"{self.name_zh} {money}", f"{self.name_en} {money}"
            if min_spend_fen > 0:
                floor = yuan_text(min_spend_fen)
                zh, en = f"{zh} 满{floor}可用", f"{en} on {floor} or more"
            return zh, en
        return self.name_zh, self.name_en


def _decimal(units: int, per: int) -> str:
    """``units / per`` written exactly, without trailing zeros: (845, 100) → ``8.45``."""
    whole, part = divmod(units, per)
    if part == 0:
        return str(whole)
    digits = len(str(per)) - 1
    return f"{whole}.{part:0{digits}d}".rstrip("0")


def yuan_text(fen: int) -> str:
    """Integer fen as yuan for a screen: 2000 → ``¥20``, 1950 → ``¥19.50``, -5 → ``-¥0.05``."""
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}" if part == 0 else f"{sign}¥{whole:,}.{part:02d}"


_UNIT_WORDS: Mapping[ValueUnit, tuple[str, str]] = {
    "permille": ("‰", "permille"),
    "fen": ("分", "fen"),
    "none": ("", ""),
}

COUPON_KINDS: Mapping[CouponKind, CouponKindInfo] = MappingProxyType(
    {
        CouponKind.VOUCHER: CouponKindInfo("代金券", "Voucher", "fen"),
        CouponKind.DISCOUNT: CouponKindInfo("折扣", "Discount", "permille"),
        CouponKind.TRIAL: CouponKindInfo("体验券", "Free trial", "none"),
    }
)
"""The one registry of coupon kinds, in the order forms list them."""


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


FIRST_USE_DEADLINE_DAYS = 90
"""A pass sold to start at its first use starts by itself this many store-local days after
the sale when it was never used (the default of a catalogue product)."""


class FirstUse(Frozen):
    """The terms of a pass that starts at its first use (开卡 at the first visit) instead of
    at the sale.

    Until its first use the pass holds a validity *length*; the first check-in or class
    sign-in that uses it (at any kiosk, online or offline) starts the window at the tap's
    time (:meth:`PassState.first_used`). A pass never used starts by itself at
    ``activate_by_ms``. Days are the store's calendar days (:func:`add_local_days`), so the
    fold needs the time zone the pass was sold under: it is part of the terms.
    """

    days: Annotated[int, Field(ge=1, le=3660)]
    """Length of the validity window in store-local days."""
    activate_by_ms: Ms
    """The pass starts by itself here if it was never used before."""
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    """The store time zone the days are counted in (the chain's, at the sale)."""
    started_ms: Ms | None = None
    """When the first use started the window (None: not used yet, or started by itself)."""
    started_by: Id | None = None
    """The event (check-in or class sign-in) whose use started it: a staff undo of that
    event puts the pass back to waiting (:meth:`PassState.unstarted`)."""

    def window_from(self, start_ms: int) -> tuple[int, int]:
        """The validity window of a pass started at ``start_ms``: (from, until) in UTC ms."""
        return start_ms, add_local_days(start_ms, self.days, self.timezone)


def first_use_terms(
    sold_ms: int, days: int, timezone: str, deadline_days: int = FIRST_USE_DEADLINE_DAYS
) -> tuple[int, int, FirstUse]:
    """(valid_from_ms, valid_until_ms, terms) of a pass sold at ``sold_ms`` to start at its
    first use: usable from the sale; until then its end is the latest it can be, the end of
    the window it gets if it starts by itself at the deadline (``deadline_days`` store-local
    days after the sale)."""
    terms = FirstUse(
        days=days,
        activate_by_ms=add_local_days(sold_ms, deadline_days, timezone),
        timezone=timezone,
    )
    return sold_ms, terms.window_from(terms.activate_by_ms)[1], terms


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
    first_use: FirstUse | None = added_later(None)
    """Set when the pass starts at its first use (:class:`FirstUse`). Left out of the JSON
    while None, so records of passes without it are byte for byte what kiosks on older
    builds accept (their models refuse unknown fields)."""

    @property
    def sessions_left(self) -> int:
        """Sessions remaining on a punch pass (negative when overdrawn offline)."""
        return self.sessions_total - self.sessions_used

    def awaiting_first_use(self, now_ms: int) -> bool:
        """True while the pass waits for the first use that starts its window: sold to
        start at first use, not used yet, and its deadline not reached."""
        terms = self.first_use
        return terms is not None and terms.started_ms is None and now_ms < terms.activate_by_ms

    def first_used(self, at_ms: int, event_id: str | None = None) -> PassState:
        """The pass after a use at ``at_ms``: a pass awaiting its first use starts its window
        there (:meth:`FirstUse.window_from`); any other pass is unchanged. The one
        activation rule: the kiosk's decision and the fold both apply it, and because the
        fold applies events in their total order, the earliest use of the pass wins (two
        kiosks starting it offline agree once both are folded)."""
        terms = self.first_use
        if terms is None or not self.awaiting_first_use(at_ms):
            return self
        start, until = terms.window_from(at_ms)
        return self.model_copy(
            update={
                "valid_from_ms": start,
                "valid_until_ms": until,
                "first_use": terms.model_copy(update={"started_ms": at_ms, "started_by": event_id}),
            }
        )

    def unstarted(self, event_id: str) -> PassState:
        """The pass after a staff undo of event ``event_id``: when that use started it, it
        waits for its first use again (its end back to the latest it can be); any other
        pass is unchanged. Its ``valid_from_ms`` stays at the undone tap (after the sale, so
        it refuses nothing a waiting pass would accept)."""
        terms = self.first_use
        if terms is None or terms.started_by is None or terms.started_by != event_id:
            return self
        return self.model_copy(
            update={
                "valid_until_ms": terms.window_from(terms.activate_by_ms)[1],
                "first_use": terms.model_copy(update={"started_ms": None, "started_by": None}),
            }
        )

    def starts_ms(self, now_ms: int) -> int | None:
        """When the validity window started or starts (None: it starts at the first use,
        which has not happened yet, by ``first_use.activate_by_ms`` at the latest)."""
        terms = self.first_use
        if terms is None:
            return self.valid_from_ms
        if terms.started_ms is not None:
            return terms.started_ms
        return None if now_ms < terms.activate_by_ms else terms.activate_by_ms

    def pause_problem(self, now_ms: int) -> str | None:
        """Why the pass cannot be frozen or extended now (None: it can): a pass awaiting its
        first use has no running window to pause or move; its clock starts at the first
        visit (or the deadline), after which both work as on any pass."""
        if self.awaiting_first_use(now_ms):
            return "pass_not_started"
        return None

    def covers(self, class_type: str | None, store_id: str | None) -> bool:
        """True when the pass is meant for this class type (None: a plain visit) and store
        (None: wherever)."""
        if store_id is not None and self.store_ids and store_id not in self.store_ids:
            return False
        return class_type is None or not self.class_types or class_type in self.class_types

    def sessions_short(self, sessions: int) -> int:
        """How many of ``sessions`` this pass cannot pay for (0 for a time pass, or when
        enough sessions are left)."""
        if self.kind is not PassKind.PUNCH or sessions <= 0:
            return 0
        return max(0, sessions - max(self.sessions_left, 0))

    def problem_at(
        self,
        now_ms: int,
        *,
        store_id: str | None = None,
        class_type: str | None = None,
        sessions: int = 1,
    ) -> RejectReason | None:
        """Why this pass cannot pay ``sessions`` for ``class_type`` in ``store_id`` at
        ``now_ms`` (None: it can). The one pass rule, for kiosk decisions, the fold's
        anomalies and the coordinator alike.

        Checked in this order: not meant for the store or class type (``NO_VALID_PASS``: a
        pass for another class is no pass for this one, frozen or not), frozen, not yet
        active, expired, too few sessions left. ``store_id``/``class_type`` None skip the
        coverage check; ``sessions=0`` skips the sessions check.
        """
        if not self.covers(class_type, store_id):
            return RejectReason.NO_VALID_PASS
        if self.frozen:
            return RejectReason.PASS_FROZEN
        if now_ms < self.valid_from_ms:
            return RejectReason.PASS_NOT_YET_ACTIVE
        if now_ms > self.valid_until_ms:
            return RejectReason.PASS_EXPIRED
        if self.sessions_short(sessions):
            return RejectReason.NO_SESSIONS_LEFT
        return None

    def is_usable(
        self, now_ms: int, *, store_id: str | None = None, class_type: str | None = None
    ) -> bool:
        """True when :meth:`problem_at` finds nothing for one session."""
        return self.problem_at(now_ms, store_id=store_id, class_type=class_type) is None


class CouponState(Frozen):
    """A single-use coupon issued to a member."""

    coupon_id: Id
    campaign_id: Id
    kind: CouponKind
    title: Text
    value: Count = 0
    """Permille off for ``discount`` (1–999), fen off for ``voucher``, 0 for ``trial``."""
    min_spend_fen: Count = added_later(0)
    """A voucher applies only to a purchase of at least this much (满减); 0: any."""
    store_ids: tuple[Id, ...] = ()
    valid_from_ms: Ms
    valid_until_ms: Ms
    redeemed_event_id: Id | None = None
    redeem_count: int = 0
    """Times redeemed; above 1 only after an offline double spend (a conflict is raised)."""

    def valid_in(self, store_id: str) -> bool:
        """True when the coupon may be used in this store."""
        return not self.store_ids or store_id in self.store_ids

    @property
    def is_used(self) -> bool:
        """Single use: True once redeemed (and not given back by a reversal or adjustment)."""
        return self.redeem_count >= 1

    @property
    def info(self) -> CouponKindInfo:
        """Names and value unit of this coupon's kind."""
        return COUPON_KINDS[self.kind]

    def describe(self) -> tuple[str, str]:
        """(zh, en) of this coupon's kind and value, e.g. ``代金券 ¥20 满¥100可用``."""
        return self.info.describe(self.value, self.min_spend_fen)

    def validity_problem(self, now_ms: int, store_id: str | None) -> RejectReason | None:
        """Why the coupon is not valid at ``now_ms`` in ``store_id`` (None: skip the store),
        whether used or not: not yet valid, expired, wrong store."""
        if now_ms < self.valid_from_ms:
            return RejectReason.COUPON_NOT_YET_VALID
        if now_ms > self.valid_until_ms:
            return RejectReason.COUPON_EXPIRED
        if store_id is not None and not self.valid_in(store_id):
            return RejectReason.COUPON_WRONG_STORE
        return None

    def problem_at(self, now_ms: int, store_id: str | None) -> RejectReason | None:
        """Why the coupon cannot be redeemed at ``now_ms`` in ``store_id`` (None: it can).

        The one coupon rule: the kiosk's decision, the coordinator's claims and every
        coupon list ask it. Checked in this order: used, not yet valid, expired, wrong
        store. (Offline limits and claims are the kiosk's context, see ``shared.decide``.)
        """
        if self.is_used:
            return RejectReason.COUPON_USED
        return self.validity_problem(now_ms, store_id)

    def is_usable(self, now_ms: int, store_id: str | None) -> bool:
        """True when :meth:`problem_at` finds nothing."""
        return self.problem_at(now_ms, store_id) is None


class PointsLot(Frozen):
    """Points earned together, expiring together. ``lot_id`` is the earning event's id."""

    lot_id: Id
    earned_ms: Ms
    expires_ms: Ms
    amount: int
    remaining: int

    def live_at(self, now_ms: int) -> bool:
        """True while the lot's points may be spent (until its expiry, exclusive)."""
        return self.expires_ms > now_ms


class TierBasis(StrEnum):
    """What a chain's tiers are earned on (``Rules.tier_basis``), within the tier window."""

    POINTS = "points"
    """Points earned (check-ins, purchases, top-ups), spent or not: the default."""
    SPEND = "spend"
    """Fen spent: purchase totals, stored-value spends outside a purchase (kiosk charges,
    drop-ins, passes paid from stored value) and pass sales/extensions paid another way."""
    TOPUPS = "topups"
    """Principal paid into stored value (top-ups' ``paid_fen``, bonus excluded), less refunds."""


class MoneyMark(Frozen):
    """Money one fact put in, as tiers may count it (``Rules.tier_basis``); kept as long as
    points lots so a tier window can look back at it."""

    at_ms: Ms
    spend_fen: Annotated[int, Field(ge=0, le=10**9)] = 0
    topup_fen: Annotated[int, Field(ge=-(10**9), le=10**9)] = 0
    """Negative for a refund of principal."""


class SignIn(Frozen):
    """A class sign-in remembered so that a second tap never deducts twice."""

    class_session_id: Id
    pass_id: Id | None
    event_id: Id
    at_ms: Ms


class LedgerBalances(Frozen):
    """A member's balances folded from events (points, passes, coupons, visits) and every
    balance rule: :class:`MemberLedger` without its sign-in memory.

    Readers that never ask about sign-ins (the reports) parse a stored ledger as this: its
    sign-ins are skipped, not validated (a class regular's ledger is mostly sign-ins).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    points_lots: tuple[PointsLot, ...] = ()
    points_debt: Count = 0
    """Points redeemed beyond what was available (offline overdraw); paid from new earnings."""
    passes: tuple[PassState, ...] = ()
    coupons: tuple[CouponState, ...] = ()
    last_checkin_ms: Ms | None = None
    last_reward_day: str | None = None
    """Store-local date (YYYY-MM-DD) of the last check-in that earned points."""
    checkins: Count = 0
    points_earned_total: Count = 0
    stored_value: StoredValue = added_later(StoredValue())
    """Stored value (储值): principal and bonus, folded from money events."""
    money_marks: tuple[MoneyMark, ...] = added_later(())
    """Spend and top-ups by fact, for tiers earned on money (``Rules.tier_basis``)."""

    def points_held(self, now_ms: int) -> int:
        """Points left in lots still live at ``now_ms`` (before any debt)."""
        # PointsLot.live_at, inlined: every tap sums every lot, and a ledger may hold hundreds
        # (tests/shared/test_rules.py holds the two to the same answer).
        return sum(lot.remaining for lot in self.points_lots if lot.expires_ms > now_ms)

    def points_available(self, now_ms: int) -> int:
        """Spendable points at ``now_ms``: unexpired lots minus any debt (negative after an
        offline overdraw)."""
        return self.points_held(now_ms) - self.points_debt

    def can_spend(self, points: int, now_ms: int) -> bool:
        """True when ``points`` may be spent at ``now_ms``."""
        return self.points_available(now_ms) >= points

    def points_expiring(self, now_ms: int, until_ms: int) -> int:
        """Points live at ``now_ms`` whose lots expire by ``until_ms``."""
        # Live at now_ms, not at until_ms (PointsLot.live_at, inlined as in points_held).
        return sum(lot.remaining for lot in self.points_lots if now_ms < lot.expires_ms <= until_ms)

    def points_earned_since(self, since_ms: int) -> int:
        """Points earned (check-in lots) from ``since_ms`` on, spent or not: what tiers count."""
        return sum(lot.amount for lot in self.points_lots if lot.earned_ms >= since_ms)

    def spend_since(self, since_ms: int) -> int:
        """Fen spent from ``since_ms`` on (:attr:`TierBasis.SPEND`)."""
        return sum(m.spend_fen for m in self.money_marks if m.at_ms >= since_ms)

    def topups_since(self, since_ms: int) -> int:
        """Principal topped up from ``since_ms`` on, less refunds, never below 0
        (:attr:`TierBasis.TOPUPS`)."""
        return max(0, sum(m.topup_fen for m in self.money_marks if m.at_ms >= since_ms))

    def find_pass(self, pass_id: str) -> PassState | None:
        """The pass with this id, or None."""
        return next((p for p in self.passes if p.pass_id == pass_id), None)

    def find_coupon(self, coupon_id: str) -> CouponState | None:
        """The coupon with this id, or None."""
        return next((c for c in self.coupons if c.coupon_id == coupon_id), None)


class MemberLedger(LedgerBalances):
    """Everything the ledger knows about one member, folded from events: the balances and
    the class sign-ins remembered so that a second tap never deducts twice."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    signins: tuple[SignIn, ...] = ()


class DeviceKey(Frozen):
    """A member's phone that signs its own QR codes (``shared.phonecode``): its public key.

    Kiosks hold public keys only, never a secret a stolen kiosk could leak. A revoked device
    stays listed for a while so a kiosk can say "this phone was removed" instead of
    "unknown".
    """

    device_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,16}$")]
    public_key: Annotated[str, StringConstraints(min_length=43, max_length=44)]
    """Raw Ed25519 public key, urlsafe base64 (32 bytes)."""
    revoked_ms: Ms | None = None


class MemberRecord(Frozen):
    """A member as a kiosk caches it: masked identity, credentials and folded ledger."""

    member_id: Id
    display_name: Text
    """Already masked for kiosk screens (e.g. ``李*华``, ``Anna L.``); never a full name."""
    tier: Id = "basic"
    status: MemberStatus = MemberStatus.ACTIVE
    cards: tuple[Uid, ...] = ()
    lang: Annotated[str, StringConstraints(pattern=r"^(zh|en)$")] = "zh"
    devices: tuple[DeviceKey, ...] = added_later(())
    """Phones that sign this member's codes (active ones and recently revoked ones)."""
    ledger: MemberLedger = MemberLedger()


class TierRule(Frozen):
    """A tier reached by earning ``min_points_earned`` within the rule bundle's tier window."""

    name: Id
    min_points_earned: Count
    multiplier_permille: Annotated[int, Field(ge=0, le=100_000)] = 1000
    """Points multiplier in thousandths (1500 = 1.5x), for check-ins and purchases."""
    discount_permille: Annotated[int, Field(ge=0, le=999)] = added_later(0)
    """Thousandths off every purchase for members of this tier (50 = 5 % off)."""
    title_zh: Text = ""
    title_en: Text = ""


class MemberDay(Frozen):
    """A member day (会员日): check-in points multiplied on a weekday or a date, store-local.

    It is in the rules, so a kiosk applies it offline like any other reward rule.
    """

    name_zh: Text = "会员日"
    name_en: Text = "Member day"
    weekdays: tuple[Annotated[int, Field(ge=1, le=7)], ...] = ()
    """ISO weekdays: 1 Monday ... 7 Sunday."""
    dates: tuple[Annotated[str, StringConstraints(pattern=r"^(\d{4}-)?\d{2}-\d{2}$")], ...] = ()
    """``MM-DD`` every year, or one ``YYYY-MM-DD``."""
    multiplier_permille: Annotated[int, Field(ge=1000, le=10_000)] = 2000
    """Points multiplier in thousandths (2000 = double points), on top of the tier's."""

    def applies_on(self, day: str) -> bool:
        """True on the store-local date ``day`` (``YYYY-MM-DD``)."""
        if day in self.dates or day[5:] in self.dates:
            return True
        return bool(self.weekdays) and date.fromisoformat(day).isoweekday() in self.weekdays


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
    class_seat_share_permille: Annotated[int, Field(ge=0, le=1000)] = added_later(1000)
    """Share of a class's capacity split among the store's kiosks as seats each may fill
    before the coordinator confirms them (``shared.seats``). Lower: a tighter bound on a
    class going over while kiosks are offline, fewer walk-ins admitted offline."""

    def coupon_offline_store(self, coupon: CouponState) -> str | None:
        """The one store whose kiosks may redeem ``coupon`` without a coordinator claim, or
        None when every redemption needs one.

        The offline half of the coupon rule, for the kiosk's decision
        (``shared.decide.coupon_needs_claim``) and the worst case
        (``shared.limits.worst_case_coupon_extra_uses``) alike: only under ``store_scoped``,
        and only a coupon valid in exactly one store.
        """
        if self.coupon_policy is CouponPolicy.STORE_SCOPED and len(coupon.store_ids) == 1:
            return coupon.store_ids[0]
        return None


Penalty = Literal["none", "deduct_session", "strike"]


class BookingRules(Frozen):
    """Chain settings for class bookings (``shared.booking``)."""

    cancel_cutoff_min: Annotated[int, Field(ge=0, le=7 * 1440)] = 120
    """A booking cancelled later than this before the start is a late cancellation, and from
    then on a freed seat is not given to the waitlist (no surprise bookings)."""
    opens_days: Annotated[int, Field(ge=1, le=60)] = 14
    """How far ahead a session can be booked."""
    late_cancel_penalty: Penalty = "strike"
    """What a late cancellation costs: nothing, a session of the pass, or a strike."""
    no_show_penalty: Penalty = "strike"


class Reward(Frozen):
    """Something a member can buy with points at the kiosk."""

    reward_id: Id
    title_zh: Text
    title_en: Text
    points_cost: Annotated[int, Field(ge=1, le=10**7)]


class SeatAllocation(Frozen):
    """Seats of a class one kiosk may fill before the coordinator confirms them
    (``shared.seats``: capacity held within a computed bound while kiosks are offline)."""

    kiosk_id: Id
    seats: Count


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
    """The coach teaching it (staff id or name)."""
    room: Id | None = None
    """The room it is held in: a door station enrolled for that room signs students into it."""
    slot_id: Id | None = added_later(None)
    """The weekly timetable slot it was expanded from (``shared.timetable``), if any."""
    drop_in_price_fen: Count = added_later(0)
    """What a walk-in without a pass pays for this session, in fen."""
    seats: tuple[SeatAllocation, ...] = added_later(())
    """Per-kiosk seat allocations; empty: capacity is not enforced at kiosks."""
    booked: tuple[Id, ...] = added_later(())
    """Members holding a booking: always admitted, their seats kept from walk-ins."""

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


class SignupGift(Frozen):
    """The coupon a member who signs up alone (the store's sign-up poster) receives."""

    campaign_id: Id = "signup-gift"
    title: Text
    kind: CouponKind = CouponKind.VOUCHER
    value: Count = 0
    """As ``CouponState.value``: percent off, fen, or 0 for a trial."""
    valid_days: Annotated[int, Field(ge=1, le=3650)] = 30
    home_store_only: bool = False
    """True: valid only in the store whose poster the member scanned (offline-redeemable
    under the ``store_scoped`` coupon policy); False: every store."""


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
    tier_basis: TierBasis = added_later(TierBasis.POINTS)
    """What tiers count within the window: points, fen spent or fen topped up. Each tier's
    ``min_points_earned`` is its threshold in that unit (fen for ``spend`` and ``topups``)."""
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
    money: MoneyRules = added_later(MoneyRules())
    """Stored value: top-up tiers, the member cap, spend order and offline limits."""
    booking: BookingRules = added_later(BookingRules())
    qr_token_ttl_s: Annotated[int, Field(ge=5, le=3600)] = 60
    qr_clock_skew_s: Annotated[int, Field(ge=0, le=3600)] = 30
    undo_window_s: Annotated[int, Field(ge=0, le=3600)] = 120
    clock_skew_flag_s: Annotated[int, Field(ge=1, le=10**7)] = 300
    """Events whose kiosk wall clock is further than this from the coordinator's are flagged."""
    signup_gift: SignupGift | None = added_later(None)
    """The registration gift of self sign-up (None: no gift)."""
    member_days: Annotated[tuple[MemberDay, ...], Field(max_length=50)] = added_later(())
    """Days with multiplied check-in points; when several apply, the highest counts."""
    automations: Annotated[tuple[Automation, ...], Field(max_length=100)] = added_later(())
    """Engagement run centrally (birthday gifts, reminders, win-back): :mod:`shared.engage`."""

    def tier(self, name: str) -> TierRule:
        """The tier rule with this name, or the lowest tier when unknown."""
        for rule in self.tiers:
            if rule.name == name:
                return rule
        return self.lowest_tier()

    def member_day(self, day: str) -> MemberDay | None:
        """The member day in force on store-local ``day`` (the highest multiplier), or None."""
        found = [d for d in self.member_days if d.applies_on(day)]
        return max(found, key=lambda d: d.multiplier_permille) if found else None

    def checkin_points(self, tier: str, day: str) -> int:
        """Points a check-in earns for a member of ``tier`` on store-local ``day``: the base,
        times the tier's multiplier, times the member day's (rounded down once)."""
        member_day = self.member_day(day)
        day_permille = member_day.multiplier_permille if member_day is not None else 1000
        permille = self.tier(tier).multiplier_permille * day_permille
        return self.points_per_checkin * permille // 1_000_000

    def lowest_tier(self) -> TierRule:
        """The tier with the smallest threshold (the first of equals)."""
        return min(self.tiers, key=lambda t: t.min_points_earned)

    def tier_reached(self, ledger: MemberLedger, now_ms: int) -> TierRule:
        """The tier a member holds at ``now_ms``: the highest threshold reached by the points
        *earned* (or the fen spent or topped up, per :attr:`tier_basis`) within the tier
        window, else the lowest tier.

        Tiers follow earnings, not the spendable balance: redeeming points never demotes a
        member, and a member who stops earning drifts down as old earnings leave the window.
        """
        earned = self.tier_earned(ledger, now_ms)
        return _highest_reached(self.tiers, earned) or self.lowest_tier()

    def tier_earned(self, ledger: MemberLedger, now_ms: int) -> int:
        """What tiers count within the window ending at ``now_ms``: points earned, or fen
        spent or topped up (:attr:`tier_basis`)."""
        since = now_ms - self.tier_window_days * DAY_MS
        if self.tier_basis is TierBasis.SPEND:
            return ledger.spend_since(since)
        if self.tier_basis is TierBasis.TOPUPS:
            return ledger.topups_since(since)
        return ledger.points_earned_since(since)

    def next_tier(self, current: TierRule) -> TierRule | None:
        """The tier with the next higher threshold above ``current`` (None at the top)."""
        higher = [t for t in self.tiers if t.min_points_earned > current.min_points_earned]
        return min(higher, key=lambda t: t.min_points_earned) if higher else None


def _highest_reached(tiers: Iterable[TierRule], earned: int) -> TierRule | None:
    best: TierRule | None = None
    for rule in tiers:
        if earned >= rule.min_points_earned and (
            best is None or rule.min_points_earned > best.min_points_earned
        ):
            best = rule
    return best


PERMILLE_MAX = 1000
"""100 %: a commission may never exceed the sale."""


class CommissionRule(Frozen):
    """What staff earn for a catalogue sale: a permille of the price, and/or a fixed amount
    per card opened. ``product_id`` None is the chain's (or store's) default rule."""

    product_id: Id | None = None
    permille: Annotated[int, Field(ge=0)] = 0
    fixed_fen: Count = 0

    @field_validator("permille")
    @classmethod
    def _at_most_the_sale(cls, value: int) -> int:
        if value > PERMILLE_MAX:
            raise ValueError(
                f"a commission of {value} permille is over 100 % of the sale; "
                f"give at most {PERMILLE_MAX}"
            )
        return value


def commission_fen(rules: Iterable[CommissionRule], product_id: str, price_fen: int) -> int:
    """The commission on one sale: the product's own rule, else the default rule, else none.
    Integer fen, rounded down (the permille part), plus the fixed amount."""
    listed = list(rules)
    rule = next((r for r in listed if r.product_id == product_id), None) or next(
        (r for r in listed if r.product_id is None), None
    )
    if rule is None:
        return 0
    return price_fen * rule.permille // PERMILLE_MAX + rule.fixed_fen


class StaffPin(Frozen):
    """A staff member's kiosk PIN, as a hash (:mod:`shared.password_hash`; never the PIN):
    a PIN login at a kiosk of ``store_id`` records ``staff_id`` on what follows."""

    staff_id: Id
    store_id: Id
    pin_hash: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    role: Annotated[str, StringConstraints(max_length=20)] = ""
    """``front_desk`` or ``coach`` (a coach sees only their own classes' rosters); empty in
    bundles published before roles were sent."""


class StaffCard(Frozen):
    """A staff member's NFC staff card, as a keyed hash of its UID (:mod:`shared.staff_cards`;
    never the UID): tapping it at a kiosk of ``store_id`` signs ``staff_id`` in, the same as
    their own PIN."""

    staff_id: Id
    store_id: Id
    card_hash: Annotated[str, StringConstraints(pattern=CARD_HASH_PATTERN)]
    role: Annotated[str, StringConstraints(max_length=20)] = ""
    """``front_desk`` or ``coach``, as on :class:`StaffPin`."""


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
    staff: tuple[StaffPin, ...] = added_later(())
    """Kiosk PIN hashes of the staff of the bundle's stores (filled at publication)."""
    commission: tuple[CommissionRule, ...] = added_later(())
    """Commission rules of catalogue sales (per product, or a default)."""
    staff_cards: tuple[StaffCard, ...] = added_later(())
    """Staff card hashes of the staff of the bundle's stores (filled at publication)."""

    def for_store(self, store_id: str) -> RuleBundle:
        """The bundle as a kiosk of ``store_id`` receives it: only that store's staff PIN and
        card hashes (a short PIN's hash is cheap to brute-force, so a stolen kiosk must not
        hold another store's)."""
        pins = self.staff_pins(store_id)
        cards = self.staff_card_hashes(store_id)
        if pins == self.staff and cards == self.staff_cards:
            return self
        return self.model_copy(update={"staff": pins, "staff_cards": cards})

    def staff_card_hashes(self, store_id: str) -> tuple[StaffCard, ...]:
        """The staff cards a kiosk of ``store_id`` accepts."""
        return tuple(c for c in self.staff_cards if c.store_id == store_id)

    def staff_pins(self, store_id: str) -> tuple[StaffPin, ...]:
        """The PINs a kiosk of ``store_id`` accepts."""
        return tuple(p for p in self.staff if p.store_id == store_id)

    def sees_class(self, staff_id: str, session: ClassSession) -> bool:
        """Whether ``staff_id`` may see ``session``'s roster: a coach of the session's store
        sees only the classes they teach; everyone else every class of the store."""
        coach = any(
            p.staff_id == staff_id and p.role == "coach" for p in self.staff_pins(session.store_id)
        ) or any(
            c.staff_id == staff_id and c.role == "coach"
            for c in self.staff_card_hashes(session.store_id)
        )
        return not coach or session.instructor == staff_id

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
