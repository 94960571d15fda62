"""The reference fold: effects, anomalies, reversals, expiry, tiers, order independence."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.events import (
    Adjustment,
    CheckIn,
    ClassSignIn,
    CouponRedeem,
    PassUpdate,
    PointsExpire,
    PointsRedeem,
    Rejected,
    Reversal,
)
from shared.fold import AnomalyKind, apply, fold, fold_sorted
from shared.model import MemberLedger, Rules
from tests.support.factories import (
    DAY,
    T0,
    coupon,
    hq_event,
    issue_coupon,
    issue_pass,
    kiosk_event,
    punch_pass,
)


def base(sessions: int = 2) -> MemberLedger:
    ledger, _ = fold_sorted(
        MemberLedger(),
        [issue_pass(1, "m1", punch_pass(sessions=sessions)), issue_coupon(2, "m1", coupon())],
    )
    return ledger


def signin(kiosk: str, seq: int, session: str, at: int = T0, store: str = "s1"):  # type: ignore[no-untyped-def]
    body = ClassSignIn(class_session_id=session, class_type="yoga", pass_id="p1")
    return kiosk_event(kiosk, seq, "m1", body, at_ms=at, store_id=store)


def test_pass_overdraw_is_applied_and_flagged() -> None:
    events = [signin("k1", 1, "a"), signin("k2", 1, "b", store="s2"), signin("k1", 2, "c", T0 + 1)]
    ledger, anomalies = fold(base(2), events)
    assert ledger.find_pass("p1").sessions_left == -1  # type: ignore[union-attr]
    assert [a.kind for a in anomalies] == [AnomalyKind.PASS_OVERDRAWN]
    assert anomalies[0].event_id == events[2].event_id and anomalies[0].amount == 1


def test_coupon_double_redeem_flagged_first_redeemer_kept() -> None:
    first = kiosk_event("k1", 1, "m1", CouponRedeem(coupon_id="c1"))
    second = kiosk_event("k2", 1, "m1", CouponRedeem(coupon_id="c1"), at_ms=T0 + 5)
    ledger, anomalies = fold(base(), [first, second])
    state = ledger.find_coupon("c1")
    assert state is not None and state.redeem_count == 2
    assert state.redeemed_event_id == first.event_id
    assert [a.kind for a in anomalies] == [AnomalyKind.COUPON_REUSED]


def test_points_overdraw_becomes_debt_repaid_by_new_earnings() -> None:
    earn = kiosk_event("k1", 1, "m1", CheckIn(points=30, reward_day="2026-01-01"))
    spend = kiosk_event("k1", 2, "m1", PointsRedeem(points=50), at_ms=T0 + 1)
    ledger, anomalies = fold(MemberLedger(), [earn, spend])
    assert ledger.points_available(T0 + 2) == -20 and ledger.points_debt == 20
    assert anomalies[0].kind is AnomalyKind.POINTS_OVERDRAWN and anomalies[0].amount == 20
    later = kiosk_event("k1", 3, "m1", CheckIn(points=30, reward_day="2026-01-02"), at_ms=T0 + DAY)
    ledger, _ = apply(ledger, later)
    assert ledger.points_available(T0 + DAY) == 10 and ledger.points_debt == 0


def test_points_spent_soonest_expiring_first_and_expire_event() -> None:
    a = kiosk_event("k1", 1, "m1", CheckIn(points=10, points_expires_ms=T0 + 10 * DAY))
    b = kiosk_event("k1", 2, "m1", CheckIn(points=10, points_expires_ms=T0 + 5 * DAY), at_ms=T0 + 1)
    spend = kiosk_event("k1", 3, "m1", PointsRedeem(points=15), at_ms=T0 + 2)
    ledger, _ = fold(MemberLedger(), [a, b, spend])
    remaining = {lot.lot_id: lot.remaining for lot in ledger.points_lots}
    assert remaining == {b.event_id: 0, a.event_id: 5}
    assert ledger.points_available(T0 + 11 * DAY) == 0  # lot a expired by time
    expire = hq_event(9, "m1", PointsExpire(lot_id=a.event_id), at_ms=T0 + 11 * DAY)
    ledger, _ = apply(ledger, expire)
    assert sum(lot.remaining for lot in ledger.points_lots) == 0


def test_reversals_restore_exactly() -> None:
    start = base(5)
    s = signin("k1", 1, "a")
    c = kiosk_event("k1", 2, "m1", CouponRedeem(coupon_id="c1"))
    earn = kiosk_event("k1", 3, "m1", CheckIn(points=10, reward_day="2026-01-01"))
    undo = [
        kiosk_event(
            "k1",
            4,
            "m1",
            Reversal(
                target_event_id=s.event_id,
                target_kind="class_signin",
                staff_id="st",
                pass_id="p1",
                sessions=1,
                class_session_id="a",
            ),
        ),
        kiosk_event(
            "k1",
            5,
            "m1",
            Reversal(
                target_event_id=c.event_id,
                target_kind="coupon_redeem",
                staff_id="st",
                coupon_id="c1",
            ),
        ),
        kiosk_event(
            "k1",
            6,
            "m1",
            Reversal(
                target_event_id=earn.event_id, target_kind="checkin", staff_id="st", points=10
            ),
        ),
    ]
    ledger, anomalies = fold(start, [s, c, earn, *undo])
    assert not anomalies
    assert ledger.find_pass("p1").sessions_left == 5  # type: ignore[union-attr]
    assert ledger.find_coupon("c1").redeem_count == 0  # type: ignore[union-attr]
    assert ledger.points_available(T0) == 0 and ledger.points_earned_total == 0
    assert ledger.signins == () and ledger.last_reward_day is None


def test_adjustment_resolves_overdraw() -> None:
    events = [signin("k1", 1, "a"), signin("k2", 1, "b"), signin("k2", 2, "c")]
    ledger, _ = fold(base(2), events)
    fix = hq_event(
        5,
        "m1",
        Adjustment(
            staff_user="alice", reason="forgive offline overuse", pass_id="p1", sessions_delta=1
        ),
        at_ms=T0 + DAY,
    )
    ledger, anomalies = apply(ledger, fix)
    assert not anomalies and ledger.find_pass("p1").sessions_left == 0  # type: ignore[union-attr]


def test_pass_used_while_frozen_is_flagged() -> None:
    freeze = hq_event(3, "m1", PassUpdate(pass_id="p1", staff_user="bob", frozen=True))
    ledger, anomalies = fold(base(), [freeze, signin("k1", 1, "a")])
    assert [a.kind for a in anomalies] == [AnomalyKind.PASS_INVALID_AT_USE]
    assert ledger.find_pass("p1").sessions_used == 1  # type: ignore[union-attr]


def test_rejected_events_change_nothing() -> None:
    ledger, anomalies = apply(base(), kiosk_event("k1", 1, "m1", Rejected(reason="unknown_card")))
    assert ledger == base() and not anomalies


def test_tier_follows_earnings_in_window_not_balance() -> None:
    rules = Rules(tier_window_days=365)  # basic 0, silver 500, gold 2000
    earn = kiosk_event("k1", 1, "m1", CheckIn(points=600))
    spend = kiosk_event("k1", 2, "m1", PointsRedeem(points=600), at_ms=T0 + 1)
    ledger, _ = fold(MemberLedger(), [earn, spend])
    assert rules.tier_reached(ledger, T0 + 2).name == "silver"  # spending does not demote
    assert rules.tier_reached(ledger, T0 + 400 * DAY).name == "basic"  # earnings left the window
    assert rules.tier_reached(MemberLedger(), T0).name == "basic"


KINDS = st.sampled_from(["signin", "redeem", "earn", "coupon"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(KINDS, st.integers(0, 2), st.integers(0, 10_000)), max_size=40),
    st.randoms(use_true_random=False),
)
def test_sorted_fold_is_independent_of_arrival_order(steps, rnd: random.Random) -> None:  # type: ignore[no-untyped-def]
    seqs = {f"k{i}": 0 for i in range(3)}
    events = []
    for n, (kind, k, dt) in enumerate(steps):
        kiosk = f"k{k}"
        seqs[kiosk] += 1
        body = {
            "signin": ClassSignIn(class_session_id=f"s{n}", class_type="yoga", pass_id="p1"),
            "redeem": PointsRedeem(points=7),
            "earn": CheckIn(points=5),
            "coupon": CouponRedeem(coupon_id="c1"),
        }[kind]
        events.append(kiosk_event(kiosk, seqs[kiosk], "m1", body, at_ms=T0 + dt))
    reference, ref_anomalies = fold_sorted(base(3), events)
    shuffled = list(events)
    rnd.shuffle(shuffled)
    again, anomalies = fold_sorted(base(3), shuffled)
    assert again == reference
    assert sorted(a.event_id for a in anomalies) == sorted(a.event_id for a in ref_anomalies)
