"""What the kiosk screen is told: typed JSON views built from ledger outcomes.

Pure functions from ledger values (and the rule bundle's time zone) to pydantic models the
UI API returns and pushes. Times reach the screen already in store-local time; the page
never has to know the time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from device.ledger import ClassRoster, MemberSummary, RecentEvent, TapOutcome
from shared.decide import Accepted, NeedsClaim, Refused
from shared.events import (
    CheckIn,
    ClassSignIn,
    CouponRedeem,
    PointsRedeem,
    Rejected,
    Reversal,
)
from shared.model import CouponKind, CouponState, PassKind, PassState, Reward, RuleBundle
from shared.reasons import RejectReason, messages

DEFAULT_TZ = "Asia/Shanghai"

IDENTIFIED_REFUSALS = frozenset(
    {
        RejectReason.ALREADY_CHECKED_IN,
        RejectReason.ALREADY_SIGNED_IN,
        RejectReason.NO_VALID_PASS,
        RejectReason.PASS_EXPIRED,
        RejectReason.PASS_NOT_YET_ACTIVE,
        RejectReason.PASS_FROZEN,
        RejectReason.NO_SESSIONS_LEFT,
        RejectReason.OUTSIDE_SIGNIN_WINDOW,
        RejectReason.OFFLINE_LIMIT_REACHED,
        RejectReason.OFFLINE_TOO_LONG,
    }
)
"""Refusals after which the member was still identified (their credential is fine), so
they may still redeem points or coupons in a member session."""


Source = Literal["card", "qr", "screen", "staff"]
"""Where a request came from: a card tap, a QR scan, the member screen, or staff."""


class View(BaseModel):
    """Base of every UI view: immutable, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_time(ms: int | None, tz: str, fmt: str = "%Y-%m-%d %H:%M") -> str | None:
    """``ms`` (UTC epoch ms) formatted in the store's time zone, or None."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(_zone(tz)).strftime(fmt)


def bundle_tz(bundle: RuleBundle | None) -> str:
    """The store time zone of the rules in force (the default before any bundle arrived)."""
    return bundle.rules.timezone if bundle is not None else DEFAULT_TZ


class PassView(View):
    """A punch or time pass."""

    pass_id: str
    name: str
    kind: PassKind
    sessions_left: int | None
    valid_until: str | None
    """Store-local date."""
    starts_by: str | None = None
    """Set while the pass waits for its first use (not activated): the store-local date it
    starts by itself at the latest; ``valid_until`` is then the latest end it can have."""


class CouponView(View):
    """A member's unused coupon."""

    coupon_id: str
    title: str
    kind: CouponKind
    kind_zh: str
    """What it gives, in the words of its kind (``shared.model.COUPON_KINDS``)."""
    kind_en: str
    valid_until: str | None
    usable: bool
    """False when expired, not yet valid or not valid in this store (shown greyed out)."""


class RewardView(View):
    """A reward from the bundle's catalogue."""

    reward_id: str
    title_zh: str
    title_en: str
    points_cost: int
    affordable: bool


class MemberCard(View):
    """The member as the screen shows them: masked name and balances, nothing more."""

    display_name: str
    tier: str
    tier_title_zh: str
    tier_title_en: str
    points_balance: int
    checkins: int
    stored_value_fen: int = 0
    """Stored value (储值) available, fen."""


class TapView(View):
    """The result of a tap or a redemption, as pushed to the member screen."""

    outcome: Literal["accepted", "refused"]
    action: str | None = None
    """checkin, class_signin, points_redeem, coupon_redeem, reversal or sv_spend."""
    reason: str | None = None
    message_zh: str = ""
    message_en: str = ""
    lang: Literal["zh", "en"] = "zh"
    member: MemberCard | None = None
    points_earned: int = 0
    points_spent: int = 0
    pass_info: PassView | None = None
    class_title_zh: str | None = None
    class_title_en: str | None = None
    class_starts: str | None = None
    """Store-local HH:MM."""
    reward_title_zh: str | None = None
    reward_title_en: str | None = None
    coupon_title: str | None = None
    sv_charged_fen: int = 0
    """Stored value a staff charge took."""
    class_not_covered_zh: str | None = None
    """A class open for sign-in that the member holds no pass for (they were checked in)."""
    class_not_covered_en: str | None = None
    session_token: str | None = None
    """Member session for redemptions on screen (only on the tap that opened it)."""
    session_s: float | None = None
    source: Source = "card"
    event_ids: tuple[str, ...] = ()


