"""Decision functions: every acceptance path and every refusal reason, on plain values."""

from __future__ import annotations

import pytest

from shared.decide import (
    Accepted,
    ClaimOutcome,
    KioskContext,
    MemberView,
    NeedsClaim,
    Refused,
    decide_coupon_redeem,
    decide_points_redeem,
    decide_reversal,
    decide_tap,
    local_day,
)
from shared.events import CheckIn, ClassSignIn, CouponRedeem, PointsRedeem, Reversal
from shared.fold import fold
from shared.model import (
    CouponPolicy,
    MemberLedger,
    MemberStatus,
    OfflineLimits,
    PointsLot,
)
from shared.reasons import RejectReason, message, messages
from tests.support.factories import (
    DAY,
    HOUR,
    T0,
    bundle,
    coupon,
    kiosk_event,
    member,
    punch_pass,
    time_pass,
    yoga_class,
)


def ctx(now: int = T0, *, online: bool = True, **kw: object) -> KioskContext:
    return KioskContext(kiosk_id="k1", store_id="s1", now_ms=now, online=online, **kw)  # type: ignore[arg-type]


def view_with(*, passes=(), coupons=(), points=0, pending=(), **kw) -> MemberView:  # type: ignore[no-untyped-def]
    lots = (
        (
            PointsLot(
                lot_id="lot1",
                earned_ms=T0 - DAY,
                expires_ms=T0 + 300 * DAY,
                amount=points,
                remaining=points,
            ),
        )
        if points
        else ()
    )
    ledger = MemberLedger(passes=tuple(passes), coupons=tuple(coupons), points_lots=lots)
    return MemberView(record=member(ledger=ledger, **kw), pending=tuple(pending))


def record(decision: Accepted, seq0: int = 1, at: int = T0) -> list:  # type: ignore[type-arg]
    """The events a kiosk would journal for an accepted decision."""
    return [
        kiosk_event("k1", seq0 + i, decision.member_id, body, at_ms=at)
        for i, body in enumerate(decision.bodies)
    ]


def refused(decision: object, reason: RejectReason) -> None:
    assert isinstance(decision, Refused), decision
    assert decision.reason is reason
    assert decision.body.reason == reason.value
    assert decision.message_zh and decision.message_en


def test_checkin_awards_points_once_per_day_and_refuses_double_tap() -> None:
    b = bundle()
    view = view_with()
    first = decide_tap(ctx(), b, view)
    assert isinstance(first, Accepted)
    assert first.bodies == (
        CheckIn(points=10, reward_day="2026-01-01", points_expires_ms=T0 + 365 * DAY),
    )
    assert first.result.points_earned == 10 and first.result.points_balance == 10

    pending = tuple(record(first))
    again = decide_tap(ctx(T0 + 5_000), b, view.model_copy(update={"pending": pending}))
    refused(again, RejectReason.ALREADY_CHECKED_IN)

    later = decide_tap(ctx(T0 + 2 * HOUR), b, view.model_copy(update={"pending": pending}))
    assert isinstance(later, Accepted)
    assert later.bodies[0].points == 0  # already rewarded today
    assert later.result.points_balance == 10

    tomorrow = decide_tap(ctx(T0 + DAY), b, view.model_copy(update={"pending": pending}))
    assert isinstance(tomorrow, Accepted) and tomorrow.result.points_earned == 10


def test_tier_multiplier_applies_to_checkin_points() -> None:
    view = MemberView(record=member(tier="gold"))
    decision = decide_tap(ctx(), bundle(), view)
    assert isinstance(decision, Accepted)
    assert decision.result.points_earned == 15  # 10 x 1.5


def test_local_day_uses_store_timezone() -> None:
    # 2026-01-01T20:00Z is already Jan 2nd in Shanghai, still Jan 1st in London.
    at = T0 + 16 * HOUR
    assert local_day(at, "Asia/Shanghai") == "2026-01-02"
    assert local_day(at, "Europe/London") == "2026-01-01"


