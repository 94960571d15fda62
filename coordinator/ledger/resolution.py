"""Resolving conflicts: an audited ``Adjustment`` event by a named staff user.

The conflict keeps its history (explanation, who resolved it, when, with which event);
the adjustment is an ordinary hq event, so it appears in the member's audit trail and is
pushed to every kiosk with the member's next record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.errors import conflict, invalid, not_found
from coordinator.ledger.hq_events import HqFact, HqRecorder
from shared.events import Adjustment, Event
from shared.model import DAY_MS


@dataclass(frozen=True)
class Decision:
    """What staff decided: balance changes (all zero = accept as recorded) and why."""

    note: str
    points_delta: int = 0
    sessions_delta: int = 0
    coupon_uses_delta: int = 0
    principal_delta_fen: int = 0
    pass_id: str | None = None
    coupon_id: str | None = None


def resolve(
    conn: Connection,
    recorder: HqRecorder,
    conflict_id: str,
    decision: Decision,
    *,
    staff_user: str,
    now_ms: int,
) -> tuple[sa.Row[Any], Event | None]:
    """Resolve an open conflict; returns (updated conflict row, adjustment event or None)."""
    c = schema.conflicts
    # No lock here: the member row (locked by the recorder) comes before conflict rows in
    # every transaction's lock order; the guarded UPDATE below catches a concurrent resolve.
    row = conn.execute(sa.select(c).where(c.c.conflict_id == conflict_id)).first()
    if row is None:
        raise not_found("conflict", conflict_id)
    if row.status != "open":
        raise conflict(
            "conflict_not_open",
            f"conflict {conflict_id} is {row.status}; only open conflicts can be resolved",
        )
    pass_id = decision.pass_id
    coupon_id = decision.coupon_id
    if decision.sessions_delta and pass_id is None:
        if not row.kind.startswith("pass_"):
            raise invalid(
                "pass_id_required",
                "sessions_delta needs pass_id for a conflict that is not about a pass",
                "pass_id",
            )
        pass_id = row.subject_id
    if decision.coupon_uses_delta and coupon_id is None:
        if not row.kind.startswith("coupon_"):
            raise invalid(
                "coupon_id_required",
                "coupon_uses_delta needs coupon_id for a conflict that is not about a coupon",
                "coupon_id",
            )
        coupon_id = row.subject_id
    changes = (
        decision.points_delta
        or decision.sessions_delta
        or decision.coupon_uses_delta
        or decision.principal_delta_fen
    )
    event: Event | None = None
    if row.member_id is not None:
        body = Adjustment(
            staff_user=staff_user,
            reason=decision.note[:200],
            conflict_id=conflict_id,
            points_delta=decision.points_delta,
            points_expires_ms=now_ms + 365 * DAY_MS if decision.points_delta > 0 else None,
            pass_id=pass_id if decision.sessions_delta else None,
            sessions_delta=decision.sessions_delta,
            coupon_id=coupon_id if decision.coupon_uses_delta else None,
            coupon_uses_delta=decision.coupon_uses_delta,
            principal_delta_fen=decision.principal_delta_fen,
        )
        result = recorder.record(
            conn, [HqFact(member_id=row.member_id, body=body, store_id=row.store_id)], now_ms
        )
        event = result.events[0]
    elif changes:
        raise invalid(
            "no_member",
            f"conflict {conflict_id} is not about a member; resolve it with a note only",
        )
    done = conn.execute(
        sa.update(c)
        .where(c.c.conflict_id == conflict_id, c.c.status == "open")
        .values(
            status="resolved",
            resolved_by=staff_user,
            resolved_ms=now_ms,
            resolution_note=decision.note,
            resolution_event_id=event.event_id if event else None,
            updated_ms=now_ms,
        )
    )
    if done.rowcount != 1:
        raise conflict("conflict_not_open", f"conflict {conflict_id} was resolved meanwhile")
    updated = conn.execute(sa.select(c).where(c.c.conflict_id == conflict_id)).one()
    return updated, event
