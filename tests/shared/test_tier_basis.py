"""Tiers earned on points, spend or top-ups (``Rules.tier_basis``).

Random histories of money facts (top-ups, refunds, stored-value spends inside and outside a
purchase, purchases, pass sales and extensions paid by every method, check-in points) are
folded centrally and, for the kiosk's own stored-value spends, seen through the kiosk's
``MemberView`` (snapshot + pending events, decided with ``decide_stored_value_spend``). The
tier judged on either ledger must equal the tier judged on an independent reference sum over
the facts themselves, for every basis; the points basis must ignore money entirely.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.decide import Accepted, KioskContext, MemberView, decide_stored_value_spend
from shared.events import (
    CheckIn,
    Event,
    EventBody,
    PassIssue,
    PassUpdate,
    Purchase,
    PurchaseMethod,
    StoredValueRefund,
    StoredValueSpend,
    StoredValueTopUp,
)
from shared.fold import fold_sorted
from shared.model import DAY_MS, MemberLedger, PassKind, PassState, Rules, TierBasis, TierRule
from shared.money import MoneyRules, PaymentMethod, StoredValueLimits
from tests.support.factories import T0, bundle, hq_event, kiosk_event, member

TIERS = (
    TierRule(name="basic", min_points_earned=0),
    TierRule(name="silver", min_points_earned=5_000),
    TierRule(name="gold", min_points_earned=50_000, multiplier_permille=1500),
)
METHODS = st.sampled_from([None, *PurchaseMethod])


@dataclass(frozen=True)
class Fact:
    """What a generated fact should add to each basis (the reference, not the fold)."""

    at_ms: int
    points: int = 0
    spend: int = 0
    topup: int = 0


def _paid_apart(method: PurchaseMethod | None) -> bool:
    return method is not None and method is not PurchaseMethod.STORED_VALUE


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Event], list[Fact]]:
    """Random hq and kiosk facts over the last 500 days, with what each counts for."""
    n = draw(st.integers(min_value=0, max_value=25))
    backs = draw(st.lists(st.integers(1, 500 * DAY_MS), min_size=n, max_size=n))
    times = sorted(backs, reverse=True)  # oldest first: a pass is sold before it is extended
    events: list[Event] = []
    facts: list[Fact] = []
    passes: list[str] = []
    for i, back in enumerate(times):
        at = T0 - back
        fen = draw(st.integers(min_value=1, max_value=30_000))
        kind = draw(st.sampled_from(["topup", "refund", "spend", "purchase", "pass", "ext", "in"]))
        body: EventBody
        fact = Fact(at_ms=at)
        if kind == "topup":
            points = draw(st.integers(0, 50))
            body = StoredValueTopUp(
                paid_fen=fen, method=PaymentMethod.CASH, staff_user="hq", points=points
            )
            fact = Fact(at_ms=at, points=points, topup=fen)
        elif kind == "refund":
            body = StoredValueRefund(
                amount_fen=fen, method=PaymentMethod.CASH, staff_user="hq", reason="r"
            )
            fact = Fact(at_ms=at, topup=-fen)
        elif kind == "spend":
            in_purchase = draw(st.booleans())
            body = StoredValueSpend(amount_fen=fen, purchase_id="p1" if in_purchase else None)
            fact = Fact(at_ms=at, spend=0 if in_purchase else fen)
        elif kind == "purchase":
            points = draw(st.integers(0, 50))
            body = Purchase(
                purchase_id=f"p{i}",
                list_fen=fen,
                total_fen=fen,
                method=draw(st.sampled_from(list(PurchaseMethod))),
                points=points,
                staff_user="hq",
            )
            fact = Fact(at_ms=at, points=points, spend=fen)
        elif kind == "pass" or (kind == "ext" and not passes):
            method = draw(METHODS)
            pass_id = f"pass{i}"
            passes.append(pass_id)
            state = PassState(
                pass_id=pass_id,
                kind=PassKind.TIME,
                name="月卡",
                valid_from_ms=at,
                valid_until_ms=at + 30 * DAY_MS,
                price_fen=fen,
            )
            body = PassIssue(pass_state=state, payment_method=method)
            fact = Fact(at_ms=at, spend=fen if _paid_apart(method) else 0)
        elif kind == "ext":
            method = draw(METHODS)
            body = PassUpdate(
                pass_id=draw(st.sampled_from(passes)),
                staff_user="hq",
                valid_until_ms=at + 60 * DAY_MS,
                price_fen=fen,
                payment_method=method,
            )
            fact = Fact(at_ms=at, spend=fen if _paid_apart(method) else 0)
        else:
            points = draw(st.integers(0, 50))
            events.append(kiosk_event("k1", i + 1, "m1", CheckIn(points=points), at_ms=at))
            facts.append(Fact(at_ms=at, points=points))
            continue
        events.append(hq_event(i + 1, "m1", body, at_ms=at))
        facts.append(fact)
    return events, facts


def reference_earned(facts: list[Fact], basis: TierBasis, since_ms: int) -> int:
    """What tiers count, summed straight from the facts."""
    live = [f for f in facts if f.at_ms >= since_ms]
    if basis is TierBasis.SPEND:
        return sum(f.spend for f in live)
    if basis is TierBasis.TOPUPS:
        return max(0, sum(f.topup for f in live))
    return sum(f.points for f in live)


def reference_tier(earned: int) -> str:
    return max(
        (t for t in TIERS if earned >= t.min_points_earned), key=lambda t: t.min_points_earned
    ).name


@settings(max_examples=150, deadline=None)
@given(
    history=histories(),
    basis=st.sampled_from(list(TierBasis)),
    window_days=st.integers(min_value=1, max_value=400),
)
def test_the_fold_judges_the_tier_like_the_facts_on_every_basis(
    history: tuple[list[Event], list[Fact]], basis: TierBasis, window_days: int
) -> None:
    events, facts = history
    rules = Rules(tiers=TIERS, tier_window_days=window_days, tier_basis=basis)
    ledger, _ = fold_sorted(MemberLedger(), events)
    since = T0 - window_days * DAY_MS
    earned = reference_earned(facts, basis, since)
    assert rules.tier_earned(ledger, T0) == earned
    assert rules.tier_reached(ledger, T0).name == reference_tier(earned)
    # The points basis is today's behaviour: the points earned in the window, money aside.
    points_rules = Rules(tiers=TIERS, tier_window_days=window_days)
    assert points_rules.tier_basis is TierBasis.POINTS
    assert points_rules.tier_earned(ledger, T0) == ledger.points_earned_since(since)
    assert points_rules.tier_earned(ledger, T0) == reference_earned(facts, TierBasis.POINTS, since)


LIMITS = StoredValueLimits(
    max_unconfirmed_fen_per_member=1_000_000,
    max_offline_spend_fen=100_000,
    max_consecutive_offline_spends=100,
    kiosk_max_unconfirmed_fen=1_000_000,
)


@settings(max_examples=100, deadline=None)
@given(
    topup=st.integers(min_value=10_000, max_value=200_000),
    spends=st.lists(st.integers(min_value=1, max_value=20_000), max_size=8),
    basis=st.sampled_from(list(TierBasis)),
    online=st.booleans(),
)
def test_a_kiosk_deciding_spends_sees_the_tier_the_coordinator_folds(
    topup: int, spends: list[int], basis: TierBasis, online: bool
) -> None:
    """The kiosk's view (snapshot + its own pending spends) and the central fold of the same
    facts judge the same tier, and both match the reference sum."""
    rules = Rules(tiers=TIERS, tier_basis=basis, money=MoneyRules(offline=LIMITS))
    rule_bundle = bundle().model_copy(update={"rules": rules})
    top = hq_event(1, "m1", StoredValueTopUp(paid_fen=topup, method=PaymentMethod.CASH,
                                             staff_user="hq"), at_ms=T0 - DAY_MS)  # fmt: skip
    snapshot, _ = fold_sorted(MemberLedger(), [top])
    pending: list[Event] = []
    facts = [Fact(at_ms=T0 - DAY_MS, topup=topup)]
    unconfirmed = 0
    for i, amount in enumerate(spends):
        now = T0 + i * 60_000
        ctx = KioskContext(
            kiosk_id="k1",
            store_id="s1",
            now_ms=now,
            online=online,
            offline_since_ms=None if online else T0,
            kiosk_unconfirmed_fen=unconfirmed,
        )
        view = MemberView(record=member(ledger=snapshot), pending=tuple(pending))
        decision = decide_stored_value_spend(ctx, rule_bundle, view, amount)
        if isinstance(decision, Accepted):
            for body in decision.bodies:
                pending.append(
                    kiosk_event("k1", len(pending) + 1, "m1", body, at_ms=now, offline=not online)
                )
            facts.append(Fact(at_ms=now, spend=amount))
            unconfirmed += amount
    end = T0 + len(spends) * 60_000
    kiosk_view = MemberView(record=member(ledger=snapshot), pending=tuple(pending)).ledger()
    central, _ = fold_sorted(MemberLedger(), [top, *pending])
    earned = reference_earned(facts, basis, end - rules.tier_window_days * DAY_MS)
    assert rules.tier_earned(kiosk_view, end) == rules.tier_earned(central, end) == earned
    assert rules.tier_reached(kiosk_view, end) == rules.tier_reached(central, end)
    assert rules.tier_reached(central, end).name == reference_tier(earned)


def test_spend_and_topup_thresholds_promote_and_window_drops() -> None:
    """Examples: a ¥300 purchase makes silver on spend, not on points; top-ups count the
    principal paid, never the bonus; a refund takes principal back; old money leaves."""
    buy = Purchase(purchase_id="p1", list_fen=30_000, total_fen=30_000,
                   method=PurchaseMethod.CARD, staff_user="hq")  # fmt: skip
    top = StoredValueTopUp(paid_fen=100_000, bonus_fen=10_000, method=PaymentMethod.CASH,
                           staff_user="hq")  # fmt: skip
    back = StoredValueRefund(amount_fen=60_000, method=PaymentMethod.CASH, staff_user="hq",
                             reason="moving")  # fmt: skip
    old = hq_event(1, "m1", top, at_ms=T0 - 400 * DAY_MS)
    events = [old, hq_event(2, "m1", buy, at_ms=T0 - DAY_MS), hq_event(3, "m1", top, at_ms=T0)]
    ledger, _ = fold_sorted(MemberLedger(), events)
    spend = Rules(tiers=TIERS, tier_basis=TierBasis.SPEND)
    topups = Rules(tiers=TIERS, tier_basis=TierBasis.TOPUPS)
    points = Rules(tiers=TIERS)
    assert spend.tier_reached(ledger, T0).name == "silver"
    assert points.tier_reached(ledger, T0).name == "basic"
    assert topups.tier_earned(ledger, T0) == 100_000  # the 400-day-old top-up is out
    assert topups.tier_reached(ledger, T0).name == "gold"
    refunded, _ = fold_sorted(ledger, [hq_event(4, "m1", back, at_ms=T0 + 1)])
    assert topups.tier_earned(refunded, T0 + 1) == 40_000
    assert topups.tier_reached(refunded, T0 + 1).name == "silver"
    assert Rules().tier_basis is TierBasis.POINTS
