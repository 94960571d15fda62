"""Decisions at the kiosk: given the local view and a request, accept with events or refuse.

Pure functions. The kiosk ledger gathers the inputs (member snapshot, this kiosk's events
not yet folded into it, deny-list hit, counters), calls one of these, then durably records
the returned event bodies (or the refusal) before the member sees the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from shared.events import (
    REVERSIBLE_KINDS,
    CheckIn,
    ClassSignIn,
    CouponRedeem,
    CredentialRef,
    Event,
    EventBody,
    PointsRedeem,
    Rejected,
    Reversal,
    StoredValueSpend,
    points_spent,
    session_delta,
    stored_value_spent,
)
from shared.fold import fold
from shared.model import (
    DAY_MS,
    ClassSession,
    CouponState,
    Frozen,
    Id,
    MemberLedger,
    MemberRecord,
    MemberStatus,
    Ms,
    PassKind,
    PassState,
    RuleBundle,
    Text,
)
from shared.reasons import RejectReason, class_full_messages, messages
from shared.seats import SeatCount, has_seat, next_with_seats

PROVISIONAL_EVENT_ID = "0" * 32


class KioskContext(Frozen):
    """Where and when a decision is taken."""

    kiosk_id: Id
    store_id: Id
    now_ms: Ms
    online: bool
    """Connected to the broker with the coordinator answering."""
    offline_since_ms: Ms | None = None
    kiosk_unconfirmed_sessions: int = 0
    """Sessions this kiosk deducted (all members) that the coordinator has not yet confirmed."""
    kiosk_unconfirmed_points: int = 0
    kiosk_unconfirmed_fen: int = 0
    """Stored value this kiosk spent (all members) that the coordinator has not confirmed."""
    class_seats: tuple[SeatCount, ...] = ()
    """This kiosk's seat counts of the sessions open for sign-in (``shared.seats``)."""


class MemberView(Frozen):
    """``last server snapshot + this kiosk's own events not yet folded into it``."""

    record: MemberRecord
    pending: tuple[Event, ...] = ()
    """This kiosk's events for the member with seq above the snapshot's included seq."""
    offline_sessions_today: int = 0
    """Sessions this kiosk deducted offline for this member today (store-local day)."""
    offline_points_today: int = 0

    def ledger(self) -> MemberLedger:
        """The member's ledger as this kiosk sees it now."""
        ledger, _ = fold(self.record.ledger, self.pending)
        return ledger

    def unconfirmed_sessions(self) -> int:
        """Sessions deducted by pending events."""
        return max(0, sum(session_delta(e)[1] for e in self.pending))

    def unconfirmed_points(self) -> int:
        """Points spent by pending events."""
        return max(0, sum(points_spent(e) for e in self.pending))

    def unconfirmed_fen(self) -> int:
        """Stored value spent by pending events."""
        return sum(stored_value_spent(e) for e in self.pending)

    def offline_spends_pending(self) -> int:
        """Stored-value spends this kiosk recorded offline that are still pending."""
        return sum(1 for e in self.pending if e.offline and stored_value_spent(e))


class TapResult(Frozen):
    """What the member screen shows after an accepted request."""

    action: Literal[
        "checkin", "class_signin", "points_redeem", "coupon_redeem", "reversal", "sv_spend"
    ]
    member_id: Id
    display_name: Text
    tier: Id
    points_earned: int = 0
    points_spent: int = 0
    points_balance: int = 0
    pass_id: Id | None = None
    pass_name: Text | None = None
    pass_kind: PassKind | None = None
    sessions_left: int | None = None
    pass_valid_until_ms: Ms | None = None
    class_session_id: Id | None = None
    class_title_zh: Text | None = None
    class_title_en: Text | None = None
    coupon_title: Text | None = None
    reward_title_zh: Text | None = None
    reward_title_en: Text | None = None
    checkins: int = 0
    class_not_covered_zh: Text | None = None
    """A class open for sign-in that this member holds no pass for (checked in instead)."""
    class_not_covered_en: Text | None = None
    sv_charged_fen: int | None = None
    """Stored value a charge took."""
    sv_balance_fen: int | None = None
    """Stored value available after it."""


