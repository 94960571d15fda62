"""The ledger rules on the shared models, and that every decision and the fold ask them.

Each rule is stated once (coupon usability, pass usability, spendable points, tier) in
``shared/model.py``; these tests pin each rule down on plain values, then hold the kiosk's
decisions and the fold's anomaly detection to the same answer for random inputs.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.decide import (
    Accepted,
    KioskContext,
    MemberView,
    NeedsClaim,
    Refused,
    decide_coupon_redeem,
    decide_points_redeem,
    decide_tap,
)
from shared.events import ClassSignIn, CouponRedeem
from shared.fold import AnomalyKind, apply
from shared.limits import worst_case_coupon_extra_uses
from shared.model import (
    COUPON_KINDS,
    DAY_MS,
    CouponKind,
    CouponPolicy,
    CouponState,
    LedgerBalances,
    MemberLedger,
    OfflineLimits,
    PassKind,
    PassState,
    PointsLot,
    Rules,
    SignIn,
    TierRule,
    yuan_text,
)
from shared.reasons import RejectReason
from tests.support.factories import T0, bundle, coupon, kiosk_event, member, punch_pass, yoga_class

STORES = ("s1", "s2", "s3")
stores = st.sampled_from(STORES)
store_scopes = st.lists(stores, unique=True, max_size=3).map(tuple)
offsets = st.integers(min_value=-3 * DAY_MS, max_value=3 * DAY_MS)


@st.composite
def coupons(draw: st.DrawFn) -> CouponState:
    """Any coupon around T0: any scope, validity, kind and use count."""
    start = T0 + draw(offsets)
    return CouponState(
        coupon_id="c1",
        campaign_id="camp",
        kind=draw(st.sampled_from(list(CouponKind))),
        title="coupon",
        value=draw(st.integers(0, 10_000)),
        store_ids=draw(store_scopes),
        valid_from_ms=start,
        valid_until_ms=start + draw(st.integers(0, 4 * DAY_MS)),
        redeem_count=draw(st.integers(0, 3)),
    )


@st.composite
def passes(draw: st.DrawFn) -> PassState:
    """Any pass around T0: punch or time, any scope, validity, sessions, frozen or not."""
    start = T0 + draw(offsets)
    total = draw(st.integers(0, 5))
    return PassState(
        pass_id="p1",
        kind=draw(st.sampled_from(list(PassKind))),
        name="pass",
        class_types=draw(st.lists(st.sampled_from(["yoga", "spin"]), unique=True).map(tuple)),
        store_ids=draw(store_scopes),
        valid_from_ms=start,
        valid_until_ms=start + draw(st.integers(0, 4 * DAY_MS)),
        sessions_total=total,
        sessions_used=draw(st.integers(0, total + 2)),
        frozen=draw(st.booleans()),
    )


def online(store_id: str, now_ms: int) -> KioskContext:
    return KioskContext(kiosk_id="k1", store_id=store_id, now_ms=now_ms, online=True)


# -- coupons ---------------------------------------------------------------------------------


def test_coupon_problem_order_used_then_time_then_store() -> None:
    c = coupon(store_ids=("s1",), valid_from_ms=T0, valid_until_ms=T0 + DAY_MS)
    used = c.model_copy(update={"redeem_count": 1})
    assert c.problem_at(T0, "s1") is None and c.is_usable(T0, "s1")
    assert c.problem_at(T0 + DAY_MS, "s1") is None  # the last millisecond still counts
    assert c.problem_at(T0 - 1, "s1") is RejectReason.COUPON_NOT_YET_VALID
    assert c.problem_at(T0 + DAY_MS + 1, "s1") is RejectReason.COUPON_EXPIRED
    assert c.problem_at(T0, "s2") is RejectReason.COUPON_WRONG_STORE
    assert c.problem_at(T0, None) is None  # no store given: the store is not asked
    assert used.is_used and used.problem_at(T0 - 1, "s2") is RejectReason.COUPON_USED
    assert used.validity_problem(T0, "s1") is None  # used, but valid then and there
    assert not c.is_used and not used.is_usable(T0, "s1")


@settings(max_examples=300, deadline=None)
@given(coupons(), offsets, stores)
def test_coupon_redeem_decision_is_the_coupon_rule(c: CouponState, at: int, store: str) -> None:
    """Online, the kiosk refuses exactly for the rule's reason, else asks for a claim."""
    view = MemberView(record=member(ledger=MemberLedger(coupons=(c,))))
    decision = decide_coupon_redeem(online(store, T0 + at), bundle(), view, "c1")
    problem = c.problem_at(T0 + at, store)
    if problem is None:
        assert isinstance(decision, NeedsClaim)
    else:
        assert isinstance(decision, Refused) and decision.reason is problem


