"""Ledger events: the immutable facts both sides append and fold.

Every event carries ``(kiosk_id, seq)`` (gapless per source), a globally unique
``event_id`` and a hybrid logical clock timestamp. Kiosks produce member-facing facts
(check-ins, class sign-ins, redemptions, rejections, staff reversals); the coordinator
produces its own facts under the source id ``hq`` (passes sold, coupons issued, points
expired, audited adjustments). Balances anywhere are a fold of these events.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from shared.hlc import HLC
from shared.model import (
    Count,
    CouponState,
    Frozen,
    Id,
    Ms,
    PassState,
    Text,
    Uid,
    added_later,
)
from shared.money import Fen, PaymentMethod, SpendOrder

HQ_SOURCE = "hq"
"""Source id of events the coordinator itself records."""

EventId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class PurchaseMethod(StrEnum):
    """How a purchase was paid: from stored value, or one of the payment methods."""

    STORED_VALUE = "stored_value"
    CASH = "cash"
    CARD = "card"
    WECHAT = "wechat"
    ALIPAY = "alipay"
    EXTERNAL = "external"


class CredentialKind(StrEnum):
    """How the member identified themselves."""

    CARD = "card"
    QR = "qr"
    STAFF = "staff"
    """Staff looked the member up and acted on their behalf."""


class CredentialRef(Frozen):
    """What identified the member: the card UID, or the QR token's key id and nonce."""

    kind: CredentialKind
    uid: Uid | None = None
    qr_nonce: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,32}$")] | None = None
    qr_key_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,16}$")] | None = None
    staff_id: Id | None = None


class StationRef(Frozen):
    """The door station a tap came through (a station is an input of its kiosk)."""

    station_id: Id
    tap_no: Annotated[int, Field(ge=1, le=2**53)]
    """The tap's number at the station (each is recorded once per station)."""
    read_ms: Ms
    """When the station read the card, on the kiosk's clock: the event's own time for a
    live tap, earlier for one buffered while the kiosk was unreachable."""


class CheckIn(Frozen):
    """A visit. ``points`` is the reward decided at the kiosk (0 when already rewarded today)."""

    kind: Literal["checkin"] = "checkin"
    points: Count = 0
    reward_day: str | None = None
    points_expires_ms: Ms | None = None
    first_use_of: Id | None = added_later(None)
    """The time pass this visit started (its first use, :meth:`PassState.first_used`);
    None for every other visit. Left out of the JSON while None, so a check-in that starts
    no pass is byte for byte what older builds write and accept."""


class ClassSignIn(Frozen):
    """A student signed in to a class; a punch pass pays one session, a time pass nothing."""

    kind: Literal["class_signin"] = "class_signin"
    class_session_id: Id
    class_type: Id
    pass_id: Id | None
    """None: a drop-in paid from stored value (the linked ``sv_spend`` of the same decision
    has purpose ``drop-in <class_session_id>``)."""
    sessions: Annotated[int, Field(ge=0, le=1)] = 1


class PointsRedeem(Frozen):
    """Points spent on a reward."""

    kind: Literal["points_redeem"] = "points_redeem"
    points: Annotated[int, Field(ge=1, le=10**7)]
    reward_id: Id | None = None


class CouponRedeem(Frozen):
    """A single-use coupon used. ``claim_id`` is set when the coordinator granted it online."""

    kind: Literal["coupon_redeem"] = "coupon_redeem"
    coupon_id: Id
    claim_id: Id | None = None


class Rejected(Frozen):
    """A tap or request refused at the kiosk (kept for audit and rejection-rate alerts)."""

    kind: Literal["rejected"] = "rejected"
    reason: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")]
    detail: Text = ""


class Reversal(Frozen):
    """Staff undid an earlier event of the same kiosk (within the undo window).

    The effects to undo are copied from the original so that the fold needs no lookup.
    """

    kind: Literal["reversal"] = "reversal"
    target_event_id: EventId
    target_kind: Literal["checkin", "class_signin", "points_redeem", "coupon_redeem"]
    staff_id: Id
    points: Count = 0
    """Points to take back (check-in) or give back (redemption)."""
    pass_id: Id | None = None
    sessions: Annotated[int, Field(ge=0, le=1)] = 0
    """Sessions to give back (class sign-in on a punch pass)."""
    class_session_id: Id | None = None
    coupon_id: Id | None = None
    points_expires_ms: Ms | None = None