class Accepted(Frozen):
    """Record ``bodies`` (in order, one event each), then show ``result``."""

    outcome: Literal["accepted"] = "accepted"
    member_id: Id
    bodies: tuple[EventBody, ...]
    result: TapResult


class Refused(Frozen):
    """Record ``body`` (a rejection event), then show the reason."""

    outcome: Literal["refused"] = "refused"
    member_id: Id | None
    reason: RejectReason
    message_zh: str
    message_en: str
    body: Rejected
    next_class_session_id: Id | None = None
    """For ``class_full``: the next session with seats the screen points to."""


class NeedsClaim(Frozen):
    """Online coupon redemption: ask the coordinator to claim the coupon, then decide again."""

    outcome: Literal["needs_claim"] = "needs_claim"
    member_id: Id
    coupon_id: Id


Decision = Accepted | Refused | NeedsClaim


class ClaimOutcome(Frozen):
    """The coordinator's answer to a coupon claim."""

    claim_id: Id
    granted: bool
    reason: RejectReason | None = None


def refuse(reason: RejectReason, member_id: str | None = None, detail: str = "") -> Refused:
    """A refusal with its member-facing messages and the rejection event to record."""
    zh, en = messages(reason)
    return Refused(
        member_id=member_id,
        reason=reason,
        message_zh=zh,
        message_en=en,
        body=Rejected(reason=reason.value, detail=detail[:200]),
    )


@lru_cache(maxsize=32)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_day(now_ms: int, timezone: str) -> str:
    """The store-local calendar date (YYYY-MM-DD) of ``now_ms``."""
    return (
        datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(_zone(timezone)).date().isoformat()
    )


def _provisional(ctx: KioskContext, member_id: str, bodies: Sequence[EventBody]) -> list[Event]:
    return [
        Event(
            event_id=PROVISIONAL_EVENT_ID,
            kiosk_id=ctx.kiosk_id,
            store_id=ctx.store_id,
            seq=(1 << 62) - len(bodies) + i,
            hlc_ms=ctx.now_ms,
            hlc_c=i,
            wall_ms=ctx.now_ms,
            member_id=member_id,
            offline=not ctx.online,
            body=body,
        )
        for i, body in enumerate(bodies)
    ]


def _result_base(view: MemberView, ledger: MemberLedger, now_ms: int) -> dict[str, object]:
    return {
        "member_id": view.record.member_id,
        "display_name": view.record.display_name,
        "tier": view.record.tier,
        "points_balance": ledger.points_available(now_ms),
        "checkins": ledger.checkins,
    }


def _identity_check(view: MemberView | None) -> Refused | None:
    if view is None:
        return refuse(RejectReason.UNKNOWN_MEMBER)
    if view.record.status is MemberStatus.SUSPENDED:
        return refuse(RejectReason.MEMBER_SUSPENDED, view.record.member_id)
    return None


def _offline_too_long(ctx: KioskContext, bundle: RuleBundle) -> bool:
    """Offline longer than the rules allow deductions for."""
    if ctx.online or ctx.offline_since_ms is None:
        return False
    limit_ms = bundle.rules.offline.max_offline_hours * 3_600_000
    return ctx.now_ms - ctx.offline_since_ms > limit_ms


def _deduction_limits(
    ctx: KioskContext, bundle: RuleBundle, view: MemberView, *, sessions: int, points: int
) -> Refused | None:
    """Refuse a deduction that would exceed what this kiosk may give away unconfirmed."""
    lim = bundle.rules.offline
    member_id = view.record.member_id
    if _offline_too_long(ctx, bundle):
        return refuse(RejectReason.OFFLINE_TOO_LONG, member_id)
    over = (
        view.unconfirmed_sessions() + sessions > lim.max_unconfirmed_sessions_per_member
        or view.unconfirmed_points() + points > lim.max_unconfirmed_points_per_member
        or ctx.kiosk_unconfirmed_sessions + sessions > lim.kiosk_max_unconfirmed_sessions
        or ctx.kiosk_unconfirmed_points + points > lim.kiosk_max_unconfirmed_points
    )
    if not ctx.online:
        over = over or (
            view.offline_sessions_today + sessions > lim.max_offline_sessions_per_member_day
            or view.offline_points_today + points > lim.max_offline_points_per_member_day
        )
    if over and (sessions or points):
        return refuse(
            RejectReason.OFFLINE_LIMIT_REACHED,
            member_id,
            f"unconfirmed sessions={view.unconfirmed_sessions()} "
            f"points={view.unconfirmed_points()}",
        )
    return None