@settings(max_examples=300, deadline=None)
@given(coupons(), offsets, stores)
def test_fold_flags_a_coupon_use_by_the_coupon_rule(c: CouponState, at: int, store: str) -> None:
    """A redemption that happened anyway: reused iff the coupon was used, invalid iff the
    rule's validity part objects; the use is counted either way."""
    event = kiosk_event("k1", 1, "m1", CouponRedeem(coupon_id="c1"), at_ms=T0 + at, store_id=store)
    after, anomalies = apply(MemberLedger(coupons=(c,)), event)
    kinds = {a.kind for a in anomalies}
    assert (AnomalyKind.COUPON_REUSED in kinds) == c.is_used
    invalid = c.validity_problem(T0 + at, store) is not None
    assert (AnomalyKind.COUPON_INVALID_AT_USE in kinds) == invalid
    assert after.coupons[0].redeem_count == c.redeem_count + 1 and after.coupons[0].is_used


@settings(max_examples=300, deadline=None)
@given(coupons(), offsets, stores, st.sampled_from(list(CouponPolicy)))
def test_offline_a_coupon_is_redeemed_only_where_the_offline_rule_allows(
    c: CouponState, at: int, store: str, policy: CouponPolicy
) -> None:
    """Offline (within the hours allowed): a usable coupon is redeemed without a claim in
    exactly the store ``OfflineLimits.coupon_offline_store`` names, else needs the network;
    and only that store's other kiosks count towards the worst case."""
    limits = OfflineLimits(coupon_policy=policy)
    ctx = KioskContext(kiosk_id="k1", store_id=store, now_ms=T0 + at, online=False)
    view = MemberView(record=member(ledger=MemberLedger(coupons=(c,))))
    decision = decide_coupon_redeem(ctx, bundle(offline=limits), view, "c1")
    problem = c.problem_at(T0 + at, store)
    offline_store = limits.coupon_offline_store(c)
    if problem is not None:
        assert isinstance(decision, Refused) and decision.reason is problem
    elif offline_store == store:
        assert isinstance(decision, Accepted)
    else:
        assert isinstance(decision, Refused)
        assert decision.reason is RejectReason.COUPON_NEEDS_NETWORK
    extra = worst_case_coupon_extra_uses(limits, c, {s: 3 for s in STORES})
    assert extra == (2 if offline_store is not None else 0)


def test_every_coupon_kind_has_names_a_form_label_and_screen_words() -> None:
    """The registry covers the enum: a kind without its words fails here."""
    assert set(COUPON_KINDS) == set(CouponKind)
    for kind in CouponKind:
        info = COUPON_KINDS[kind]
        assert info.name_zh and info.name_en
        assert info.form_label("zh") and info.form_label("en")
        zh, en = info.describe(20)
        assert zh.startswith(info.name_zh) and en.startswith(info.name_en)