class Adjustment(Frozen):
    """An audited correction by a named staff user (e.g. resolving a conflict)."""

    kind: Literal["adjustment"] = "adjustment"
    staff_user: Id
    reason: Text
    conflict_id: Id | None = None
    points_delta: Annotated[int, Field(ge=-(10**7), le=10**7)] = 0
    points_expires_ms: Ms | None = None
    pass_id: Id | None = None
    sessions_delta: Annotated[int, Field(ge=-1000, le=1000)] = 0
    coupon_id: Id | None = None
    coupon_uses_delta: Annotated[int, Field(ge=-10, le=10)] = 0
    """Change to the coupon's use count: -1 gives one use back (e.g. a double spend forgiven)."""
    principal_delta_fen: Annotated[int, Field(ge=-(10**9), le=10**9)] = 0
    """Change to the stored value's principal: > 0 forgives an overdraw."""


class PassIssue(Frozen):
    """A pass sold or granted to the member."""

    kind: Literal["pass_issue"] = "pass_issue"
    pass_state: PassState
    payment_method: PurchaseMethod | None = None
    """How its price was paid (None: not recorded, or granted); ``stored_value``: an
    ``sv_spend`` of the price was recorded with it."""


class PassUpdate(Frozen):
    """A pass frozen, unfrozen, extended or topped up at HQ."""

    kind: Literal["pass_update"] = "pass_update"
    pass_id: Id
    staff_user: Id
    frozen: bool | None = None
    valid_until_ms: Ms | None = None
    sessions_total: Count | None = None
    price_fen: Count = 0
    """What the member paid for this extension or session top-up (会员充次); 0: free."""
    payment_method: PurchaseMethod | None = None
    """How ``price_fen`` was paid; ``stored_value``: an ``sv_spend`` of it was recorded with
    it (so revenue counts it when the value was topped up, not again here)."""


class CouponIssue(Frozen):
    """A coupon issued to the member (by a campaign or by staff)."""

    kind: Literal["coupon_issue"] = "coupon_issue"
    coupon: CouponState


class PointsExpire(Frozen):
    """A points lot reached its expiry; whatever remains of it is gone."""

    kind: Literal["points_expire"] = "points_expire"
    lot_id: Id


class StoredValueTopUp(Frozen):
    """Money paid into the member's stored value (online only: HQ, a store or the front desk),
    with the bonus the top-up rule in force gave."""

    kind: Literal["sv_topup"] = "sv_topup"
    paid_fen: Fen
    bonus_fen: Annotated[int, Field(ge=0, le=10**9)] = 0
    bonus_expires_ms: Ms | None = None
    method: PaymentMethod
    staff_user: Id
    reference: Text = ""
    """The payment's own reference (a POS slip, a WeChat Pay transaction id)."""
    points: Count = 0
    """Points the top-up earned (``Rules.money.points_per_topup_yuan``)."""
    points_expires_ms: Ms | None = None


class StoredValueSpend(Frozen):
    """Stored value spent (at a kiosk, online or offline, or by a purchase at HQ).

    ``order`` is the rule in force when it was decided, so the fold needs no rules."""

    kind: Literal["sv_spend"] = "sv_spend"
    amount_fen: Fen
    order: SpendOrder = SpendOrder.BONUS_FIRST
    purpose: Text = ""
    purchase_id: Id | None = None
    staff_id: Id | None = None


class StoredValueRefund(Frozen):
    """Principal paid back to the member: an audited HQ action, never more than principal."""

    kind: Literal["sv_refund"] = "sv_refund"
    amount_fen: Fen
    method: PaymentMethod
    staff_user: Id
    reason: Text


class BonusExpire(Frozen):
    """A top-up's bonus reached its expiry; whatever remains of it is gone."""

    kind: Literal["sv_bonus_expire"] = "sv_bonus_expire"
    lot_id: Id


