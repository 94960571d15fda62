"""Late-cancel and no-show penalties, applied by housekeeping once a session is over.

Each booking of a session that ended (``shared.booking.PENALTY_GRACE_MS`` ago, and not more
than ``PENALTY_LOOKBACK_MS`` ago: no retroactive punishment of old history) is judged
once by ``shared.booking.penalty_due`` under the chain's ``Rules.booking``: attended, a late
cancellation, or a no-show; a penalty deducts a session from the member's punch pass (an
``Adjustment`` hq event, folded like any other fact) or counts a strike. Every judgement is
a ``booking_penalties`` row (the primary key makes it once per booking, whichever replica
runs the job) and every penalty is in the audit log.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.ledger.hq_events import HqFact, HqRecorder
from coordinator.ledger.jsonrows import ledger_from_row
from coordinator.ledger.member_fold import lock_member_states
from shared.booking import (
    PENALTY_GRACE_MS,
    PENALTY_LOOKBACK_MS,
    BookingStatus,
    PenaltyDue,
    penalty_due,
)
from shared.events import Adjustment
from shared.model import BookingRules, MemberLedger

PENALTY_BATCH = 200
HOUSEKEEPING_USER = "housekeeping"
"""Who the audit log and the adjustment events name for penalties."""


def _signed_in(conn: Connection, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (session, member) pairs have a folded sign-in."""
    ev = schema.events
    sessions = sorted({s for s, _ in pairs})
    rows = conn.execute(
        sa.select(ev.c.class_session_id, ev.c.member_id).where(
            ev.c.kind == "class_signin",
            ev.c.class_session_id.in_(sessions),
            ev.c.quarantined.is_(False),
        )
    )
    return {(s, m) for s, m in rows if (s, m) in set(pairs)}


def apply_penalties(
    conn: Connection, recorder: HqRecorder, rules: BookingRules, now_ms: int
) -> int:
    """Judge the next batch of bookings of sessions that are over; returns how many
    penalties (deductions and strikes) were applied."""
    cb, bp = schema.class_bookings, schema.booking_penalties
    due = list(
        conn.execute(
            sa.select(cb)
            .select_from(
                cb.outerjoin(
                    bp,
                    sa.and_(
                        bp.c.class_session_id == cb.c.class_session_id,
                        bp.c.member_id == cb.c.member_id,
                    ),
                )
            )
            .where(
                bp.c.member_id.is_(None),
                cb.c.ends_ms <= now_ms - PENALTY_GRACE_MS,
                cb.c.ends_ms > now_ms - PENALTY_LOOKBACK_MS,
                cb.c.status.in_([BookingStatus.BOOKED.value, BookingStatus.LATE_CANCELLED.value]),
            )
            .order_by(cb.c.ends_ms, cb.c.class_session_id, cb.c.member_id)
            .limit(PENALTY_BATCH)
        )
    )
    if not due:
        return 0
    came = _signed_in(conn, [(r.class_session_id, r.member_id) for r in due])
    states = lock_member_states(conn, {r.member_id for r in due})
    applied = 0
    for row in due:
        state = states.get(row.member_id)
        ledger = ledger_from_row(state.ledger) if state is not None else MemberLedger()
        judged: PenaltyDue = penalty_due(
            BookingStatus(row.status),
            (row.class_session_id, row.member_id) in came,
            ledger,
            row.class_type,
            row.store_id,
            row.starts_ms,
            rules,
        )
        event_id = None
        if judged.penalty == "deduct_session" and judged.pass_id is not None:
            body = Adjustment(
                staff_user=HOUSEKEEPING_USER,
                reason=f"{judged.reason}: {row.class_session_id}",
                pass_id=judged.pass_id,
                sessions_delta=-1,
            )
            fact = HqFact(member_id=row.member_id, body=body, store_id=row.store_id)
            event_id = recorder.record(conn, [fact], now_ms).events[0].event_id
        conn.execute(
            sa.insert(bp).values(
                class_session_id=row.class_session_id,
                member_id=row.member_id,
                store_id=row.store_id,
                reason=judged.reason,
                penalty=judged.penalty,
                pass_id=judged.pass_id,
                event_id=event_id,
                applied_ms=now_ms,
            )
        )
        if judged.penalty != "none":
            applied += 1
            detail = {"member_id": row.member_id, "reason": judged.reason,
                      "penalty": judged.penalty, "pass_id": judged.pass_id,
                      "event_id": event_id}  # fmt: skip
            conn.execute(
                sa.insert(schema.audit_log).values(
                    at_ms=now_ms,
                    actor=HOUSEKEEPING_USER,
                    action=f"booking.{judged.reason}",
                    target=row.class_session_id,
                    detail=json.dumps(detail, sort_keys=True),
                )
            )
    return applied


def strikes(conn: Connection, member_id: str) -> int:
    """A member's strikes so far (late cancellations and no-shows the rules struck)."""
    bp = schema.booking_penalties
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(bp)
            .where(bp.c.member_id == member_id, bp.c.penalty == "strike")
        ).scalar_one()
    )