_PASS_REASON_PRIORITY = (
    RejectReason.NO_SESSIONS_LEFT,
    RejectReason.PASS_FROZEN,
    RejectReason.PASS_NOT_YET_ACTIVE,
    RejectReason.PASS_EXPIRED,
)


def _choose_pass(
    ledger: MemberLedger, session: ClassSession, store_id: str, now_ms: int
) -> PassState | RejectReason:
    """The pass to sign in with (time pass first, then the punch pass expiring soonest)."""
    candidates = [p for p in ledger.passes if p.covers(session.class_type, store_id)]
    if not candidates:
        return RejectReason.NO_VALID_PASS
    # Coverage is settled above, so each problem is about the pass itself.
    judged = [(p, p.problem_at(now_ms)) for p in candidates]
    usable = [p for p, problem in judged if problem is None]
    if usable:
        # A pass already running pays before one its first use would start.
        usable.sort(
            key=lambda p: (
                p.kind is not PassKind.TIME,
                p.awaiting_first_use(now_ms),
                p.valid_until_ms,
                p.pass_id,
            )
        )
        return usable[0]
    problems = {problem for _, problem in judged}
    return next(r for r in _PASS_REASON_PRIORITY if r in problems)


def visit_pass_to_start(ledger: MemberLedger, store_id: str, now_ms: int) -> PassState | None:
    """The time pass a plain visit to ``store_id`` at ``now_ms`` starts, or None.

    A time pass for every class type is a membership of the store: a visit is its use. The
    visit starts such a pass when it awaits its first use and no such pass is running
    already, frozen or not (a member who bought next year's card in advance keeps it
    waiting until this one ends); of several waiting, the one whose deadline comes first.
    """
    visit_passes = [
        p
        for p in ledger.passes
        if p.kind is PassKind.TIME and not p.class_types and p.covers(None, store_id)
    ]
    waiting = [p for p in visit_passes if p.awaiting_first_use(now_ms)]
    # A running pass (frozen or not: a member who paused this year's card keeps next year's
    # waiting) means the visit starts nothing.
    running = any(
        not p.awaiting_first_use(now_ms) and p.valid_from_ms <= now_ms <= p.valid_until_ms
        for p in visit_passes
    )
    if not waiting or running:
        return None
    return min(waiting, key=lambda p: (p.first_use.activate_by_ms if p.first_use else 0, p.pass_id))


def _checkin_body(
    ctx: KioskContext,
    bundle: RuleBundle,
    view: MemberView,
    ledger: MemberLedger,
    *,
    visit: bool = False,
) -> CheckIn:
    """The check-in of a tap: the day's reward, and for a plain ``visit`` (not a class
    sign-in, whose pass is its own) the time pass the visit starts."""
    rules = bundle.rules
    started = visit_pass_to_start(ledger, ctx.store_id, ctx.now_ms) if visit else None
    first_use_of = started.pass_id if started is not None else None
    today = local_day(ctx.now_ms, rules.timezone)
    if rules.checkin_reward_once_per_day and ledger.last_reward_day == today:
        return CheckIn(points=0, first_use_of=first_use_of)
    points = rules.checkin_points(view.record.tier, today)
    if points <= 0:
        return CheckIn(points=0, first_use_of=first_use_of)
    return CheckIn(
        points=points,
        reward_day=today,
        points_expires_ms=ctx.now_ms + rules.points_expiry_days * DAY_MS,
        first_use_of=first_use_of,
    )


