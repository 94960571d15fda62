"""Balances with their audit trail: every event of the member, in ledger order, with the
change it made (points, sessions per pass, coupon uses) and the conflicts it raised."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query

from coordinator import schema
from coordinator.api.deps import CoordinatorDep, PrincipalDep, check_member_access, member_row
from coordinator.ledger.jsonrows import ledger_from_row
from coordinator.ledger.member_fold import member_events
from shared.events import Event
from shared.fold import apply
from shared.model import Id, MemberLedger

router = APIRouter(prefix="/api/v1", tags=["balances"])


def _effect(before: MemberLedger, after: MemberLedger, at_ms: int) -> dict[str, Any]:
    sessions = {
        p.pass_id: after_p.sessions_used - p.sessions_used
        for p in before.passes
        if (after_p := after.find_pass(p.pass_id)) and after_p.sessions_used != p.sessions_used
    }
    for p in after.passes:
        if before.find_pass(p.pass_id) is None:
            sessions.setdefault(p.pass_id, 0)
    uses = {
        c.coupon_id: after_c.redeem_count - c.redeem_count
        for c in before.coupons
        if (after_c := after.find_coupon(c.coupon_id)) and after_c.redeem_count != c.redeem_count
    }
    return {
        "points": after.points_available(at_ms) - before.points_available(at_ms),
        "sessions_used": sessions,
        "coupon_uses": uses,
    }


def _ledger_view(ledger: MemberLedger, now_ms: int) -> dict[str, Any]:
    return {
        "points_available": ledger.points_available(now_ms),
        "points_debt": ledger.points_debt,
        "points_earned_total": ledger.points_earned_total,
        "checkins": ledger.checkins,
        "passes": [
            {**p.model_dump(mode="json"), "sessions_left": p.sessions_left} for p in ledger.passes
        ],
        "coupons": [c.model_dump(mode="json") for c in ledger.coupons],
        "points_lots": [lot.model_dump(mode="json") for lot in ledger.points_lots],
    }


@router.get("/members/{member_id}/balance")
def balance(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    member_id: Annotated[Id, Path()],
    trail: Annotated[bool, Query(description="include the audit trail")] = True,
) -> dict[str, Any]:
    """Authoritative balances of a member, and (by default) how every event changed them."""
    now = coord.clock.wall_ms()
    with coord.db.read() as conn:
        check_member_access(principal, member_row(conn, member_id))
        ms = schema.member_states
        state = conn.execute(sa.select(ms).where(ms.c.member_id == member_id)).first()
        ledger = ledger_from_row(state.ledger) if state else MemberLedger()
        out: dict[str, Any] = {
            "member_id": member_id,
            "tier": state.tier if state else None,
            "members_version": state.version if state else 0,
            "ledger": _ledger_view(ledger, now),
        }
        if not trail:
            return out
        events = member_events(conn, member_id)
        c = schema.conflicts
        raised: dict[str, list[str]] = {}
        for row in conn.execute(
            sa.select(c.c.event_id, c.c.conflict_id).where(c.c.member_id == member_id)
        ):
            raised.setdefault(row.event_id, []).append(row.conflict_id)
        ev = schema.events
        ids = dict(
            conn.execute(sa.select(ev.c.event_id, ev.c.id).where(ev.c.member_id == member_id)).all()
        )
    steps: list[dict[str, Any]] = []
    running = MemberLedger()
    for event in events:
        after, anomalies = apply(running, event)
        effect = _effect(running, after, event.hlc_ms)
        kinds = [a.kind.value for a in anomalies]
        steps.append(
            _step(event, ids.get(event.event_id), effect, kinds, raised.get(event.event_id, []))
        )
        running = after
    out["trail"] = steps
    out["trail_matches_ledger"] = running == ledger
    return out


def _step(
    event: Event,
    row_id: int | None,
    effect: dict[str, Any],
    anomalies: list[str],
    conflicts: list[str],
) -> dict[str, Any]:
    return {
        "id": row_id,
        "event_id": event.event_id,
        "source": event.kiosk_id,
        "seq": event.seq,
        "store_id": event.store_id,
        "kind": event.kind,
        "hlc_ms": event.hlc_ms,
        "hlc_c": event.hlc_c,
        "offline": event.offline,
        "body": event.body.model_dump(mode="json"),
        "effect": effect,
        "anomalies": anomalies,
        "conflicts": conflicts,
    }