def test_class_signin_deducts_one_session_and_never_twice() -> None:
    b = bundle(classes=[yoga_class()])
    view = view_with(passes=[punch_pass(sessions=10)])
    first = decide_tap(ctx(), b, view)
    assert isinstance(first, Accepted)
    assert isinstance(first.bodies[0], ClassSignIn)
    assert first.result.action == "class_signin"
    assert first.result.sessions_left == 9
    assert first.result.class_title_en == "Flow yoga"
    assert first.result.points_earned == 10  # the day's check-in reward rides along

    pending = tuple(record(first))
    for later in (T0 + 1_000, T0 + 10 * 60_000):  # a second tap, even well after the window
        second = decide_tap(ctx(later), b, view.model_copy(update={"pending": pending}))
        refused(second, RejectReason.ALREADY_SIGNED_IN)
    ledger, _ = fold(view.record.ledger, pending)
    assert ledger.passes[0].sessions_left == 9


def test_time_pass_signs_in_without_deduction_and_is_preferred() -> None:
    b = bundle(classes=[yoga_class()])
    view = view_with(passes=[punch_pass(sessions=3), time_pass()])
    decision = decide_tap(ctx(), b, view)
    assert isinstance(decision, Accepted)
    signin = decision.bodies[0]
    assert isinstance(signin, ClassSignIn) and signin.pass_id == "t1" and signin.sessions == 0


def test_punch_pass_expiring_soonest_is_used_first() -> None:
    b = bundle(classes=[yoga_class()])
    early = punch_pass("early", 5, valid_until_ms=T0 + 5 * DAY)
    late = punch_pass("late", 5, valid_until_ms=T0 + 50 * DAY)
    decision = decide_tap(ctx(), b, view_with(passes=[late, early]))
    assert isinstance(decision, Accepted) and decision.bodies[0].pass_id == "early"


@pytest.mark.parametrize(
    ("pass_state", "reason"),
    [
        (None, RejectReason.NO_VALID_PASS),
        (punch_pass(class_types=("spinning",)), RejectReason.NO_VALID_PASS),
        (punch_pass(store_ids=("s2",)), RejectReason.NO_VALID_PASS),
        (punch_pass(valid_until_ms=T0 - DAY), RejectReason.PASS_EXPIRED),
        (punch_pass(valid_from_ms=T0 + DAY), RejectReason.PASS_NOT_YET_ACTIVE),
        (punch_pass(frozen=True), RejectReason.PASS_FROZEN),
        (punch_pass(sessions=10, used=10), RejectReason.NO_SESSIONS_LEFT),
    ],
)
def test_class_signin_refusals(pass_state, reason) -> None:  # type: ignore[no-untyped-def]
    b = bundle(classes=[yoga_class()], checkin_without_class_pass=False)
    view = view_with(passes=[pass_state] if pass_state else [])
    refused(decide_tap(ctx(), b, view), reason)


def test_walk_in_without_any_class_pass_is_checked_in_with_a_note() -> None:
    b = bundle(classes=[yoga_class()])  # checkin_without_class_pass defaults to True
    for passes in ([], [punch_pass(class_types=("spinning",))]):
        decision = decide_tap(ctx(), b, view_with(passes=passes))
        assert isinstance(decision, Accepted), decision
        assert decision.result.action == "checkin"
        assert decision.result.class_not_covered_en == "Flow yoga"
        assert decision.result.class_not_covered_zh == "流瑜伽"
    # A pass for the class that can't be used is a real refusal: they came for the class.
    expired = view_with(passes=[punch_pass(valid_until_ms=T0 - DAY)])
    refused(decide_tap(ctx(), b, expired), RejectReason.PASS_EXPIRED)
    # Staff naming the class means "sign in to this class": no pass is a refusal.
    refused(
        decide_tap(ctx(), b, view_with(), class_session_id="yoga-0900"),
        RejectReason.NO_VALID_PASS,
    )


def test_no_sessions_left_wins_over_expired_when_both_apply() -> None:
    b = bundle(classes=[yoga_class()])
    view = view_with(
        passes=[punch_pass("old", valid_until_ms=T0 - DAY), punch_pass("new", 10, used=10)]
    )
    refused(decide_tap(ctx(), b, view), RejectReason.NO_SESSIONS_LEFT)


def test_named_class_outside_window_and_unknown_class() -> None:
    b = bundle(classes=[yoga_class(starts_ms=T0 + 5 * HOUR)])
    view = view_with(passes=[punch_pass()])
    refused(
        decide_tap(ctx(), b, view, class_session_id="yoga-0900"), RejectReason.OUTSIDE_SIGNIN_WINDOW
    )
    refused(decide_tap(ctx(), b, view, class_session_id="nope"), RejectReason.CLASS_UNKNOWN)
    # Without a class named and none open, the tap is a plain check-in.
    assert isinstance(decide_tap(ctx(), b, view), Accepted)


