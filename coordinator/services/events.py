"""The ledger's facts as staff read them: events with keyset paging, and a member's
balances with the audit trail of how every event changed them."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from pydantic import Field, create_model

from coordinator import schema
from coordinator.ledger.jsonrows import ledger_from_row
from coordinator.ledger.member_fold import member_events
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services.common import Out, check_member_access, member_row, scoped_store
from shared.events import Event
from shared.fold import apply
from shared.model import CouponState, MemberLedger, PassState, PointsLot


class StoredEvent(Out):
    """A stored event: ledger identity, where and when it was received, the event itself."""

    id: int = Field(description="Arrival order at this coordinator (keyset paging).")
    event_id: str
    source: str = Field(description="Kiosk id, or ``hq`` for the coordinator's own facts.")
    seq: int
    store_id: str | None
    member_id: str | None
    kind: str
    hlc_ms: int
    hlc_c: int
    wall_ms: int
    received_ms: int
    offline: bool
    quarantined: bool
    event: dict[str, Any] = Field(description="The event as the source recorded it.")


class EventPage(Out):
    """Events in arrival order; pass ``next_after_id`` back as ``after_id``."""

    items: list[StoredEvent]
    next_after_id: int | None


PassView = create_model(
    "PassView",
    __base__=Out,
    __doc__="A pass as folded, with its sessions left.",
    sessions_left=(int, ...),
    not_started=(
        bool,
        Field(
            False,
            description="True while a pass sold to start at its first use waits for it "
            "(first_use.activate_by_ms: when it starts by itself at the latest).",
        ),
    ),
    starts_ms=(
        int | None,
        Field(None, description="When its window started (None: not started yet)."),
    ),
    **{name: (info.annotation, info) for name, info in PassState.model_fields.items()},  # type: ignore[call-overload]
)


class LedgerView(Out):
    """A member's folded balances."""

    points_available: int
    points_debt: int
    points_earned_total: int
    checkins: int
    passes: list[PassView]  # type: ignore[valid-type]
    coupons: list[CouponState]
    points_lots: list[PointsLot]


class Effect(Out):
    """What one event changed."""

    points: int
    sessions_used: dict[str, int]
    coupon_uses: dict[str, int]


class TrailStep(Out):
    """One event of the member in ledger order, its effect, anomalies and conflicts."""

    id: int | None
    event_id: str
    source: str
    seq: int
    store_id: str | None
    kind: str
    hlc_ms: int
    hlc_c: int
    offline: bool
    body: dict[str, Any]
    effect: Effect
    anomalies: list[str]
    conflicts: list[str]


class Balance(Out):
    """Authoritative balances of a member and (on request) the audit trail behind them."""

    member_id: str
    tier: str | None
    members_version: int
    ledger: LedgerView
    trail: list[TrailStep] | None = None
    trail_matches_ledger: bool | None = Field(
        None, description="The trail folded from nothing equals the stored ledger."
    )


def _stored(row: sa.Row[Any]) -> StoredEvent:
    return StoredEvent(
        id=row.id,
        event_id=row.event_id,
        source=row.source,
        seq=row.seq,
        store_id=row.store_id,
        member_id=row.member_id,
        kind=row.kind,
        hlc_ms=row.hlc_ms,
        hlc_c=row.hlc_c,
        wall_ms=row.wall_ms,
        received_ms=row.received_ms,
        offline=bool(row.offline),
        quarantined=bool(row.quarantined),
        event=json.loads(row.body),
    )


def list_events(
    coord: Coordinator,
    principal: Principal,
    *,
    member_id: str | None = None,
    source: str | None = None,
    store_id: str | None = None,
    kind: str | None = None,
    after_id: int = 0,
    limit: int = 200,
) -> EventPage:
    """Events in arrival order (a store manager: their store's)."""
    store_id = scoped_store(principal, store_id)
    ev = schema.events
    query = sa.select(ev).where(ev.c.id > after_id).order_by(ev.c.id).limit(limit)
    if member_id:
        query = query.where(ev.c.member_id == member_id)
    if source:
        query = query.where(ev.c.source == source)
    if store_id:
        query = query.where(ev.c.store_id == store_id)
    if kind:
        query = query.where(ev.c.kind == kind)
    with coord.db.read() as conn:
        items = [_stored(r) for r in conn.execute(query)]
    return EventPage(items=items, next_after_id=items[-1].id if len(items) == limit else None)


def _effect(before: MemberLedger, after: MemberLedger, at_ms: int) -> Effect:
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
    return Effect(
        points=after.points_available(at_ms) - before.points_available(at_ms),
        sessions_used=sessions,
        coupon_uses=uses,
    )


def ledger_view(ledger: MemberLedger, now_ms: int) -> LedgerView:
    """A folded ledger as the API shows it."""
    return LedgerView(
        points_available=ledger.points_available(now_ms),
        points_debt=ledger.points_debt,
        points_earned_total=ledger.points_earned_total,
        checkins=ledger.checkins,
        passes=[
            PassView(
                **p.model_dump(),
                sessions_left=p.sessions_left,
                not_started=p.awaiting_first_use(now_ms),
                starts_ms=p.starts_ms(now_ms),
            )
            for p in ledger.passes
        ],
        coupons=list(ledger.coupons),
        points_lots=list(ledger.points_lots),
    )


def balance(coord: Coordinator, principal: Principal, member_id: str, trail: bool) -> Balance:
    """Authoritative balances of a member, and (if asked) how every event changed them."""
    now = coord.clock.wall_ms()
    with coord.db.read() as conn:
        check_member_access(principal, member_row(conn, member_id))
        ms = schema.member_states
        state = conn.execute(sa.select(ms).where(ms.c.member_id == member_id)).first()
        ledger = ledger_from_row(state.ledger) if state else MemberLedger()
        out = Balance(
            member_id=member_id,
            tier=state.tier if state else None,
            members_version=state.version if state else 0,
            ledger=ledger_view(ledger, now),
        )
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
    steps: list[TrailStep] = []
    running = MemberLedger()
    for event in events:
        after, anomalies = apply(running, event)
        steps.append(
            _step(
                event,
                ids.get(event.event_id),
                _effect(running, after, event.hlc_ms),
                [a.kind.value for a in anomalies],
                raised.get(event.event_id, []),
            )
        )
        running = after
    return out.model_copy(update={"trail": steps, "trail_matches_ledger": running == ledger})


def _step(
    event: Event, row_id: int | None, effect: Effect, anomalies: list[str], conflicts: list[str]
) -> TrailStep:
    return TrailStep(
        id=row_id,
        event_id=event.event_id,
        source=event.kiosk_id,
        seq=event.seq,
        store_id=event.store_id,
        kind=event.kind,
        hlc_ms=event.hlc_ms,
        hlc_c=event.hlc_c,
        offline=event.offline,
        body=event.body.model_dump(mode="json"),
        effect=effect,
        anomalies=anomalies,
        conflicts=conflicts,
    )