def decide_tap(
    ctx: KioskContext,
    bundle: RuleBundle,
    view: MemberView | None,
    *,
    class_session_id: str | None = None,
    room: str | None = None,
    read_ms: int | None = None,
) -> Decision:
    """A member tapped a card or showed a QR code (credential already resolved and allowed).

    During an open class sign-in window (or when staff name a class) the tap signs the
    student in and deducts from a pass valid for that class; otherwise it is a check-in.
    A member holding no pass for any open class at all is checked in as a visitor when the
    rules say so (``checkin_without_class_pass``), with the class named in the result so the
    screen can point them to the front desk; otherwise they are refused NO_VALID_PASS.
    Either way the day's check-in reward is given once.

    A door station's tap names its ``room`` (only that room's classes are considered) and
    ``read_ms``, when the card was read: a tap buffered while the kiosk was unreachable is
    judged against the sign-in windows at that time (never later than now), while the
    decision itself, its limits and its events belong to now.
    """
    return decide_tap_folded(
        ctx, bundle, view, class_session_id=class_session_id, room=room, read_ms=read_ms
    )[0]


def decide_tap_folded(
    ctx: KioskContext,
    bundle: RuleBundle,
    view: MemberView | None,
    *,
    class_session_id: str | None = None,
    room: str | None = None,
    read_ms: int | None = None,
) -> tuple[Decision, MemberLedger | None]:
    """:func:`decide_tap`, and the member's ledger with the decision's events folded in.

    The ledger is the one the decision computed anyway (its provisional events differ from
    the recorded ones only in ids and seqs, which no balance depends on); a refusal leaves
    the ledger as it was. None when the decision never folded it (unknown or suspended
    member): fold the view yourself then.
    """
    problem = _identity_check(view)
    if problem is not None or view is None:
        return problem or refuse(RejectReason.UNKNOWN_MEMBER), None
    ledger = view.ledger()
    member_id = view.record.member_id
    # The sign-in windows are judged when the card was read (a station's buffered tap).
    at_ms = ctx.now_ms if read_ms is None else min(read_ms, ctx.now_ms)

    if class_session_id is not None:
        session = bundle.class_session(class_session_id)
        if session is None or session.store_id != ctx.store_id:
            return refuse(RejectReason.CLASS_UNKNOWN, member_id, class_session_id), ledger
        if not session.signin_open(at_ms):
            return refuse(RejectReason.OUTSIDE_SIGNIN_WINDOW, member_id, class_session_id), ledger
        open_sessions = [session]
    else:
        open_sessions = sorted(
            (
                c
                for c in bundle.classes
                if c.store_id == ctx.store_id
                and (room is None or c.room == room)
                and c.signin_open(at_ms)
            ),
            key=lambda c: (c.starts_ms, c.class_session_id),
        )

    not_covered: ClassSession | None = None
    if open_sessions:
        # A drop-in is charged only when the tap surely means the class: staff named it, a
        # door station of its room read the card, or the chain has no store visitors.
        drop_in = (
            class_session_id is not None
            or room is not None
            or not bundle.rules.checkin_without_class_pass
        )
        decision, after = _class_signin(
            ctx, bundle, view, ledger, open_sessions, at_ms, drop_in=drop_in
        )
        walk_in = (
            class_session_id is None
            and isinstance(decision, Refused)
            and decision.reason is RejectReason.NO_VALID_PASS
            and bundle.rules.checkin_without_class_pass
        )
        if not walk_in:
            return decision, after
        # No pass for any open class at all: this member came for the store, not the class.
        not_covered = open_sessions[0]

    last = ledger.last_checkin_ms
    if last is not None and 0 <= ctx.now_ms - last < bundle.rules.double_tap_window_s * 1000:
        return refuse(RejectReason.ALREADY_CHECKED_IN, member_id), ledger
    body = _checkin_body(ctx, bundle, view, ledger, visit=True)
    after, _ = fold(ledger, _provisional(ctx, member_id, [body]))
    started = after.find_pass(body.first_use_of) if body.first_use_of else None
    accepted = Accepted(
        member_id=member_id,
        bodies=(body,),
        result=TapResult(
            action="checkin",
            points_earned=body.points,
            pass_id=started.pass_id if started else None,
            pass_name=started.name if started else None,
            pass_kind=started.kind if started else None,
            pass_valid_until_ms=started.valid_until_ms if started else None,
            class_not_covered_zh=not_covered.title_zh if not_covered else None,
            class_not_covered_en=not_covered.title_en if not_covered else None,
            **_result_base(view, after, ctx.now_ms),
        ),
    )
    return accepted, after


