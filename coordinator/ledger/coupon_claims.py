"""Online coupon claims: a kiosk asks before redeeming, the central ledger decides.

A claim is granted only when the ledger shows the coupon unused, valid then and in the
kiosk's store (``CouponState.problem_at``: the rule the kiosk's own decision asks), and no
other live claim holds it. The member's state row is locked while deciding, so two kiosks
(or two replicas) asking at once cannot both win. A granted claim
lapses after ``claim_ttl`` if its redemption event never arrives. Asking again with the
same ``claim_id`` gets the same answer.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.ledger.jsonrows import ledger_from_row
from coordinator.ledger.member_fold import ensure_member_states, lock_member_states
from shared.model import MemberLedger
from shared.protocol import ClaimResult, CouponClaim
from shared.reasons import RejectReason


def decide_claim(
    conn: Connection, claim: CouponClaim, store_id: str, now_ms: int, ttl_ms: int
) -> ClaimResult:
    """Grant or deny ``claim`` from a kiosk of ``store_id``; the answer is recorded."""
    cc = schema.coupon_claims
    ensure_member_states(conn, [claim.member_id], now_ms)
    state = lock_member_states(conn, [claim.member_id])[claim.member_id]

    earlier = conn.execute(sa.select(cc).where(cc.c.claim_id == claim.claim_id)).first()
    if earlier is not None:
        if earlier.coupon_id != claim.coupon_id or earlier.member_id != claim.member_id:
            return ClaimResult(
                claim_id=claim.claim_id,
                coupon_id=claim.coupon_id,
                granted=False,
                reason=RejectReason.COUPON_NOT_FOUND,
            )
        granted = earlier.status in ("granted", "consumed")
        reason = None if granted else RejectReason(earlier.reason or RejectReason.COUPON_USED)
        return ClaimResult(
            claim_id=claim.claim_id, coupon_id=claim.coupon_id, granted=granted, reason=reason
        )

    reason = _refusal(conn, claim, ledger_from_row(state.ledger), store_id, now_ms)
    conn.execute(
        sa.insert(cc).values(
            claim_id=claim.claim_id,
            coupon_id=claim.coupon_id,
            member_id=claim.member_id,
            kiosk_id=claim.kiosk_id,
            event_id=claim.event_id,
            status="denied" if reason else "granted",
            reason=reason.value if reason else None,
            created_ms=now_ms,
            expires_ms=now_ms + ttl_ms,
        )
    )
    return ClaimResult(
        claim_id=claim.claim_id, coupon_id=claim.coupon_id, granted=reason is None, reason=reason
    )


def _refusal(
    conn: Connection, claim: CouponClaim, ledger: MemberLedger, store_id: str, now_ms: int
) -> RejectReason | None:
    # A consumed claim needs no check here: its redemption is in the ledger (redeem_count),
    # and a reversal that gave the coupon back rightly frees it again.
    coupon = ledger.find_coupon(claim.coupon_id)
    if coupon is None:
        return RejectReason.COUPON_NOT_FOUND
    unusable = coupon.problem_at(now_ms, store_id)  # the rule the kiosk's decision asks
    if unusable is not None:
        return unusable
    cc = schema.coupon_claims
    live = conn.execute(
        sa.select(cc.c.claim_id).where(
            cc.c.coupon_id == claim.coupon_id,
            cc.c.member_id == claim.member_id,
            cc.c.status == "granted",
            cc.c.expires_ms > now_ms,
        )
    ).first()
    if live is not None:
        return RejectReason.COUPON_USED
    return None


def expire_claims(conn: Connection, now_ms: int) -> int:
    """Mark granted claims whose redemption never arrived as expired; returns how many."""
    cc = schema.coupon_claims
    result = conn.execute(
        sa.update(cc)
        .where(cc.c.status == "granted", cc.c.expires_ms <= now_ms)
        .values(status="expired")
    )
    return int(result.rowcount or 0)