def test_coupon_screen_words_follow_the_value_unit() -> None:
    voucher, discount, trial = (COUPON_KINDS[k] for k in ("voucher", "discount", "trial"))  # type: ignore[index]
    assert voucher.describe(2000) == ("代金券 ¥20", "Voucher ¥20")
    assert voucher.describe(1250) == ("代金券 ¥12.50", "Voucher ¥12.50")
    assert discount.describe(200) == ("折扣 8折", "Discount 20% off")
    assert discount.describe(150) == ("折扣 8.5折", "Discount 15% off")
    assert discount.describe(5) == ("折扣 9.95折", "Discount 0.5% off")
    assert discount.value_problem(0) and discount.value_problem(1000)
    assert discount.value_problem(5000) and discount.value_problem(1) is None
    assert voucher.value_problem(0) and voucher.value_problem(1) is None
    assert trial.value_problem(0) is None
    assert trial.describe(0) == ("体验券", "Free trial")
    assert (
        voucher.form_label("zh") == "代金券（分）" and voucher.form_label("en") == "Voucher (fen)"
    )
    assert trial.form_label("en") == "Free trial"


def test_voucher_words_name_the_minimum_spend_and_money_is_exact() -> None:
    voucher, discount = COUPON_KINDS[CouponKind.VOUCHER], COUPON_KINDS[CouponKind.DISCOUNT]
    assert voucher.describe(2000, 10000) == ("代金券 ¥20 满¥100可用", "Voucher ¥20 on ¥100 or more")
    assert voucher.describe(2000, 9950) == (
        "代金券 ¥20 满¥99.50可用",
        "Voucher ¥20 on ¥99.50 or more",
    )
    assert voucher.describe(1, 0) == ("代金券 ¥0.01", "Voucher ¥0.01")
    assert voucher.describe(500_000) == ("代金券 ¥5,000", "Voucher ¥5,000")
    # Every permille writes exactly (no float rounding): zh 折 and en % off add up to 1000.
    for value in range(1, 1000):
        zh, en = discount.describe(value)
        off = Decimal(en.removeprefix("Discount ").removesuffix("% off")) * 10
        pay = Decimal(zh.removeprefix("折扣 ").removesuffix("折")) * 100
        assert off == value and pay == 1000 - value
    assert discount.describe(155) == ("折扣 8.45折", "Discount 15.5% off")
    assert yuan_text(0) == "¥0" and yuan_text(-5) == "-¥0.05" and yuan_text(123_456) == "¥1,234.56"


def test_a_coupon_describes_itself_with_its_minimum_spend() -> None:
    coupon = CouponState(
        coupon_id="c1",
        campaign_id="camp",
        kind=CouponKind.VOUCHER,
        title="t",
        value=2000,
        min_spend_fen=10000,
        valid_from_ms=0,
        valid_until_ms=1,
    )
    assert coupon.describe() == ("代金券 ¥20 满¥100可用", "Voucher ¥20 on ¥100 or more")


# -- passes ----------------------------------------------------------------------------------


def test_pass_problem_order() -> None:
    p = punch_pass(sessions=2, store_ids=("s1",), valid_from_ms=T0, valid_until_ms=T0 + DAY_MS)
    assert p.problem_at(T0, store_id="s1", class_type="yoga") is None
    frozen = p.model_copy(update={"frozen": True})
    assert frozen.problem_at(T0 - 1, store_id="s1") is RejectReason.PASS_FROZEN
    assert frozen.problem_at(T0, store_id="s2") is RejectReason.NO_VALID_PASS  # not for here
    assert p.problem_at(T0 - 1) is RejectReason.PASS_NOT_YET_ACTIVE
    assert p.problem_at(T0 + DAY_MS + 1) is RejectReason.PASS_EXPIRED
    assert p.problem_at(T0, store_id="s2") is RejectReason.NO_VALID_PASS
    assert p.problem_at(T0, class_type="spin") is RejectReason.NO_VALID_PASS
    empty = p.model_copy(update={"sessions_used": 2})
    assert empty.problem_at(T0) is RejectReason.NO_SESSIONS_LEFT
    assert empty.problem_at(T0, sessions=0) is None  # validity only
    assert p.problem_at(T0, sessions=3) is RejectReason.NO_SESSIONS_LEFT
    assert (p.sessions_short(3), empty.sessions_short(1), p.sessions_short(0)) == (1, 1, 0)
    overdrawn = p.model_copy(update={"sessions_used": 3})  # -1 left: one use is one short
    assert overdrawn.sessions_short(1) == 1 and not overdrawn.is_usable(T0)


