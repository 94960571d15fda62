"""Stored value: the money rules, the fold against a reference, and the offline bound.

The property test plays random interleavings of top-ups (HQ, online), kiosk spends online
and offline (decided with ``shared.decide.decide_stored_value_spend`` on ``snapshot + own
unconfirmed events``), central charges, refunds and bonus expiries across a small fleet
serving two members. At every step the central fold must agree with an independent
reference fold and keep the money invariant; at the end the overdraw must stay within
``shared.money.worst_case_stored_value_overspend``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.decide import (
    Accepted,
    KioskContext,
    MemberView,
    Refused,
    decide_stored_value_spend,
)
from shared.events import (
    Adjustment,
    BonusExpire,
    Event,
    StoredValueRefund,
    StoredValueSpend,
    StoredValueTopUp,
    stored_value_spent,
)
from shared.fold import AnomalyKind, apply, fold_sorted
from shared.model import MemberLedger
from shared.money import (
    DAY_MS,
    MoneyRules,
    PaymentMethod,
    SpendOrder,
    StoredValue,
    StoredValueLimits,
    TopUpTier,
    split_spend,
    top_up,
    topup_problem,
    worst_case_stored_value_overspend,
)
from shared.reasons import RejectReason
from tests.support.factories import HOUR, T0, bundle, hq_event, kiosk_event, member

TIERS = (
    TopUpTier(min_paid_fen=50_000, bonus_fen=5_000, bonus_expiry_days=2),
    TopUpTier(min_paid_fen=100_000, bonus_fen=15_000),
)
LIMITS = StoredValueLimits(
    max_unconfirmed_fen_per_member=6_000,
    max_offline_spend_fen=3_000,
    max_consecutive_offline_spends=2,
    kiosk_max_unconfirmed_fen=10_000,
)
RULES = MoneyRules(topup_tiers=TIERS, member_cap_fen=300_000, offline=LIMITS)
BUNDLE = bundle(money=RULES, points_per_checkin=0)


def topup_event(
    seq: int, paid: int, bonus: int = 0, *, at_ms: int = T0, expires: int | None = None
) -> Event:
    body = StoredValueTopUp(
        paid_fen=paid,
        bonus_fen=bonus,
        bonus_expires_ms=expires,
        method=PaymentMethod.WECHAT,
        staff_user="hq-anna",
    )
    return hq_event(seq, "m1", body, at_ms=at_ms)


# -- the rules ----------------------------------------------------------------------------------


def test_the_highest_tier_reached_gives_the_bonus() -> None:
    assert RULES.bonus_for(49_999, T0) == (0, None)
    assert RULES.bonus_for(50_000, T0) == (5_000, T0 + 2 * DAY_MS)
    assert RULES.bonus_for(250_000, T0) == (15_000, None)


def test_bonus_first_takes_the_soonest_expiring_bonus_then_principal() -> None:
    value = top_up(StoredValue(), "a", 10_000, 1_000, T0, None)
    value = top_up(value, "b", 1, 500, T0, T0 + DAY_MS)
    after, split = split_spend(value, 1_200, T0 + 1, SpendOrder.BONUS_FIRST)
    assert (split.bonus_fen, split.principal_fen, split.short_fen) == (1_200, 0, 0)
    # The expiring lot went first.
    assert [lot.remaining for lot in after.bonus_lots] == [300, 0]
    after, split = split_spend(after, 500, T0 + 2, SpendOrder.BONUS_FIRST)
    assert (split.bonus_fen, split.principal_fen) == (300, 200)


def test_principal_first_keeps_the_bonus_for_last() -> None:
    value = top_up(StoredValue(), "a", 1_000, 500, T0, None)
    after, split = split_spend(value, 1_200, T0, SpendOrder.PRINCIPAL_FIRST)
    assert (split.principal_fen, split.bonus_fen, split.short_fen) == (1_000, 200, 0)
    assert after.principal_fen == 0 and after.bonus_fen() == 300


def test_an_expired_bonus_is_not_spent_and_an_overdraw_is_reported() -> None:
    value = top_up(StoredValue(), "a", 100, 900, T0, T0 + DAY_MS)
    after, split = split_spend(value, 500, T0 + DAY_MS, SpendOrder.BONUS_FIRST)
    assert (split.bonus_fen, split.principal_fen, split.short_fen) == (0, 500, 400)
    assert after.principal_fen == -400


def test_the_cap_counts_principal_across_stores() -> None:
    value = top_up(StoredValue(), "a", 250_000, 15_000, T0, None)
    assert topup_problem(RULES, value, 50_000) is None
    assert topup_problem(RULES, value, 50_001) == "over_member_cap"
    assert topup_problem(RULES, value, 0) == "amount_not_positive"
    assert topup_problem(MoneyRules(max_topup_fen=1_000), StoredValue(), 1_001) == "amount_over_max"


def test_fold_refund_returns_principal_only_and_flags_more() -> None:
    events = [
        topup_event(1, 10_000, 1_000),
        hq_event(
            2,
            "m1",
            StoredValueRefund(
                amount_fen=10_500, method=PaymentMethod.CASH, staff_user="hq", reason="closing"
            ),
            at_ms=T0 + 1,
        ),
    ]
    ledger, anomalies = fold_sorted(MemberLedger(), events)
    assert ledger.stored_value.principal_fen == -500
    assert ledger.stored_value.bonus_fen() == 1_000
    assert [(a.kind, a.amount) for a in anomalies] == [(AnomalyKind.STORED_VALUE_OVERDRAWN, 500)]


def test_an_adjustment_forgives_an_overdraw() -> None:
    events = [
        topup_event(1, 1_000),
        kiosk_event("k1", 1, "m1", StoredValueSpend(amount_fen=1_500), at_ms=T0 + 1),
        hq_event(
            2,
            "m1",
            Adjustment(staff_user="hq", reason="forgive", principal_delta_fen=500),
            at_ms=T0 + 2,
        ),
    ]
    ledger, anomalies = fold_sorted(MemberLedger(), events)
    assert [a.amount for a in anomalies] == [500]
    assert ledger.stored_value.principal_fen == 0
    assert ledger.stored_value.adjusted_fen == 500


# -- the kiosk's decision -----------------------------------------------------------------------


def _view(balance: int, pending: tuple[Event, ...] = ()) -> MemberView:
    ledger, _ = fold_sorted(MemberLedger(), [topup_event(1, balance)])
    return MemberView(record=member(ledger=ledger), pending=pending)


def _ctx(*, online: bool = True, kiosk_fen: int = 0) -> KioskContext:
    return KioskContext(
        kiosk_id="k1",
        store_id="s1",
        now_ms=T0 + 10,
        online=online,
        offline_since_ms=None if online else T0,
        kiosk_unconfirmed_fen=kiosk_fen,
    )


def _reason(decision: object) -> RejectReason | None:
    return decision.reason if isinstance(decision, Refused) else None


@pytest.mark.parametrize(
    ("amount", "online", "kiosk_fen", "reason"),
    [
        (0, True, 0, RejectReason.AMOUNT_INVALID),
        (-5, True, 0, RejectReason.AMOUNT_INVALID),
        (RULES.max_spend_fen + 1, True, 0, RejectReason.AMOUNT_INVALID),
        (20_001, True, 0, RejectReason.INSUFFICIENT_BALANCE),
        (6_001, True, 0, RejectReason.OFFLINE_LIMIT_REACHED),
        (2_000, True, 9_000, RejectReason.OFFLINE_LIMIT_REACHED),
        (3_001, False, 0, RejectReason.OFFLINE_LIMIT_REACHED),
        (3_000, False, 0, None),
        (6_000, True, 0, None),
    ],
)
def test_spend_decision(
    amount: int, online: bool, kiosk_fen: int, reason: RejectReason | None
) -> None:
    decision = decide_stored_value_spend(
        _ctx(online=online, kiosk_fen=kiosk_fen), BUNDLE, _view(20_000), amount
    )
    assert _reason(decision) == reason
    if reason is None:
        assert isinstance(decision, Accepted)
        assert decision.result.sv_balance_fen == 20_000 - amount


def test_consecutive_offline_spends_are_capped() -> None:
    pending = tuple(
        kiosk_event("k1", i, "m1", StoredValueSpend(amount_fen=100), at_ms=T0 + i, offline=True)
        for i in (1, 2)
    )
    decision = decide_stored_value_spend(_ctx(online=False), BUNDLE, _view(20_000, pending), 100)
    assert _reason(decision) is RejectReason.OFFLINE_LIMIT_REACHED
    online = decide_stored_value_spend(_ctx(online=True), BUNDLE, _view(20_000, pending), 100)
    assert isinstance(online, Accepted)


# -- the reference fold -------------------------------------------------------------------------


@dataclass
class RefValue:
    """An independent, plain model of one member's stored value."""

    principal: int = 0
    lots: dict[str, list[int | None]] = field(default_factory=dict)
    """lot id -> [expires_ms or None, remaining]"""
    expired: int = 0

    def apply(self, event: Event) -> None:
        b, at = event.body, event.hlc_ms
        if isinstance(b, StoredValueTopUp):
            self.principal += b.paid_fen
            if b.bonus_fen:
                self.lots[event.event_id] = [b.bonus_expires_ms, b.bonus_fen]
        elif isinstance(b, StoredValueSpend):
            need = b.amount_fen
            if b.order is SpendOrder.PRINCIPAL_FIRST:
                take = min(need, max(0, self.principal))
                self.principal -= take
                need -= take
            live = [
                (lid, lot)
                for lid, lot in self.lots.items()
                if lot[1] and (lot[0] is None or lot[0] > at)  # type: ignore[operator]
            ]
            live.sort(key=lambda x: (x[1][0] is None, x[1][0] or 0, x[0]))
            for _, lot in live:
                take = min(need, lot[1])  # type: ignore[type-var]
                lot[1] -= take  # type: ignore[operator]
                need -= take
            self.principal -= need
        elif isinstance(b, StoredValueRefund):
            self.principal -= b.amount_fen
        elif isinstance(b, BonusExpire):
            lot = self.lots.pop(b.lot_id, None)
            if lot is not None:
                self.expired += lot[1]  # type: ignore[operator]

    def balance(self) -> int:
        return self.principal + sum(lot[1] for lot in self.lots.values())  # type: ignore[misc]