def _class_signin(
    ctx: KioskContext,
    bundle: RuleBundle,
    view: MemberView,
    ledger: MemberLedger,
    sessions: Sequence[ClassSession],
    at_ms: int,
    *,
    drop_in: bool = False,
) -> tuple[Decision, MemberLedger]:
    """The sign-in decision and the ledger after it (unchanged when refused); the pass must
    have been valid at ``at_ms``, when the card was read. With no usable pass and
    ``drop_in``, a session with a drop-in price is paid from stored value
    (:func:`_drop_in`)."""
    member_id = view.record.member_id
    signed = {s.class_session_id for s in ledger.signins}
    for session in sessions:
        if session.class_session_id in signed:
            refused = refuse(RejectReason.ALREADY_SIGNED_IN, member_id, session.class_session_id)
            return refused, ledger

    first_reason: RejectReason | None = None
    counts = {c.class_session_id: c for c in ctx.class_seats}
    full: ClassSession | None = None
    unpaid: list[ClassSession] = []
    for session in sessions:
        chosen = _choose_pass(ledger, session, ctx.store_id, at_ms)
        if isinstance(chosen, RejectReason):
            first_reason = first_reason or chosen
            unpaid.append(session)
            continue
        booked = member_id in session.booked
        if not booked and not has_seat(session, ctx.kiosk_id, counts.get(session.class_session_id)):
            full = full or session
            continue
        deduct = 1 if chosen.kind is PassKind.PUNCH else 0
        limited = _deduction_limits(ctx, bundle, view, sessions=deduct, points=0)
        if limited is not None:
            return limited, ledger
        bodies: list[EventBody] = [
            ClassSignIn(
                class_session_id=session.class_session_id,
                class_type=session.class_type,
                pass_id=chosen.pass_id,
                sessions=deduct,
            )
        ]
        checkin = _checkin_body(ctx, bundle, view, ledger)
        if checkin.points > 0:
            bodies.append(checkin)
        after, _ = fold(ledger, _provisional(ctx, member_id, bodies))
        used = after.find_pass(chosen.pass_id) or chosen
        accepted = Accepted(
            member_id=member_id,
            bodies=tuple(bodies),
            result=TapResult(
                action="class_signin",
                points_earned=checkin.points,
                pass_id=used.pass_id,
                pass_name=used.name,
                pass_kind=used.kind,
                sessions_left=used.sessions_left if used.kind is PassKind.PUNCH else None,
                pass_valid_until_ms=used.valid_until_ms,
                class_session_id=session.class_session_id,
                class_title_zh=session.title_zh,
                class_title_en=session.title_en,
                **_result_base(view, after, ctx.now_ms),
            ),
        )
        return accepted, after
    if full is None and drop_in:
        paid = _drop_in(ctx, bundle, view, ledger, unpaid, counts)
        if paid is not None:
            return paid
    if full is not None:
        return _class_full(ctx, bundle, member_id, full, counts), ledger
    refused = refuse(
        first_reason or RejectReason.NO_VALID_PASS, member_id, sessions[0].class_session_id
    )
    return refused, ledger


