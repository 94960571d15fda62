"""What a purchase costs: list amount, tier discount, coupon, points. Pure, integer fen.

The one price rule for the coordinator's ``POST /api/v1/purchases``, the front desk and the
kiosk's charge screen alike. In order: the member's tier takes its ``discount_permille`` off
the list amount; then a coupon applies to what is left (a voucher takes its fen off, never
below zero, once the amount reaches its ``min_spend_fen``; a discount takes its permille
off; a trial makes it free); points are earned on what is paid, ``points_per_yuan`` per
whole yuan, times the tier's multiplier. Every division rounds down: a discount is never
more than the rule says, nor are points.
"""

from __future__ import annotations

from shared.model import CouponKind, CouponState, Frozen, Rules, TierRule
from shared.reasons import RejectReason


class PriceBreakdown(Frozen):
    """A purchase priced: each step in fen, and the points it earns."""

    list_fen: int
    tier_discount_fen: int
    coupon_id: str | None = None
    coupon_off_fen: int = 0
    total_fen: int
    """What the member pays (list − tier discount − coupon)."""
    points: int = 0


def coupon_problem(
    coupon: CouponState, amount_fen: int, now_ms: int, store_id: str | None
) -> RejectReason | None:
    """Why ``coupon`` cannot be applied to a purchase of ``amount_fen`` (after the tier
    discount) at ``now_ms`` in ``store_id`` (None: it can): the coupon rule
    (:meth:`CouponState.problem_at`), then a voucher's minimum spend."""
    problem = coupon.problem_at(now_ms, store_id)
    if problem is not None:
        return problem
    if coupon.kind is CouponKind.VOUCHER and amount_fen < coupon.min_spend_fen:
        return RejectReason.COUPON_BELOW_MIN_SPEND
    return None


def coupon_off(coupon: CouponState, amount_fen: int) -> int:
    """Fen ``coupon`` takes off ``amount_fen`` (never more than the amount)."""
    if coupon.kind is CouponKind.VOUCHER:
        return min(coupon.value, amount_fen)
    if coupon.kind is CouponKind.DISCOUNT:
        return amount_fen * min(max(coupon.value, 0), 999) // 1000
    return amount_fen  # a trial: free


def purchase_points(rules: Rules, tier: TierRule, paid_fen: int) -> int:
    """Points a purchase paying ``paid_fen`` earns: per whole yuan, times the tier's
    multiplier, rounded down."""
    per_yuan = rules.money.points_per_yuan
    return (paid_fen // 100) * per_yuan * tier.multiplier_permille // 1000


def price(
    rules: Rules,
    tier: TierRule,
    list_fen: int,
    *,
    coupon: CouponState | None = None,
    now_ms: int,
    store_id: str | None,
) -> PriceBreakdown | RejectReason:
    """The breakdown of a purchase of ``list_fen``, or why its coupon does not apply."""
    tier_off = list_fen * tier.discount_permille // 1000
    after_tier = list_fen - tier_off
    off = 0
    if coupon is not None:
        problem = coupon_problem(coupon, after_tier, now_ms, store_id)
        if problem is not None:
            return problem
        off = coupon_off(coupon, after_tier)
    total = after_tier - off
    return PriceBreakdown(
        list_fen=list_fen,
        tier_discount_fen=tier_off,
        coupon_id=coupon.coupon_id if coupon else None,
        coupon_off_fen=off,
        total_fen=total,
        points=purchase_points(rules, tier, total),
    )