# -- the fleet ----------------------------------------------------------------------------------

MEMBERS = ("m1", "m2")


@dataclass
class Kiosk:
    kiosk_id: str
    online: bool = True
    journal: list[Event] = field(default_factory=list)
    delivered: int = 0
    snapshots: dict[str, MemberLedger] = field(default_factory=dict)
    included: int = 0

    def pending(self, member_id: str | None = None) -> tuple[Event, ...]:
        return tuple(
            e
            for e in self.journal[self.included :]
            if member_id is None or e.member_id == member_id
        )

    def view(self, member_id: str) -> MemberView:
        ledger = self.snapshots.get(member_id, MemberLedger())
        return MemberView(record=member(member_id, ledger=ledger), pending=self.pending(member_id))


@dataclass
class Fleet:
    kiosks: list[Kiosk]
    central: list[Event] = field(default_factory=list)
    hq_seq: int = 0

    def ledger(self, member_id: str) -> MemberLedger:
        ledger, _ = fold_sorted(
            MemberLedger(), [e for e in self.central if e.member_id == member_id]
        )
        return ledger

    def hq(self, member_id: str, body: object, now: int) -> None:
        self.hq_seq += 1
        self.central.append(hq_event(self.hq_seq, member_id, body, at_ms=now))  # type: ignore[arg-type]