def _tier_titles(bundle: RuleBundle | None, tier: str) -> tuple[str, str]:
    if bundle is None:
        return tier, tier
    rule = bundle.rules.tier(tier)
    return rule.title_zh or rule.name, rule.title_en or rule.name


def member_card(
    summary: MemberSummary, bundle: RuleBundle | None, *, points_balance: int | None = None
) -> MemberCard:
    """The screen's view of a member summary."""
    zh, en = _tier_titles(bundle, summary.tier)
    return MemberCard(
        display_name=summary.display_name,
        tier=summary.tier,
        tier_title_zh=zh,
        tier_title_en=en,
        points_balance=summary.points_balance if points_balance is None else points_balance,
        checkins=summary.checkins,
        stored_value_fen=summary.stored_value_fen,
    )


def pass_view(p: PassState, tz: str, now_ms: int | None = None) -> PassView:
    """A pass with its expiry as a store-local date (and, given ``now_ms``, the date it
    starts by when it still waits for its first use)."""
    waiting = p.first_use is not None and now_ms is not None and p.awaiting_first_use(now_ms)
    return PassView(
        pass_id=p.pass_id,
        name=p.name,
        kind=p.kind,
        sessions_left=p.sessions_left if p.kind is PassKind.PUNCH else None,
        valid_until=local_time(p.valid_until_ms, tz, "%Y-%m-%d"),
        starts_by=(
            local_time(p.first_use.activate_by_ms, tz, "%Y-%m-%d")
            if waiting and p.first_use is not None
            else None
        ),
    )


def coupon_view(c: CouponState, tz: str, store_id: str, now_ms: int) -> CouponView:
    """A coupon, marked usable when it may be redeemed here and now."""
    kind_zh, kind_en = c.describe()
    return CouponView(
        coupon_id=c.coupon_id,
        title=c.title,
        kind=c.kind,
        kind_zh=kind_zh,
        kind_en=kind_en,
        valid_until=local_time(c.valid_until_ms, tz, "%Y-%m-%d"),
        usable=c.is_usable(now_ms, store_id),
    )


def reward_views(bundle: RuleBundle | None, balance: int) -> list[RewardView]:
    """The reward catalogue, cheapest first, marked affordable for ``balance``."""
    rewards: tuple[Reward, ...] = bundle.rewards if bundle is not None else ()
    return [
        RewardView(
            reward_id=r.reward_id,
            title_zh=r.title_zh,
            title_en=r.title_en,
            points_cost=r.points_cost,
            affordable=r.points_cost <= balance,
        )
        for r in sorted(rewards, key=lambda r: (r.points_cost, r.reward_id))
    ]


def refusal_view(
    reason: RejectReason, lang: str, *, member: MemberCard | None = None, source: Source = "card"
) -> TapView:
    """A refusal that was not (or could not be) decided by the ledger, e.g. a bad QR code."""
    zh, en = messages(reason)
    return TapView(
        outcome="refused",
        reason=reason.value,
        message_zh=zh,
        message_en=en,
        lang="en" if lang == "en" else "zh",
        member=member,
        source=source,
    )


