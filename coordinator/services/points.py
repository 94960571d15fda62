"""Points granted by HQ (opening balances when a chain moves onto Tapfleet, goodwill).

A grant is an audited ``Adjustment`` hq event by the logged-in staff user, folded like any
other fact: it shows in the member's audit trail and reaches kiosks with the member's next
record. Points are never written into a balance directly.
"""

from __future__ import annotations

from pydantic import Field

from coordinator.ledger.hq_events import HqFact
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services.common import Body, Out, audit, check_member_access, member_row
from shared.events import Adjustment
from shared.fold import DEFAULT_POINTS_EXPIRY_MS
from shared.model import Id


class PointsGrant(Body):
    """Points to give a member, and why (kept in the audit trail)."""

    points: int = Field(ge=1, le=10**7)
    reason: str = Field(min_length=3, max_length=200)


class PointsGranted(Out):
    """The grant, the member's spendable points after it, and its ledger event."""

    member_id: Id
    points: int
    points_available: int
    event_id: str


def grant_points(
    coord: Coordinator, principal: Principal, member_id: str, body: PointsGrant
) -> PointsGranted:
    """Grant points to a member (an audited adjustment; expires like earned points)."""
    principal.require_write()
    now = coord.clock.wall_ms()
    adjustment = Adjustment(
        staff_user=principal.username,
        reason=body.reason,
        points_delta=body.points,
        points_expires_ms=now + DEFAULT_POINTS_EXPIRY_MS,
    )
    with coord.db.write() as conn:
        check_member_access(principal, member_row(conn, member_id))
        result = coord.recorder.record(
            conn, [HqFact(member_id, adjustment, principal.store_id)], now
        )
        audit(conn, principal.username, "points.grant", member_id, now,
              points=body.points, event_id=result.events[0].event_id)  # fmt: skip
        ledger = result.outcomes[0].ledger
    coord.pusher.wake()
    return PointsGranted(
        member_id=member_id,
        points=body.points,
        points_available=ledger.points_available(now),
        event_id=result.events[0].event_id,
    )