def test_a_time_pass_never_runs_out_of_sessions() -> None:
    p = PassState(
        pass_id="t1",
        kind=PassKind.TIME,
        name="Month",
        valid_from_ms=T0,
        valid_until_ms=T0 + DAY_MS,
    )
    assert p.sessions_short(1) == 0 and p.is_usable(T0, store_id="s9", class_type="any")


@settings(max_examples=300, deadline=None)
@given(passes(), offsets)
def test_class_signin_decision_is_the_pass_rule(p: PassState, at: int) -> None:
    """With one pass and one open class, the kiosk signs in exactly when the rule allows,
    and refuses with the rule's reason otherwise."""
    now = T0 + at
    session = yoga_class(starts_ms=now + 10 * 60_000)
    view = MemberView(record=member(ledger=MemberLedger(passes=(p,))))
    decision = decide_tap(
        online("s1", now), bundle(classes=(session,)), view, class_session_id="yoga-0900"
    )
    problem = p.problem_at(now, store_id="s1", class_type="yoga")
    if problem is None:
        assert isinstance(decision, Accepted) and decision.result.pass_id == "p1"
    else:
        assert isinstance(decision, Refused) and decision.reason is problem


@settings(max_examples=300, deadline=None)
@given(passes(), offsets, stores, st.sampled_from(["yoga", "spin"]), st.integers(0, 1))
def test_fold_flags_a_signin_by_the_pass_rule(
    p: PassState, at: int, store: str, class_type: str, sessions: int
) -> None:
    body = ClassSignIn(class_session_id="x", class_type=class_type, pass_id="p1", sessions=sessions)
    event = kiosk_event("k1", 1, "m1", body, at_ms=T0 + at, store_id=store)
    after, anomalies = apply(MemberLedger(passes=(p,)), event)
    by_kind = {a.kind: a for a in anomalies}
    invalid = p.problem_at(T0 + at, store_id=store, class_type=class_type, sessions=0)
    assert (AnomalyKind.PASS_INVALID_AT_USE in by_kind) == (invalid is not None)
    short = p.sessions_short(sessions)
    overdrawn = by_kind.get(AnomalyKind.PASS_OVERDRAWN)
    assert (overdrawn.amount if overdrawn else 0) == short
    assert after.passes[0].sessions_used == p.sessions_used + sessions


def test_fold_names_why_a_pass_was_invalid() -> None:
    p = punch_pass(store_ids=("s1",), class_types=("yoga",))
    for store, class_type, words in (
        ("s2", "yoga", "not valid in store s2"),
        ("s1", "spin", "not for class type spin"),
    ):
        body = ClassSignIn(class_session_id="x", class_type=class_type, pass_id="p1")
        _, anomalies = apply(
            MemberLedger(passes=(p,)), kiosk_event("k1", 1, "m1", body, store_id=store)
        )
        assert [a.detail for a in anomalies] == [f"{p.name}: {words}"]


# -- points ----------------------------------------------------------------------------------


lots = st.lists(
    st.builds(
        PointsLot,
        lot_id=st.just("l"),
        earned_ms=st.integers(T0 - 400 * DAY_MS, T0),
        expires_ms=st.integers(T0 - 10 * DAY_MS, T0 + 60 * DAY_MS),
        amount=st.integers(0, 100),
        remaining=st.integers(0, 100),
    ),
    max_size=12,
).map(tuple)