def tap_view(
    outcome: TapOutcome,
    bundle: RuleBundle | None,
    *,
    default_lang: str,
    source: Source,
) -> TapView:
    """The screen's view of a ledger outcome (accepted or refused; never NeedsClaim)."""
    decision = outcome.decision
    if isinstance(decision, NeedsClaim):
        raise ValueError("a NeedsClaim decision is not shown; claim the coupon first")
    tz = bundle_tz(bundle)
    summary = outcome.member
    lang = summary.lang if summary is not None else default_lang
    lang = "en" if lang == "en" else "zh"
    event_ids = tuple(e.event_id for e in outcome.events if not isinstance(e.body, Rejected))
    if isinstance(decision, Refused):
        card = member_card(summary, bundle) if summary is not None else None
        return TapView(
            outcome="refused",
            reason=decision.reason.value,
            message_zh=decision.message_zh,
            message_en=decision.message_en,
            lang=lang,
            member=card,
            source=source,
        )
    assert isinstance(decision, Accepted)
    result = decision.result
    card = MemberCard(
        display_name=result.display_name,
        tier=result.tier,
        tier_title_zh=_tier_titles(bundle, result.tier)[0],
        tier_title_en=_tier_titles(bundle, result.tier)[1],
        points_balance=result.points_balance,
        checkins=result.checkins,
        stored_value_fen=(
            result.sv_balance_fen
            if result.sv_balance_fen is not None
            else summary.stored_value_fen
            if summary is not None
            else 0
        ),
    )
    pass_ = None
    if result.pass_id is not None and summary is not None:
        held = next((p for p in summary.passes if p.pass_id == result.pass_id), None)
        if held is not None:
            pass_ = pass_view(held, tz)
    if pass_ is None and result.pass_id is not None:
        pass_ = PassView(
            pass_id=result.pass_id,
            name=result.pass_name or "",
            kind=result.pass_kind or PassKind.PUNCH,
            sessions_left=result.sessions_left,
            valid_until=local_time(result.pass_valid_until_ms, tz, "%Y-%m-%d"),
        )
    class_starts = None
    if result.class_session_id is not None and bundle is not None:
        session = bundle.class_session(result.class_session_id)
        class_starts = local_time(session.starts_ms, tz, "%H:%M") if session else None
    return TapView(
        outcome="accepted",
        action=result.action,
        lang=lang,
        member=card,
        points_earned=result.points_earned,
        points_spent=result.points_spent,
        pass_info=pass_,
        class_title_zh=result.class_title_zh,
        class_title_en=result.class_title_en,
        class_starts=class_starts,
        reward_title_zh=result.reward_title_zh,
        reward_title_en=result.reward_title_en,
        coupon_title=result.coupon_title,
        sv_charged_fen=result.sv_charged_fen or 0,
        class_not_covered_zh=result.class_not_covered_zh,
        class_not_covered_en=result.class_not_covered_en,
        source=source,
        event_ids=event_ids,
    )


class MemberDetail(View):
    """What the redemption screens (member or staff) show about one member."""

    member_id: str | None
    """Only filled for staff; the member screen never needs the id."""
    member: MemberCard
    lang: Literal["zh", "en"]
    passes: tuple[PassView, ...]
    coupons: tuple[CouponView, ...]
    rewards: tuple[RewardView, ...]
    session_s: float | None = None
    """Seconds left in the member session (member screen only)."""


def member_detail(
    summary: MemberSummary,
    bundle: RuleBundle | None,
    *,
    store_id: str,
    now_ms: int,
    with_id: bool,
    session_s: float | None = None,
) -> MemberDetail:
    """Balances, passes, coupons and the reward catalogue for one member."""
    tz = bundle_tz(bundle)
    return MemberDetail(
        member_id=summary.member_id if with_id else None,
        member=member_card(summary, bundle),
        lang="en" if summary.lang == "en" else "zh",
        passes=tuple(pass_view(p, tz, now_ms) for p in summary.passes),
        coupons=tuple(
            coupon_view(c, tz, store_id, now_ms)
            for c in sorted(summary.coupons, key=lambda c: (c.valid_until_ms, c.coupon_id))
        ),
        rewards=tuple(reward_views(bundle, summary.points_balance)),
        session_s=session_s,
    )


class RecentView(View):
    """One of this kiosk's recent events on the staff undo list."""

    event_id: str
    seq: int
    kind: str
    member_id: str | None
    display_name: str | None
    at: str | None
    """Store-local time."""
    what_zh: str
    what_en: str
    reversed: bool
    undoable: bool
    acked: bool


def _describe(event_body: object, bundle: RuleBundle | None) -> tuple[str, str]:
    if isinstance(event_body, CheckIn):
        return f"签到 +{event_body.points} 积分", f"Check-in +{event_body.points} pts"
    if isinstance(event_body, ClassSignIn):
        session = bundle.class_session(event_body.class_session_id) if bundle else None
        zh = session.title_zh if session else event_body.class_session_id
        en = session.title_en if session else event_body.class_session_id
        return (
            f"课程签到 {zh}（扣 {event_body.sessions} 次）",
            f"Class sign-in {en} (-{event_body.sessions} session)",
        )
    if isinstance(event_body, PointsRedeem):
        reward = bundle.reward(event_body.reward_id or "") if bundle else None
        zh = reward.title_zh if reward else event_body.reward_id or ""
        en = reward.title_en if reward else event_body.reward_id or ""
        return f"积分兑换 {zh} -{event_body.points}", f"Redeemed {en} -{event_body.points} pts"
    if isinstance(event_body, CouponRedeem):
        return f"使用优惠券 {event_body.coupon_id}", f"Used coupon {event_body.coupon_id}"
    if isinstance(event_body, Reversal):
        return (
            f"撤销 {event_body.target_kind}（{event_body.staff_id}）",
            f"Undo {event_body.target_kind} ({event_body.staff_id})",
        )
    if isinstance(event_body, Rejected):
        return f"拒绝：{event_body.reason}", f"Refused: {event_body.reason}"
    kind = getattr(event_body, "kind", "event")
    return str(kind), str(kind)