def test_class_in_another_store_is_not_open_here() -> None:
    b = bundle(classes=[yoga_class(store_id="s2")])
    decision = decide_tap(ctx(), b, view_with(passes=[punch_pass()]))
    assert isinstance(decision, Accepted) and decision.result.action == "checkin"


def test_suspended_and_unknown_member() -> None:
    view = MemberView(record=member().model_copy(update={"status": MemberStatus.SUSPENDED}))
    refused(decide_tap(ctx(), bundle(), view), RejectReason.MEMBER_SUSPENDED)
    refused(decide_tap(ctx(), bundle(), None), RejectReason.UNKNOWN_MEMBER)


def test_points_redeem_and_insufficient_points() -> None:
    b = bundle()
    ok = decide_points_redeem(ctx(), b, view_with(points=250), "towel")
    assert isinstance(ok, Accepted)
    assert ok.bodies == (PointsRedeem(points=200, reward_id="towel"),)
    assert ok.result.points_balance == 50
    refused(
        decide_points_redeem(ctx(), b, view_with(points=150), "towel"),
        RejectReason.INSUFFICIENT_POINTS,
    )
    refused(
        decide_points_redeem(ctx(), b, view_with(points=150), "yacht"), RejectReason.REWARD_UNKNOWN
    )


def test_expired_points_are_not_spendable() -> None:
    lot = PointsLot(
        lot_id="old", earned_ms=T0 - 400 * DAY, expires_ms=T0 - DAY, amount=500, remaining=500
    )
    view = MemberView(record=member(ledger=MemberLedger(points_lots=(lot,))))
    refused(decide_points_redeem(ctx(), bundle(), view, "water"), RejectReason.INSUFFICIENT_POINTS)


def test_online_coupon_needs_claim_then_redeems_with_it() -> None:
    b = bundle()
    view = view_with(coupons=[coupon()])
    first = decide_coupon_redeem(ctx(), b, view, "c1")
    assert isinstance(first, NeedsClaim) and first.coupon_id == "c1"
    granted = decide_coupon_redeem(ctx(), b, view, "c1", ClaimOutcome(claim_id="cl1", granted=True))
    assert isinstance(granted, Accepted)
    assert granted.bodies == (CouponRedeem(coupon_id="c1", claim_id="cl1"),)
    denied = decide_coupon_redeem(
        ctx(),
        b,
        view,
        "c1",
        ClaimOutcome(claim_id="cl1", granted=False, reason=RejectReason.COUPON_USED),
    )
    refused(denied, RejectReason.COUPON_USED)


def test_offline_coupon_policy() -> None:
    scoped = bundle()
    online_only = bundle(offline=OfflineLimits(coupon_policy=CouponPolicy.ONLINE_ONLY))
    local = view_with(coupons=[coupon(store_ids=("s1",))])
    chain = view_with(coupons=[coupon(store_ids=("s1", "s2"))])
    off = ctx(online=False, offline_since_ms=T0 - HOUR)
    assert isinstance(decide_coupon_redeem(off, scoped, local, "c1"), Accepted)
    refused(decide_coupon_redeem(off, scoped, chain, "c1"), RejectReason.COUPON_NEEDS_NETWORK)
    refused(decide_coupon_redeem(off, online_only, local, "c1"), RejectReason.COUPON_NEEDS_NETWORK)


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (coupon(valid_until_ms=T0 - 1), RejectReason.COUPON_EXPIRED),
        (coupon(valid_from_ms=T0 + DAY), RejectReason.COUPON_NOT_YET_VALID),
        (coupon(store_ids=("s9",)), RejectReason.COUPON_WRONG_STORE),
        (coupon().model_copy(update={"redeem_count": 1}), RejectReason.COUPON_USED),
    ],
)
def test_coupon_refusals(state, reason) -> None:  # type: ignore[no-untyped-def]
    refused(decide_coupon_redeem(ctx(), bundle(), view_with(coupons=[state]), "c1"), reason)
    refused(decide_coupon_redeem(ctx(), bundle(), view_with(), "c1"), RejectReason.COUPON_NOT_FOUND)