def _drop_in(
    ctx: KioskContext,
    bundle: RuleBundle,
    view: MemberView,
    ledger: MemberLedger,
    sessions: Sequence[ClassSession],
    counts: dict[str, SeatCount],
) -> tuple[Decision, MemberLedger] | None:
    """Sign in to the first session with a drop-in price and a seat, paying that price from
    stored value: two linked events, the ``sv_spend`` (purpose ``drop-in <session>``) and a
    ``class_signin`` with no pass, decided by the stored-value rule of every kiosk spend
    (:func:`stored_value_spend_problem`: balance, unconfirmed and offline limits).

    None when no session has a drop-in price or the stored value does not cover it (the
    pass refusal stands); a limit that stops a member who could pay is their refusal.
    """
    member_id = view.record.member_id
    priced = [s for s in sessions if s.drop_in_price_fen > 0]
    for session in priced:
        booked = member_id in session.booked
        if not booked and not has_seat(session, ctx.kiosk_id, counts.get(session.class_session_id)):
            continue
        price = session.drop_in_price_fen
        reason = stored_value_spend_problem(ctx, bundle, view, price)
        if reason is RejectReason.INSUFFICIENT_BALANCE:
            return None
        if reason is not None:
            detail = f"drop-in {session.class_session_id} amount_fen={price}"
            return refuse(reason, member_id, detail), ledger
        bodies: list[EventBody] = [
            StoredValueSpend(
                amount_fen=price,
                order=bundle.rules.money.spend_order,
                purpose=f"{DROP_IN_PURPOSE} {session.class_session_id}",
            ),
            ClassSignIn(
                class_session_id=session.class_session_id,
                class_type=session.class_type,
                pass_id=None,
                sessions=0,
            ),
        ]
        checkin = _checkin_body(ctx, bundle, view, ledger)
        if checkin.points > 0:
            bodies.append(checkin)
        after, _ = fold(ledger, _provisional(ctx, member_id, bodies))
        accepted = Accepted(
            member_id=member_id,
            bodies=tuple(bodies),
            result=TapResult(
                action="class_signin",
                points_earned=checkin.points,
                class_session_id=session.class_session_id,
                class_title_zh=session.title_zh,
                class_title_en=session.title_en,
                sv_charged_fen=price,
                sv_balance_fen=after.stored_value.available_fen(ctx.now_ms),
                **_result_base(view, after, ctx.now_ms),
            ),
        )
        return accepted, after
    if priced:
        return _class_full(ctx, bundle, member_id, priced[0], counts), ledger
    return None


DROP_IN_PURPOSE = "drop-in"
"""The ``sv_spend`` purpose of a drop-in class, followed by its class session id."""


def _class_full(
    ctx: KioskContext,
    bundle: RuleBundle,
    member_id: str,
    full: ClassSession,
    counts: dict[str, SeatCount],
) -> Refused:
    """``class_full``, naming the next session this kiosk could admit the member to."""
    after = next_with_seats(full, bundle.classes, ctx.kiosk_id, counts)
    at = None
    if after is not None:
        local = datetime.fromtimestamp(after.starts_ms / 1000, tz=UTC).astimezone(
            _zone(bundle.rules.timezone)
        )
        at = f"{local:%m-%d %H:%M}"
    zh, en = class_full_messages(
        after.title_zh if after else None, after.title_en if after else None, at
    )
    detail = full.class_session_id + (f" next={after.class_session_id}" if after else "")
    return refuse(RejectReason.CLASS_FULL, member_id, detail).model_copy(
        update={
            "message_zh": zh,
            "message_en": en,
            "next_class_session_id": after.class_session_id if after else None,
        }
    )


def decide_points_redeem(
    ctx: KioskContext, bundle: RuleBundle, view: MemberView | None, reward_id: str
) -> Decision:
    """Spend points on a reward from the bundle's catalogue."""
    problem = _identity_check(view)
    if problem is not None or view is None:
        return problem or refuse(RejectReason.UNKNOWN_MEMBER)
    member_id = view.record.member_id
    reward = bundle.reward(reward_id)
    if reward is None:
        return refuse(RejectReason.REWARD_UNKNOWN, member_id, reward_id)
    ledger = view.ledger()
    if not ledger.can_spend(reward.points_cost, ctx.now_ms):
        return refuse(RejectReason.INSUFFICIENT_POINTS, member_id, reward_id)
    limited = _deduction_limits(ctx, bundle, view, sessions=0, points=reward.points_cost)
    if limited is not None:
        return limited
    body = PointsRedeem(points=reward.points_cost, reward_id=reward.reward_id)
    after, _ = fold(ledger, _provisional(ctx, member_id, [body]))
    return Accepted(
        member_id=member_id,
        bodies=(body,),
        result=TapResult(
            action="points_redeem",
            points_spent=reward.points_cost,
            reward_title_zh=reward.title_zh,
            reward_title_en=reward.title_en,
            **_result_base(view, after, ctx.now_ms),
        ),
    )