def recent_view(item: RecentEvent, bundle: RuleBundle | None, names: dict[str, str]) -> RecentView:
    """A recent event with a short bilingual description."""
    event = item.event
    tz = bundle_tz(bundle)
    zh, en = _describe(event.body, bundle)
    return RecentView(
        event_id=event.event_id,
        seq=event.seq,
        kind=event.kind,
        member_id=event.member_id,
        display_name=names.get(event.member_id or ""),
        at=local_time(event.wall_ms, tz, "%H:%M:%S"),
        what_zh=zh,
        what_en=en,
        reversed=item.reversed,
        undoable=item.undoable,
        acked=item.acked,
    )


class RosterEntryView(View):
    """A student signed in to a class."""

    member_id: str
    display_name: str
    at: str | None
    station_id: str | None = None
    """The door station the student tapped at (None: at this kiosk)."""


class RosterView(View):
    """One of today's classes in this store."""

    class_session_id: str
    title_zh: str
    title_en: str
    starts: str | None
    ends: str | None
    signin_open: bool
    capacity: int
    instructor: str
    signed_in: tuple[RosterEntryView, ...]
    signin_over: bool = False
    """Sign-in has closed: booked members not signed in are no-shows."""
    booked: int = 0
    """Members holding a booking (signed in or not)."""
    booked_absent: tuple[RosterEntryView, ...] = ()
    """Booked and not signed in: still expected while sign-in is open, no-shows after."""


def roster_views(rosters: list[ClassRoster], tz: str, now_ms: int) -> list[RosterView]:
    """Today's classes with who has signed in, in store-local times."""
    return [
        RosterView(
            class_session_id=r.session.class_session_id,
            title_zh=r.session.title_zh,
            title_en=r.session.title_en,
            starts=local_time(r.session.starts_ms, tz, "%H:%M"),
            ends=local_time(r.session.ends_ms, tz, "%H:%M"),
            signin_open=r.session.signin_open(now_ms),
            capacity=r.session.capacity,
            instructor=r.session.instructor,
            signed_in=tuple(
                RosterEntryView(
                    member_id=e.member_id,
                    display_name=e.display_name,
                    at=local_time(e.at_ms, tz, "%H:%M"),
                    station_id=e.station_id,
                )
                for e in r.signed_in
            ),
            signin_over=now_ms > r.session.signin_closes_ms,
            booked=len(r.session.booked),
            booked_absent=tuple(
                RosterEntryView(member_id=m, display_name=name, at=None)
                for m, name in r.booked_absent
            ),
        )
        for r in rosters
    ]


class ReaderView(View):
    """One input's health for the screen and the staff sync page."""

    state: str
    detail: str = ""
    message_zh: str = ""
    message_en: str = ""


class StatusView(View):
    """The unobtrusive indicators on the member screen (pushed on every change)."""

    online: bool
    connected: bool
    ready: bool
    """A rule bundle and members are loaded (otherwise taps are refused NOT_READY)."""
    nfc: ReaderView | None
    camera: ReaderView | None
    stream_refused: str | None = None
    """Why the coordinator refuses this ledger's stream (taps are refused STREAM_REFUSED
    until the kiosk is re-provisioned), or None."""
    software_version: str = ""
    """The release running (the updater's health gate waits for it: device/updater.py)."""


class SyncView(View):
    """Staff sync page: separate facts, never one flag."""

    kiosk_id: str
    store_id: str
    online: bool
    connected: bool
    offline_since: str | None
    outbox_depth: int
    oldest_unacked_age_s: int | None
    last_seq: int
    acked_seq: int
    confirmed_seq: int
    versions: dict[str, int]
    members: int
    unconfirmed_sessions: int
    unconfirmed_points: int
    last_ack: str | None
    coordinator_seen: str | None
    reconnects: int
    nfc: ReaderView | None
    camera: ReaderView | None
    taps_accepted: int
    taps_refused: int
    last_good_tap: str | None
    software_version: str