def check_invariant(fleet: Fleet) -> None:
    """Central balances agree with the reference fold, and money is conserved."""
    topped = bonus = spent = refunded = expired = balances = 0
    for member_id in MEMBERS:
        events = sorted((e for e in fleet.central if e.member_id == member_id), key=Event.sort_key)
        ref = RefValue()
        for event in events:
            ref.apply(event)
            b = event.body
            if isinstance(b, StoredValueTopUp):
                topped, bonus = topped + b.paid_fen, bonus + b.bonus_fen
            elif isinstance(b, StoredValueSpend):
                spent += b.amount_fen
            elif isinstance(b, StoredValueRefund):
                refunded += b.amount_fen
        value = fleet.ledger(member_id).stored_value
        assert value.principal_fen == ref.principal
        assert value.balance_fen() == ref.balance()
        assert value.bonus_expired_fen == ref.expired
        expired += ref.expired
        balances += value.balance_fen()
    assert balances == topped + bonus - spent - refunded - expired


def run_fleet(n_kiosks: int, actions: list[tuple[str, int, int]]) -> int:
    """Play the actions; returns the largest principal debt any member ends with."""
    fleet = Fleet([Kiosk(f"k{i}") for i in range(n_kiosks)])
    now = T0
    for member_id in MEMBERS:  # an opening balance every kiosk knows
        fleet.hq(
            member_id,
            StoredValueTopUp(paid_fen=8_000, method=PaymentMethod.CASH, staff_user="hq"),
            now,
        )
    for kiosk in fleet.kiosks:
        kiosk.snapshots = {m: fleet.ledger(m) for m in MEMBERS}
    for action, index, amount in actions:
        now += 3 * HOUR
        kiosk = fleet.kiosks[index % n_kiosks]
        member_id = MEMBERS[(index // n_kiosks) % len(MEMBERS)]
        central = fleet.ledger(member_id).stored_value
        if action == "spend":
            ctx = KioskContext(
                kiosk_id=kiosk.kiosk_id,
                store_id="s1",
                now_ms=now,
                online=kiosk.online,
                offline_since_ms=None if kiosk.online else now - HOUR,
                kiosk_unconfirmed_fen=sum(stored_value_spent(e) for e in kiosk.pending()),
            )
            decision = decide_stored_value_spend(ctx, BUNDLE, kiosk.view(member_id), amount)
            if isinstance(decision, Accepted):
                for body in decision.bodies:
                    kiosk.journal.append(
                        kiosk_event(
                            kiosk.kiosk_id,
                            len(kiosk.journal) + 1,
                            member_id,
                            body,
                            at_ms=now,
                            offline=not kiosk.online,
                        )
                    )
        elif action == "topup":
            paid = amount * 25
            if topup_problem(RULES, central, paid) is None:
                bonus, expires = RULES.bonus_for(paid, now)
                fleet.hq(
                    member_id,
                    StoredValueTopUp(
                        paid_fen=paid,
                        bonus_fen=bonus,
                        bonus_expires_ms=expires,
                        method=PaymentMethod.CASH,
                        staff_user="hq",
                    ),
                    now,
                )
        elif action == "charge" and central.available_fen(now) >= amount:
            fleet.hq(member_id, StoredValueSpend(amount_fen=amount, purpose="purchase"), now)
        elif action == "refund" and min(amount, central.principal_fen) > 0:
            fleet.hq(
                member_id,
                StoredValueRefund(
                    amount_fen=min(amount, central.principal_fen),
                    method=PaymentMethod.CASH,
                    staff_user="hq",
                    reason="member asked",
                ),
                now,
            )
        elif action == "expire":
            for lot in central.expired_lots(now):
                fleet.hq(member_id, BonusExpire(lot_id=lot.lot_id), now)
        elif action == "toggle":
            kiosk.online = not kiosk.online
        elif action == "deliver" and kiosk.online:
            fleet.central.extend(kiosk.journal[kiosk.delivered :])
            kiosk.delivered = len(kiosk.journal)
        elif action == "snapshot" and kiosk.online:
            kiosk.snapshots = {m: fleet.ledger(m) for m in MEMBERS}
            kiosk.included = kiosk.delivered
        check_invariant(fleet)
    for kiosk in fleet.kiosks:
        fleet.central.extend(kiosk.journal[kiosk.delivered :])
    check_invariant(fleet)
    return max(max(0, -fleet.ledger(m).stored_value.principal_fen) for m in MEMBERS)


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "spend",
                "spend",
                "spend",
                "topup",
                "charge",
                "refund",
                "expire",
                "toggle",
                "deliver",
                "snapshot",
            ]
        ),
        st.integers(0, 11),
        st.sampled_from([1, 500, 1_000, 2_000, 3_000, 4_000, 6_000]),
    ),
    min_size=5,
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 4), actions=ACTIONS)
def test_money_is_conserved_and_overdraw_stays_within_the_bound(
    n: int, actions: list[tuple[str, int, int]]
) -> None:
    assert run_fleet(n, actions) <= worst_case_stored_value_overspend(RULES, n)


