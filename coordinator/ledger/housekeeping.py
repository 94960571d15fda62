"""Periodic central jobs: points and bonus expiry, tier review, lapsed coupon claims and
late-cancel / no-show penalties (``coordinator.ledger.booking_penalties``).

Points and stored-value bonus expire centrally (a ``PointsExpire`` or ``BonusExpire`` hq
event per lot) so every kiosk learns of it
with the member's next record; tiers follow points *earned* within the rules' window, so a
member who stops earning drifts down even without new events, which the review catches.

Every replica runs this loop; each job's transaction starts by taking that job's advisory
lock (:meth:`coordinator.db.Database.try_job_lock`, a transaction-level lock), and a
replica that finds it taken skips the job until its next interval. The jobs are idempotent
anyway (row locks, ``PointsExpire`` per lot once); the lock keeps replicas from doing the
same batch twice and waiting on each other's row locks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.db import Database
from coordinator.ledger.booking_penalties import apply_penalties
from coordinator.ledger.coupon_claims import expire_claims
from coordinator.ledger.hq_events import HqFact, HqRecorder
from coordinator.ledger.jsonrows import ledger_from_row
from coordinator.ledger.member_fold import lock_member_states, tier_of
from shared.events import BonusExpire, PointsExpire
from shared.model import Rules

log = logging.getLogger(__name__)

EXPIRY_BATCH = 200
TIER_BATCH = 500

JOB_POINTS_EXPIRY = "points_expiry"
JOB_TIER_REVIEW = "tier_review"
JOB_CLAIM_EXPIRY = "claim_expiry"
JOB_BOOKING_PENALTIES = "booking_penalties"
JOBS = (JOB_POINTS_EXPIRY, JOB_TIER_REVIEW, JOB_CLAIM_EXPIRY, JOB_BOOKING_PENALTIES)
"""The advisory-lock names of the housekeeping jobs (one replica runs each at a time)."""


@dataclass
class HousekeepingReport:
    """What one run did."""

    lots_expired: int = 0
    tiers_changed: int = 0
    claims_expired: int = 0
    penalties: int = 0
    """Late-cancel and no-show penalties applied (sessions deducted, strikes)."""
    tier_cursor: str = ""
    skipped: list[str] = field(default_factory=list)
    """Jobs another replica was running (their lock was taken)."""


def expire_points(conn: Connection, recorder: HqRecorder, now_ms: int) -> int:
    """Record a PointsExpire event for every lot past its expiry that still holds points,
    and a BonusExpire event for every stored-value bonus lot past its expiry."""
    ms = schema.member_states
    due = list(
        conn.execute(
            sa.select(ms.c.member_id)
            .where(ms.c.next_expiry_ms.is_not(None), ms.c.next_expiry_ms <= now_ms)
            .order_by(ms.c.member_id)
            .limit(EXPIRY_BATCH)
        ).scalars()
    )
    facts: list[HqFact] = []
    for member_id, row in sorted(lock_member_states(conn, due).items()):
        ledger = ledger_from_row(row.ledger)
        for lot in ledger.points_lots:
            if lot.remaining > 0 and not lot.live_at(now_ms):
                facts.append(HqFact(member_id=member_id, body=PointsExpire(lot_id=lot.lot_id)))
        for bonus in ledger.stored_value.expired_lots(now_ms):
            facts.append(HqFact(member_id=member_id, body=BonusExpire(lot_id=bonus.lot_id)))
    recorder.record(conn, facts, now_ms)
    return len(facts)


def review_tiers(
    conn: Connection, rules: Rules, now_ms: int, after_member_id: str
) -> tuple[int, str]:
    """Recompute tiers for the next batch of members; returns (changed, cursor for next run)."""
    ms = schema.member_states
    ids = list(
        conn.execute(
            sa.select(ms.c.member_id)
            .where(ms.c.member_id > after_member_id)
            .order_by(ms.c.member_id)
            .limit(TIER_BATCH)
        ).scalars()
    )
    changed = 0
    for member_id, row in sorted(lock_member_states(conn, ids).items()):
        tier = tier_of(ledger_from_row(row.ledger), rules, now_ms)
        if tier != row.tier:
            conn.execute(
                sa.update(ms)
                .where(ms.c.member_id == member_id)
                .values(tier=tier, change_no=ms.c.change_no + 1, dirty=True, updated_ms=now_ms)
            )
            changed += 1
    cursor = ids[-1] if len(ids) == TIER_BATCH else ""
    return changed, cursor


def run_once(
    db: Database,
    recorder: HqRecorder,
    rules_provider: Callable[[Connection], Rules],
    now_ms: int,
    tier_cursor: str,
) -> HousekeepingReport:
    """One pass of every job, each in its own transaction."""
    report = HousekeepingReport(tier_cursor=tier_cursor)
    with db.write() as conn:
        if db.try_job_lock(conn, JOB_POINTS_EXPIRY):
            report.lots_expired = expire_points(conn, recorder, now_ms)
        else:
            report.skipped.append(JOB_POINTS_EXPIRY)
    with db.write() as conn:
        if db.try_job_lock(conn, JOB_TIER_REVIEW):
            report.tiers_changed, report.tier_cursor = review_tiers(
                conn, rules_provider(conn), now_ms, tier_cursor
            )
        else:
            report.skipped.append(JOB_TIER_REVIEW)
    with db.write() as conn:
        if db.try_job_lock(conn, JOB_CLAIM_EXPIRY):
            report.claims_expired = expire_claims(conn, now_ms)
        else:
            report.skipped.append(JOB_CLAIM_EXPIRY)
    with db.write() as conn:
        if db.try_job_lock(conn, JOB_BOOKING_PENALTIES):
            report.penalties = apply_penalties(conn, recorder, rules_provider(conn).booking, now_ms)
        else:
            report.skipped.append(JOB_BOOKING_PENALTIES)
    if report.skipped:
        log.debug("housekeeping: another replica holds %s", ", ".join(report.skipped))
    if report.lots_expired or report.tiers_changed or report.claims_expired or report.penalties:
        log.info(
            "housekeeping: %d points lot(s) expired, %d tier(s) changed, %d claim(s) lapsed, "
            "%d booking penalt(ies)",
            report.lots_expired,
            report.tiers_changed,
            report.claims_expired,
            report.penalties,
        )
    return report