class Purchase(Frozen):
    """A purchase at a store (a POS, the front desk): its price breakdown and payment.

    Its own effect is the points it earned; the coupon it used and the stored value it took
    are recorded as their own facts (``coupon_redeem``, ``sv_spend`` with ``purchase_id``)
    in the same transaction, so each balance has one kind of fact."""

    kind: Literal["purchase"] = "purchase"
    purchase_id: Id
    list_fen: Annotated[int, Field(ge=0, le=10**9)]
    tier_discount_fen: Annotated[int, Field(ge=0, le=10**9)] = 0
    coupon_id: Id | None = None
    coupon_off_fen: Annotated[int, Field(ge=0, le=10**9)] = 0
    total_fen: Annotated[int, Field(ge=0, le=10**9)]
    method: PurchaseMethod
    stored_value_fen: Annotated[int, Field(ge=0, le=10**9)] = 0
    points: Count = 0
    points_expires_ms: Ms | None = None
    staff_user: Id


EventBody = Annotated[
    CheckIn
    | ClassSignIn
    | PointsRedeem
    | CouponRedeem
    | Rejected
    | Reversal
    | Adjustment
    | PassIssue
    | PassUpdate
    | CouponIssue
    | PointsExpire
    | StoredValueTopUp
    | StoredValueSpend
    | StoredValueRefund
    | BonusExpire
    | Purchase,
    Field(discriminator="kind"),
]

KIOSK_KINDS = frozenset(
    {
        "checkin",
        "class_signin",
        "points_redeem",
        "coupon_redeem",
        "rejected",
        "reversal",
        "sv_spend",
    }
)
"""Event kinds a kiosk may record; the coordinator refuses others from a kiosk."""

REVERSIBLE_KINDS = frozenset({"checkin", "class_signin", "points_redeem", "coupon_redeem"})


class Event(Frozen):
    """One immutable ledger fact with its identity and ordering evidence."""

    event_id: EventId
    kiosk_id: Id
    """Source: a kiosk id, or ``hq`` for the coordinator's own events."""
    store_id: Id | None = None
    seq: Annotated[int, Field(ge=1, le=2**62)]
    hlc_ms: Ms
    hlc_c: Annotated[int, Field(ge=0, le=2**31)] = 0
    wall_ms: Ms
    """The source's wall clock when the event was recorded: evidence, not order."""
    member_id: Id | None = None
    offline: bool = False
    rules_version: Annotated[int, Field(ge=0)] = 0
    credential: CredentialRef | None = None
    station: StationRef | None = None
    """Set when the tap came through a door station of this kiosk."""
    body: EventBody

    @property
    def hlc(self) -> HLC:
        """The event's hybrid logical timestamp."""
        return HLC(self.hlc_ms, self.hlc_c)

    @property
    def kind(self) -> str:
        """The body's kind."""
        return self.body.kind

    def sort_key(self) -> tuple[int, int, str, int]:
        """Total order used by every fold across sources: HLC, then source, then seq."""
        return (self.hlc_ms, self.hlc_c, self.kiosk_id, self.seq)


def session_delta(event: Event) -> tuple[str | None, int]:
    """(pass_id, sessions deducted) by this event; negative when sessions are given back."""
    body = event.body
    if isinstance(body, ClassSignIn):
        return body.pass_id, body.sessions
    if isinstance(body, Reversal) and body.target_kind == "class_signin":
        return body.pass_id, -body.sessions
    if isinstance(body, Adjustment) and body.pass_id:
        return body.pass_id, -body.sessions_delta
    return None, 0


def points_spent(event: Event) -> int:
    """Points this event spends (negative when it gives points back)."""
    body = event.body
    if isinstance(body, PointsRedeem):
        return body.points
    if isinstance(body, Reversal) and body.target_kind == "points_redeem":
        return -body.points
    return 0


def stored_value_spent(event: Event) -> int:
    """Fen of stored value this event spends (0 for every other kind)."""
    body = event.body
    return body.amount_fen if isinstance(body, StoredValueSpend) else 0
