"""The phone card's tier progress names what the chain's tiers count (``Rules.tier_basis``)."""

from __future__ import annotations

from coordinator.services.member_card import _tier
from shared.model import MemberLedger, MoneyMark, Rules, TierBasis, TierRule

NOW = 1_764_770_000_000
TIERS = (
    TierRule(name="basic", min_points_earned=0),
    TierRule(name="gold", min_points_earned=100_000),
)


def test_the_card_counts_spend_in_fen_when_tiers_follow_spend() -> None:
    ledger = MemberLedger(
        money_marks=(MoneyMark(at_ms=NOW - 1, spend_fen=30_000, topup_fen=50_000),)
    )
    spend = _tier(Rules(tiers=TIERS, tier_basis=TierBasis.SPEND), ledger, NOW)
    assert (spend.basis, spend.earned, spend.next_at, spend.progress_pct) == (
        "spend",
        30_000,
        100_000,
        30,
    )
    topups = _tier(Rules(tiers=TIERS, tier_basis=TierBasis.TOPUPS), ledger, NOW)
    assert (topups.basis, topups.earned, topups.progress_pct) == ("topups", 50_000, 50)
    points = _tier(Rules(tiers=TIERS), ledger, NOW)
    assert (points.basis, points.earned, points.progress_pct) == ("points", 0, 0)