def coupon_needs_claim(ctx: KioskContext, bundle: RuleBundle, coupon: CouponState) -> bool | None:
    """True: redeem only with a coordinator claim; False: may be redeemed without one;
    None: needs a claim but the kiosk is offline (refuse with COUPON_NEEDS_NETWORK)."""
    if ctx.online:
        return True
    if bundle.rules.offline.coupon_offline_store(coupon) == ctx.store_id:
        return False
    return None


def decide_coupon_redeem(
    ctx: KioskContext,
    bundle: RuleBundle,
    view: MemberView | None,
    coupon_id: str,
    claim: ClaimOutcome | None = None,
) -> Decision:
    """Use one of the member's coupons; online this first needs a granted coordinator claim."""
    problem = _identity_check(view)
    if problem is not None or view is None:
        return problem or refuse(RejectReason.UNKNOWN_MEMBER)
    member_id = view.record.member_id
    ledger = view.ledger()
    coupon = ledger.find_coupon(coupon_id)
    if coupon is None:
        return refuse(RejectReason.COUPON_NOT_FOUND, member_id, coupon_id)
    unusable = coupon.problem_at(ctx.now_ms, ctx.store_id)
    if unusable is not None:
        return refuse(unusable, member_id, coupon_id)
    if _offline_too_long(ctx, bundle):
        return refuse(RejectReason.OFFLINE_TOO_LONG, member_id, coupon_id)
    claim_id: str | None = None
    if claim is not None:
        if not claim.granted:
            return refuse(claim.reason or RejectReason.COUPON_USED, member_id, coupon_id)
        claim_id = claim.claim_id
    else:
        needs = coupon_needs_claim(ctx, bundle, coupon)
        if needs is None:
            return refuse(RejectReason.COUPON_NEEDS_NETWORK, member_id, coupon_id)
        if needs:
            return NeedsClaim(member_id=member_id, coupon_id=coupon_id)
    body = CouponRedeem(coupon_id=coupon_id, claim_id=claim_id)
    after, _ = fold(ledger, _provisional(ctx, member_id, [body]))
    return Accepted(
        member_id=member_id,
        bodies=(body,),
        result=TapResult(
            action="coupon_redeem",
            coupon_title=coupon.title,
            **_result_base(view, after, ctx.now_ms),
        ),
    )


def decide_reversal(
    ctx: KioskContext,
    bundle: RuleBundle,
    view: MemberView | None,
    target: Event | None,
    *,
    already_reversed: bool,
    staff_id: str,
) -> Decision:
    """Staff undo of one of this kiosk's recent events: an audited reversal, never a delete."""
    member_id = view.record.member_id if view else None
    if (
        target is None
        or view is None
        or already_reversed
        or target.kiosk_id != ctx.kiosk_id
        or target.kind not in REVERSIBLE_KINDS
        or target.member_id != member_id
        or ctx.now_ms - target.hlc_ms > bundle.rules.undo_window_s * 1000
    ):
        return refuse(RejectReason.UNDO_NOT_ALLOWED, member_id, target.event_id if target else "")
    tb = target.body
    kind: Literal["checkin", "class_signin", "points_redeem", "coupon_redeem"]
    fields: dict[str, object] = {}
    if isinstance(tb, CheckIn):
        kind, fields["points"] = "checkin", tb.points
    elif isinstance(tb, ClassSignIn):
        if tb.pass_id is None:
            # A drop-in's payment is money: HQ corrects it (an audited adjustment).
            return refuse(RejectReason.UNDO_NOT_ALLOWED, member_id, target.event_id)
        kind = "class_signin"
        fields.update(
            pass_id=tb.pass_id, sessions=tb.sessions, class_session_id=tb.class_session_id
        )
    elif isinstance(tb, PointsRedeem):
        kind, fields["points"] = "points_redeem", tb.points
        fields["points_expires_ms"] = ctx.now_ms + bundle.rules.points_expiry_days * DAY_MS
    elif isinstance(tb, CouponRedeem):
        kind, fields["coupon_id"] = "coupon_redeem", tb.coupon_id
    else:  # pragma: no cover - excluded by REVERSIBLE_KINDS above
        return refuse(RejectReason.UNDO_NOT_ALLOWED, member_id, target.event_id)
    body = Reversal(target_event_id=target.event_id, target_kind=kind, staff_id=staff_id, **fields)
    ledger = view.ledger()
    after, _ = fold(ledger, _provisional(ctx, view.record.member_id, [body]))
    result_pass = after.find_pass(body.pass_id) if body.pass_id else None
    return Accepted(
        member_id=view.record.member_id,
        bodies=(body,),
        result=TapResult(
            action="reversal",
            pass_id=result_pass.pass_id if result_pass else None,
            pass_name=result_pass.name if result_pass else None,
            sessions_left=result_pass.sessions_left if result_pass else None,
            **_result_base(view, after, ctx.now_ms),
        ),
    )


