"""The worst-case overspend computed from the rules holds for random fleets.

A small fleet of kiosks shares one member. Hypothesis drives taps, redemptions, outages,
deliveries to the coordinator and snapshot pushes in any interleaving; each kiosk decides
only with the pure decision functions on ``snapshot + own unconfirmed events``. After
everything is delivered, the central ledger's overdraw must never exceed
``shared.limits``' bound for that fleet size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.decide import Accepted, KioskContext, MemberView, decide_points_redeem, decide_tap
from shared.events import Event, session_delta
from shared.fold import fold_sorted
from shared.limits import (
    worst_case_coupon_extra_uses,
    worst_case_points_overspend,
    worst_case_session_overspend,
)
from shared.model import CouponPolicy, MemberLedger, MemberRecord, OfflineLimits, PointsLot
from tests.support.factories import (
    DAY,
    T0,
    bundle,
    coupon,
    issue_pass,
    kiosk_event,
    member,
    punch_pass,
)
from tests.support.factories import yoga_class as make_class

LIMITS = OfflineLimits(
    max_unconfirmed_sessions_per_member=2,
    max_unconfirmed_points_per_member=60,
    max_offline_sessions_per_member_day=100,
    max_offline_points_per_member_day=10_000,
)
CLASSES = [make_class(f"c{i}", starts_ms=T0 + 60_000 + i) for i in range(120)]
BUNDLE = bundle(classes=CLASSES, offline=LIMITS, points_per_checkin=0)


@dataclass
class Kiosk:
    kiosk_id: str
    online: bool = True
    journal: list[Event] = field(default_factory=list)
    delivered: int = 0
    snapshot: MemberRecord = field(default_factory=member)
    included: int = 0

    def view(self) -> MemberView:
        pending = tuple(self.journal[self.included :])
        return MemberView(
            record=self.snapshot,
            pending=pending,
            offline_sessions_today=sum(max(0, session_delta(e)[1]) for e in pending if e.offline),
        )


def run_fleet(
    n_kiosks: int, sessions: int, points: int, actions: list[tuple[str, int]]
) -> tuple[int, int]:
    """Play the actions; returns (sessions overdrawn, points overdrawn) centrally."""
    lot = PointsLot(
        lot_id="seed",
        earned_ms=T0 - DAY,
        expires_ms=T0 + 300 * DAY,
        amount=points,
        remaining=points,
    )
    hq = [issue_pass(1, "m1", punch_pass("p1", sessions, class_types=()))]
    seed = MemberLedger(points_lots=(lot,))
    start, _ = fold_sorted(seed, hq)
    kiosks = [Kiosk(f"k{i}", snapshot=member(ledger=start)) for i in range(n_kiosks)]
    central: list[Event] = []
    class_no = 0
    now = T0 + 61_000

    def central_ledger() -> MemberLedger:
        ledger, _ = fold_sorted(seed, hq + central)
        return ledger

    for action, index in actions:
        kiosk = kiosks[index % n_kiosks]
        now += 1
        ctx = KioskContext(
            kiosk_id=kiosk.kiosk_id,
            store_id="s1",
            now_ms=now,
            online=kiosk.online,
            offline_since_ms=None if kiosk.online else now - 1,
        )
        if action in ("tap", "redeem"):
            if action == "tap":
                class_no = (class_no + 1) % len(CLASSES)
                decision = decide_tap(ctx, BUNDLE, kiosk.view(), class_session_id=f"c{class_no}")
            else:
                decision = decide_points_redeem(ctx, BUNDLE, kiosk.view(), "water")
            if isinstance(decision, Accepted):
                for body in decision.bodies:
                    kiosk.journal.append(
                        kiosk_event(
                            kiosk.kiosk_id,
                            len(kiosk.journal) + 1,
                            "m1",
                            body,
                            at_ms=now,
                            offline=not kiosk.online,
                        )
                    )
        elif action == "toggle":
            kiosk.online = not kiosk.online
        elif action == "deliver" and kiosk.online:
            central.extend(kiosk.journal[kiosk.delivered :])
            kiosk.delivered = len(kiosk.journal)
        elif action == "snapshot" and kiosk.online:
            kiosk.snapshot = member(ledger=central_ledger())
            kiosk.included = kiosk.delivered

    for kiosk in kiosks:
        central.extend(kiosk.journal[kiosk.delivered :])
    final = central_ledger()
    p1 = final.find_pass("p1")
    assert p1 is not None
    return max(0, -p1.sessions_left), final.points_debt


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["tap", "tap", "redeem", "toggle", "deliver", "snapshot"]),
        st.integers(0, 7),
    ),
    min_size=10,
    max_size=150,
)


@settings(max_examples=500, deadline=None)
@given(n=st.integers(1, 5), sessions=st.integers(0, 6), points=st.integers(0, 100), actions=ACTIONS)
def test_overspend_never_exceeds_the_computed_bound(n, sessions, points, actions) -> None:  # type: ignore[no-untyped-def]
    over_sessions, over_points = run_fleet(n, sessions, points, actions)
    assert over_sessions <= worst_case_session_overspend(LIMITS, n)
    assert over_points <= worst_case_points_overspend(LIMITS, n)


def test_the_bound_is_reached_by_an_all_offline_fleet() -> None:
    """Tightness: N kiosks offline on the same stale snapshot overdraw by exactly the bound."""
    n = 4
    actions = [("toggle", i) for i in range(n)]
    actions += [("tap", i) for i in range(n) for _ in range(5)]
    over_sessions, _ = run_fleet(n, 2, 0, actions)
    assert over_sessions == worst_case_session_overspend(LIMITS, n) == 6


def test_single_kiosk_never_overspends() -> None:
    actions = [("tap", 0)] * 10 + [("toggle", 0)] + [("tap", 0)] * 10
    assert run_fleet(1, 3, 0, actions) == (0, 0)


def test_coupon_extra_uses() -> None:
    scoped = OfflineLimits(coupon_policy=CouponPolicy.STORE_SCOPED)
    strict = OfflineLimits(coupon_policy=CouponPolicy.ONLINE_ONLY)
    per_store = {"s1": 3, "s2": 2}
    assert worst_case_coupon_extra_uses(scoped, coupon(store_ids=["s1"]), per_store) == 2
    assert worst_case_coupon_extra_uses(scoped, coupon(store_ids=["s1", "s2"]), per_store) == 0
    assert worst_case_coupon_extra_uses(scoped, coupon(store_ids=[]), per_store) == 0
    assert worst_case_coupon_extra_uses(strict, coupon(store_ids=["s1"]), per_store) == 0
