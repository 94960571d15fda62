"""The coordinator's coupon claim answers what the kiosk's own decision answers.

A kiosk online asks ``shared.decide.decide_coupon_redeem``; when that says "needs a claim"
it asks the coordinator, which decides from the central ledger with the same rule
(``CouponState.problem_at``). For any coupon, time and store the two must agree: the claim
is granted exactly when the kiosk would ask for one, and refused for the same reason.
(The coordinator's one extra refusal, another kiosk's live claim on the same coupon, is
``test_ledger_core.test_coupon_claims``'s business: every claim here is a fresh coupon's.)
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coordinator.db import Database
from coordinator.ledger import coupon_claims
from shared.decide import KioskContext, MemberView, NeedsClaim, Refused, decide_coupon_redeem
from shared.events import Adjustment, CouponIssue
from shared.model import DAY_MS, CouponKind, CouponState, MemberRecord
from shared.protocol import CouponClaim
from tests.coordinator.test_ledger_core import T0, make_ledger
from tests.support.factories import bundle

STORES = ("s1", "s2", "s3")


def test_claims_answer_as_the_kiosk_decides(database: Database) -> None:
    ledger = make_ledger(database)
    numbers = itertools.count(1)

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        scope=st.lists(st.sampled_from(STORES), unique=True, max_size=3),
        starts=st.integers(-3 * DAY_MS, 3 * DAY_MS),
        lasts=st.integers(0, 4 * DAY_MS),
        uses=st.integers(0, 2),
        at=st.integers(-4 * DAY_MS, 4 * DAY_MS),
        store=st.sampled_from(STORES),
    )
    def check(scope: list[str], starts: int, lasts: int, uses: int, at: int, store: str) -> None:
        n = next(numbers)
        coupon_id = f"c{n}"
        issued = CouponState(
            coupon_id=coupon_id,
            campaign_id="camp",
            kind=CouponKind.VOUCHER,
            title="¥20",
            value=2000,
            store_ids=tuple(scope),
            valid_from_ms=T0 + starts,
            valid_until_ms=T0 + starts + lasts,
        )
        facts = [CouponIssue(coupon=issued)]
        if uses:  # used before (at a kiosk, or as HQ recorded it): the use count is what counts
            facts.append(
                Adjustment(
                    staff_user="ops", reason="test", coupon_id=coupon_id, coupon_uses_delta=uses
                )
            )
        ledger.hq("m1", *facts)
        now = T0 + at

        central = ledger.central("m1")
        view = MemberView(record=MemberRecord(member_id="m1", display_name="M", ledger=central))
        ctx = KioskContext(kiosk_id="k1", store_id=store, now_ms=now, online=True)
        kiosk = decide_coupon_redeem(ctx, bundle(), view, coupon_id)

        with ledger.db.write() as conn:
            answer = coupon_claims.decide_claim(
                conn,
                CouponClaim(kiosk_id="k1", claim_id=f"q{n}", member_id="m1", coupon_id=coupon_id),
                store,
                now,
                60_000,
            )
        if answer.granted:
            assert isinstance(kiosk, NeedsClaim), kiosk
        else:
            assert isinstance(kiosk, Refused) and kiosk.reason is answer.reason, (kiosk, answer)

    check()