@settings(max_examples=300, deadline=None)
@given(lots, st.integers(0, 300), offsets, st.integers(1, 400))
def test_spendable_points_are_live_lots_minus_debt(
    held: tuple[PointsLot, ...], debt: int, at: int, cost: int
) -> None:
    now = T0 + at
    ledger = MemberLedger(points_lots=held, points_debt=debt)
    live = sum(lot.remaining for lot in held if lot.live_at(now))
    assert ledger.points_held(now) == live  # the inlined sum is the lot rule
    assert ledger.points_available(now) == live - debt
    assert ledger.can_spend(cost, now) == (live - debt >= cost)
    horizon = now + 30 * DAY_MS
    soon = [lot.remaining for lot in held if lot.live_at(now) and not lot.live_at(horizon)]
    assert ledger.points_expiring(now, horizon) == sum(soon)
    refusal = decide_points_redeem(
        online("s1", now),
        bundle(),
        MemberView(record=member(ledger=ledger)),
        "towel",
    )
    reward = bundle().reward("towel")
    assert reward is not None
    insufficient = (
        isinstance(refusal, Refused) and refusal.reason is RejectReason.INSUFFICIENT_POINTS
    )
    assert insufficient == (not ledger.can_spend(reward.points_cost, now))


def test_balances_read_from_a_stored_ledger_skip_only_the_signins() -> None:
    """Reports parse stored ledgers as LedgerBalances: same balances, same rules."""
    lot = PointsLot(lot_id="l", earned_ms=T0, expires_ms=T0 + DAY_MS, amount=5, remaining=5)
    signin = SignIn(class_session_id="y", pass_id="p1", event_id="e1", at_ms=T0)
    full = MemberLedger(
        points_lots=(lot,),
        points_debt=2,
        passes=(punch_pass(),),
        coupons=(coupon(),),
        signins=(signin,),
        checkins=3,
    )
    balances = LedgerBalances.model_validate_json(full.model_dump_json())
    assert balances.model_dump() == full.model_dump(exclude={"signins"})
    assert balances.points_available(T0) == full.points_available(T0) == 3
    with pytest.raises(ValidationError):  # the ledger itself still refuses unknown fields
        MemberLedger.model_validate_json('{"surprise": 1}')


def test_a_lot_expires_at_its_expiry() -> None:
    lot = PointsLot(lot_id="l", earned_ms=T0, expires_ms=T0 + 5, amount=1, remaining=1)
    assert lot.live_at(T0 + 4) and not lot.live_at(T0 + 5)


# -- tiers -----------------------------------------------------------------------------------


def _earned(points: int, *, days_ago: int = 1) -> MemberLedger:
    at = T0 - days_ago * DAY_MS
    lot = PointsLot(
        lot_id="l", earned_ms=at, expires_ms=at + 365 * DAY_MS, amount=points, remaining=0
    )
    return MemberLedger(points_lots=(lot,))


def test_tier_is_the_highest_threshold_reached_within_the_window() -> None:
    rules = Rules()  # basic 0, silver 500, gold 2000; a 365-day window
    assert rules.tier_reached(_earned(499), T0).name == "basic"
    assert rules.tier_reached(_earned(500), T0).name == "silver"
    assert rules.tier_reached(_earned(5000), T0).name == "gold"
    assert rules.tier_reached(_earned(5000, days_ago=366), T0).name == "basic"
    assert rules.tier(rules.tier_reached(_earned(600), T0).name).multiplier_permille == 1200


def test_below_every_threshold_is_the_lowest_tier_whatever_the_listing_order() -> None:
    """The coordinator's copy used to fall back to the first listed tier."""
    rules = Rules(
        tiers=(
            TierRule(name="gold", min_points_earned=2000),
            TierRule(name="bronze", min_points_earned=100),
            TierRule(name="silver", min_points_earned=500),
        )
    )
    assert rules.tier_reached(_earned(50), T0).name == "bronze"
    assert rules.tier_reached(_earned(700), T0).name == "silver"
    assert rules.tier("unknown").name == "bronze"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 3000), min_size=1, max_size=5), st.integers(0, 4000))
def test_tier_reached_is_the_largest_threshold_not_above_the_earnings(
    thresholds: list[int], earned: int
) -> None:
    rules = Rules(
        tiers=tuple(TierRule(name=f"t{i}", min_points_earned=m) for i, m in enumerate(thresholds))
    )
    reached = [m for m in thresholds if m <= earned]
    expected = max(reached) if reached else min(thresholds)
    assert rules.tier_reached(_earned(earned), T0).min_points_earned == expected