def test_offline_limits_cap_unconfirmed_deductions() -> None:
    limits = OfflineLimits(
        max_unconfirmed_sessions_per_member=2, max_offline_sessions_per_member_day=5
    )
    classes = [yoga_class(f"c{i}", starts_ms=T0 + 10 * 60_000 + i) for i in range(4)]
    view = view_with(passes=[punch_pass(sessions=10)])
    pending: list = []  # type: ignore[type-arg]
    off = ctx(online=False, offline_since_ms=T0 - HOUR)
    for i in range(2):
        decision = decide_tap(
            off,
            bundle(classes=classes, offline=limits),
            view.model_copy(update={"pending": tuple(pending)}),
            class_session_id=f"c{i}",
        )
        assert isinstance(decision, Accepted)
        pending += record(decision, seq0=len(pending) + 1)
    third = decide_tap(
        off,
        bundle(classes=classes, offline=limits),
        view.model_copy(update={"pending": tuple(pending)}),
        class_session_id="c2",
    )
    refused(third, RejectReason.OFFLINE_LIMIT_REACHED)


def test_offline_daily_and_kiosk_totals() -> None:
    limits = OfflineLimits(max_offline_sessions_per_member_day=1, kiosk_max_unconfirmed_sessions=5)
    b = bundle(classes=[yoga_class()], offline=limits)
    v = view_with(passes=[punch_pass()])
    off = ctx(online=False, offline_since_ms=T0 - HOUR)
    refused(
        decide_tap(off, b, v.model_copy(update={"offline_sessions_today": 1})),
        RejectReason.OFFLINE_LIMIT_REACHED,
    )
    # The same member online is fine: the daily cap is an offline allowance.
    assert isinstance(
        decide_tap(ctx(), b, v.model_copy(update={"offline_sessions_today": 1})), Accepted
    )
    refused(decide_tap(ctx(kiosk_unconfirmed_sessions=5), b, v), RejectReason.OFFLINE_LIMIT_REACHED)


def test_offline_too_long_blocks_deductions_not_checkins() -> None:
    b = bundle(classes=[yoga_class()], offline=OfflineLimits(max_offline_hours=2))
    stale = ctx(online=False, offline_since_ms=T0 - 3 * HOUR)
    refused(decide_tap(stale, b, view_with(passes=[punch_pass()])), RejectReason.OFFLINE_TOO_LONG)
    refused(
        decide_points_redeem(stale, b, view_with(points=100), "water"),
        RejectReason.OFFLINE_TOO_LONG,
    )
    assert isinstance(decide_tap(stale, bundle(), view_with()), Accepted)


def test_reversal_undoes_signin_within_window_only_once() -> None:
    b = bundle(classes=[yoga_class()])
    view = view_with(passes=[punch_pass(sessions=10)])
    signin = decide_tap(ctx(), b, view)
    assert isinstance(signin, Accepted)
    events = record(signin)
    v2 = view.model_copy(update={"pending": tuple(events)})
    undo = decide_reversal(
        ctx(T0 + 30_000), b, v2, events[0], already_reversed=False, staff_id="staff1"
    )
    assert isinstance(undo, Accepted)
    body = undo.bodies[0]
    assert isinstance(body, Reversal) and body.sessions == 1 and body.pass_id == "p1"
    assert undo.result.sessions_left == 10
    refused(
        decide_reversal(
            ctx(T0 + 30_000), b, v2, events[0], already_reversed=True, staff_id="staff1"
        ),
        RejectReason.UNDO_NOT_ALLOWED,
    )
    refused(
        decide_reversal(
            ctx(T0 + 10 * 60_000), b, v2, events[0], already_reversed=False, staff_id="staff1"
        ),
        RejectReason.UNDO_NOT_ALLOWED,
    )
    # After the undo, the student may sign in again.
    after = [*events, kiosk_event("k1", 3, "m1", body, at_ms=T0 + 30000)]
    again = decide_tap(ctx(T0 + 60_000), b, view.model_copy(update={"pending": tuple(after)}))
    assert isinstance(again, Accepted) and again.result.sessions_left == 9


def test_every_reason_has_both_languages() -> None:
    for reason in RejectReason:
        zh, en = messages(reason)
        assert zh and en and zh != en
        assert message(reason, "en") == en and message(reason, "zh") == zh
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh)
