"""The next tier and the points that count toward it (the phone card's progress bar)."""

from __future__ import annotations

from shared.model import DAY_MS, MemberLedger, PointsLot, Rules

NOW = 1_764_770_000_000


def test_next_tier_follows_thresholds_and_the_window() -> None:
    rules = Rules()
    by_threshold = sorted(rules.tiers, key=lambda t: t.min_points_earned)
    lowest, top = by_threshold[0], by_threshold[-1]
    assert rules.next_tier(lowest) == by_threshold[1]
    assert rules.next_tier(top) is None
    old = PointsLot(
        lot_id="e1",
        earned_ms=NOW - (rules.tier_window_days + 1) * DAY_MS,
        expires_ms=NOW + DAY_MS,
        amount=10_000,
        remaining=10_000,
    )
    recent = old.model_copy(update={"lot_id": "e2", "earned_ms": NOW - DAY_MS, "amount": 7})
    ledger = MemberLedger(points_lots=(old, recent))
    assert rules.tier_earned(ledger, NOW) == 7  # only earnings inside the window count
    assert rules.tier_reached(ledger, NOW) == lowest