def test_the_bound_is_reached_by_offline_kiosks_and_a_central_charge() -> None:
    """Tightness: two offline kiosks on a stale snapshot plus HQ charging the same balance."""
    n = 2
    actions: list[tuple[str, int, int]] = [
        ("charge", 0, 2_000),
        ("snapshot", 0, 0),
        ("snapshot", 1, 0),
    ]
    actions += [("toggle", 0, 0), ("toggle", 1, 0)]
    actions += [("spend", k, 3_000) for k in (0, 1) for _ in range(2)]
    actions += [("charge", 0, 6_000)]
    assert run_fleet(n, actions) == worst_case_stored_value_overspend(RULES, n) == 12_000


def test_apply_is_a_no_op_for_money_on_other_members_state() -> None:
    ledger, anomalies = apply(MemberLedger(), topup_event(1, 100))
    assert ledger.stored_value.balance_fen() == 100 and anomalies == ()


# -- prices -------------------------------------------------------------------------------------


def test_price_applies_tier_then_coupon_and_earns_points_on_what_is_paid() -> None:
    from shared.model import CouponKind, CouponState, Rules, TierRule
    from shared.pricing import PriceBreakdown, price

    rules = Rules(money=MoneyRules(points_per_yuan=3))
    gold = TierRule(
        name="gold", min_points_earned=0, multiplier_permille=2000, discount_permille=100
    )

    def voucher(value: int, min_spend: int = 0, **extra: object) -> CouponState:
        return CouponState(
            coupon_id="c", campaign_id="x", kind=CouponKind.VOUCHER, title="v", value=value,
            min_spend_fen=min_spend, valid_from_ms=0, valid_until_ms=T0 * 2, **extra,  # type: ignore[arg-type]
        )  # fmt: skip

    plain = price(rules, gold, 10_099, now_ms=T0, store_id="s1")
    assert plain == PriceBreakdown(
        list_fen=10_099, tier_discount_fen=1_009, total_fen=9_090, points=90 * 3 * 2
    )
    # The minimum spend is judged after the tier discount.
    assert price(rules, gold, 10_000, coupon=voucher(500, 9_001), now_ms=T0, store_id="s1") is (
        RejectReason.COUPON_BELOW_MIN_SPEND
    )
    big = price(rules, gold, 1_000, coupon=voucher(5_000), now_ms=T0, store_id="s1")
    assert isinstance(big, PriceBreakdown) and (big.coupon_off_fen, big.total_fen) == (900, 0)
    scoped = voucher(100, store_ids=("s2",))
    assert price(rules, gold, 1_000, coupon=scoped, now_ms=T0, store_id="s1") is (
        RejectReason.COUPON_WRONG_STORE
    )
    discount = voucher(150).model_copy(update={"kind": CouponKind.DISCOUNT})
    off = price(rules, gold, 1_001, coupon=discount, now_ms=T0, store_id="s1")
    assert isinstance(off, PriceBreakdown) and (off.coupon_off_fen, off.total_fen) == (135, 766)