def stored_value_spend_problem(
    ctx: KioskContext, bundle: RuleBundle, view: MemberView, amount_fen: int
) -> RejectReason | None:
    """Why this kiosk may not spend ``amount_fen`` of the member's stored value now (None:
    it may). The stored-value rule of every kiosk decision: the amount, the balance as this
    kiosk sees it, then the limits on unconfirmed and offline spends
    (:class:`shared.money.StoredValueLimits`) that bound the chain-wide overdraw.
    """
    money = bundle.rules.money
    if amount_fen <= 0 or amount_fen > money.max_spend_fen:
        return RejectReason.AMOUNT_INVALID
    if _offline_too_long(ctx, bundle):
        return RejectReason.OFFLINE_TOO_LONG
    if view.ledger().stored_value.available_fen(ctx.now_ms) < amount_fen:
        return RejectReason.INSUFFICIENT_BALANCE
    lim = money.offline
    if (
        view.unconfirmed_fen() + amount_fen > lim.max_unconfirmed_fen_per_member
        or ctx.kiosk_unconfirmed_fen + amount_fen > lim.kiosk_max_unconfirmed_fen
    ):
        return RejectReason.OFFLINE_LIMIT_REACHED
    if not ctx.online and (
        amount_fen > lim.max_offline_spend_fen
        or view.offline_spends_pending() >= lim.max_consecutive_offline_spends
    ):
        return RejectReason.OFFLINE_LIMIT_REACHED
    return None


def decide_stored_value_spend(
    ctx: KioskContext,
    bundle: RuleBundle,
    view: MemberView | None,
    amount_fen: int,
    *,
    purpose: str = "",
    staff_id: str | None = None,
) -> Decision:
    """Charge ``amount_fen`` to the member's stored value (the kiosk's charge screen, or a
    drop-in class paid from stored value), online or offline within the limits."""
    problem = _identity_check(view)
    if problem is not None or view is None:
        return problem or refuse(RejectReason.UNKNOWN_MEMBER)
    member_id = view.record.member_id
    reason = stored_value_spend_problem(ctx, bundle, view, amount_fen)
    if reason is not None:
        return refuse(reason, member_id, f"amount_fen={amount_fen}")
    body = StoredValueSpend(
        amount_fen=amount_fen,
        order=bundle.rules.money.spend_order,
        purpose=purpose[:200],
        staff_id=staff_id,
    )
    after, _ = fold(view.ledger(), _provisional(ctx, member_id, [body]))
    return Accepted(
        member_id=member_id,
        bodies=(body,),
        result=TapResult(
            action="sv_spend",
            sv_charged_fen=amount_fen,
            sv_balance_fen=after.stored_value.available_fen(ctx.now_ms),
            **_result_base(view, after, ctx.now_ms),
        ),
    )


def credential_ref_card(uid: str) -> CredentialRef:
    """Credential reference for an NFC card tap."""
    from shared.events import CredentialKind

    return CredentialRef(kind=CredentialKind.CARD, uid=uid)
