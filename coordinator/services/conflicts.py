"""Conflicts: list, read, tell the story, resolve with an audited adjustment."""

from __future__ import annotations

import json
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import Field

from coordinator import schema
from coordinator.errors import not_found
from coordinator.ledger import conflict_story
from coordinator.ledger.class_capacity import session_signins
from coordinator.ledger.explain import Place
from coordinator.ledger.jsonrows import json_list_contains, ledger_from_row, loads_list
from coordinator.ledger.member_fold import member_events
from coordinator.ledger.narrator import CLASS_OVER_CAPACITY
from coordinator.ledger.resolution import Decision, resolve
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services.common import Body, Out, audit
from shared.model import Id

Status = Literal["open", "resolved", "withdrawn"]


class Resolve(Body):
    """Staff's decision. All deltas zero = accept what was recorded, with a note."""

    note: str = Field(min_length=3, max_length=1000)
    points_delta: int = Field(0, ge=-(10**7), le=10**7)
    sessions_delta: int = Field(0, ge=-1000, le=1000)
    """Sessions given back (+) or charged (-) on the pass."""
    coupon_uses_delta: int = Field(0, ge=-10, le=10)
    """-1 forgives one use of a coupon redeemed twice."""
    principal_delta_fen: int = Field(0, ge=-(10**9), le=10**9)
    """Stored-value principal given back (+, e.g. an overdraw forgiven) or charged (-), fen."""
    pass_id: Id | None = None
    coupon_id: Id | None = None


class ConflictOut(Out):
    """A conflict as the API shows it: what, whose, where, the explanation, the outcome."""

    conflict_id: str
    kind: str
    status: Status
    member_id: str | None
    subject_id: str | None
    event_id: str | None
    kiosk_id: str | None
    store_id: str | None
    store_ids: list[str]
    amount: int
    occurrences: int
    explanation: str
    detail: dict[str, Any]
    created_ms: int
    updated_ms: int
    resolved_by: str | None
    resolved_ms: int | None
    resolution_note: str | None
    resolution_event_id: str | None


class Resolved(ConflictOut):
    """The conflict after the decision, with the adjustment event (None: accepted as is)."""

    adjustment: dict[str, Any] | None


class ConflictPage(Out):
    """Conflicts newest first; pass ``next_before_ms`` back as ``before_ms``."""

    items: list[ConflictOut]
    next_before_ms: int | None


class StoryStep(Out):
    """One fact of the story, in ledger order, in both languages."""

    n: int
    at_ms: int
    when: str
    store_id: str | None
    kiosk_id: str
    offline: bool
    target: bool = Field(description="True for the fact that went over.")
    what: dict[str, str]
    after: dict[str, str]


class StoryOption(Out):
    """A decision staff can take, with the resolve body it sends and what it means."""

    key: str
    body: dict[str, Any]
    text: dict[str, str]


class Story(Out):
    """A conflict told for the person who must decide it."""

    conflict: ConflictOut
    member_name: str | None
    store_names: dict[str, str]
    steps: list[StoryStep]
    options: list[StoryOption]


def conflict_out(row: sa.Row[Any]) -> ConflictOut:
    """A conflict row as the API shows it."""
    return ConflictOut(
        conflict_id=row.conflict_id,
        kind=row.kind,
        status=row.status,
        member_id=row.member_id,
        subject_id=row.subject_id,
        event_id=row.event_id,
        kiosk_id=row.kiosk_id,
        store_id=row.store_id,
        store_ids=loads_list(row.store_ids),
        amount=row.amount,
        occurrences=row.occurrences,
        explanation=row.explanation,
        detail=json.loads(row.detail or "{}"),
        created_ms=row.created_ms,
        updated_ms=row.updated_ms,
        resolved_by=row.resolved_by,
        resolved_ms=row.resolved_ms,
        resolution_note=row.resolution_note,
        resolution_event_id=row.resolution_event_id,
    )


def _visible(principal: Principal, row: sa.Row[Any]) -> bool:
    own = principal.store_filter()
    return own is None or own in loads_list(row.store_ids) or row.store_id == own


def list_conflicts(
    coord: Coordinator,
    principal: Principal,
    *,
    status: Status | None = None,
    kind: str | None = None,
    member_id: str | None = None,
    store_id: str | None = None,
    limit: int = 100,
    before_ms: int | None = None,
) -> ConflictPage:
    """Conflicts, newest first (a store manager sees those involving their store)."""
    if store_id is not None:
        principal.require_store(store_id)
    c = schema.conflicts
    query = sa.select(c).order_by(c.c.created_ms.desc(), c.c.conflict_id).limit(limit * 5)
    if status:
        query = query.where(c.c.status == status)
    if kind:
        query = query.where(c.c.kind == kind)
    if member_id:
        query = query.where(c.c.member_id == member_id)
    if before_ms is not None:
        query = query.where(c.c.created_ms < before_ms)
    own = principal.store_filter()
    if own is not None:
        # In SQL, so a store manager's page is not emptied by other stores' conflicts;
        # _visible below re-checks exactly (the JSON list match is textual).
        query = query.where(sa.or_(c.c.store_id == own, json_list_contains(c.c.store_ids, own)))
    with coord.db.read() as conn:
        rows = [r for r in conn.execute(query) if _visible(principal, r)]
    if store_id is not None:
        rows = [r for r in rows if store_id in loads_list(r.store_ids) or r.store_id == store_id]
    items = [conflict_out(r) for r in rows[:limit]]
    return ConflictPage(
        items=items, next_before_ms=items[-1].created_ms if len(items) == limit else None
    )


def get_conflict(coord: Coordinator, principal: Principal, conflict_id: str) -> ConflictOut:
    """One conflict with its explanation and resolution (404 when not visible)."""
    c = schema.conflicts
    with coord.db.read() as conn:
        row = conn.execute(sa.select(c).where(c.c.conflict_id == conflict_id)).first()
    if row is None or not _visible(principal, row):
        raise not_found("conflict", conflict_id, "conflict_id")
    return conflict_out(row)


def resolve_conflict(
    coord: Coordinator, principal: Principal, conflict_id: str, body: Resolve
) -> Resolved:
    """Resolve with an audited adjustment event by the logged-in staff user."""
    principal.require_manager()
    now = coord.clock.wall_ms()
    c = schema.conflicts
    with coord.db.write() as conn:
        row = conn.execute(sa.select(c).where(c.c.conflict_id == conflict_id)).first()
        if row is None or not _visible(principal, row):
            raise not_found("conflict", conflict_id, "conflict_id")
        updated, event = resolve(
            conn,
            coord.recorder,
            conflict_id,
            Decision(**body.model_dump()),
            staff_user=principal.username,
            now_ms=now,
        )
        audit(conn, principal.username, "conflict.resolve", conflict_id, now, **body.model_dump())
    coord.pusher.wake()
    return Resolved(
        **conflict_out(updated).model_dump(),
        adjustment=event.model_dump(mode="json") if event else None,
    )


def story(coord: Coordinator, principal: Principal, conflict_id: str) -> Story:
    """A conflict with its story in both languages and what each resolution would do."""
    view = get_conflict(coord, principal, conflict_id)
    now = coord.clock.wall_ms()
    member = view.member_id
    with coord.db.read() as conn:
        stores = conn.execute(sa.select(schema.stores)).all()
        kiosks = conn.execute(sa.select(schema.kiosks.c.kiosk_id, schema.kiosks.c.store_id)).all()
        place = Place(
            store_names={s.store_id: s.name for s in stores},
            store_timezones={s.store_id: s.timezone for s in stores},
            kiosk_stores={k.kiosk_id: k.store_id for k in kiosks},
        )
        if view.kind == CLASS_OVER_CAPACITY and view.subject_id:
            events = session_signins(conn, view.subject_id)  # the class's, every member
        else:
            events = member_events(conn, member) if member else []
        ms = schema.member_states
        state = (
            conn.execute(sa.select(ms.c.ledger).where(ms.c.member_id == member)).scalar()
            if member
            else None
        )
        m = schema.members
        name = (
            conn.execute(sa.select(m.c.display_name).where(m.c.member_id == member)).scalar()
            if member
            else None
        )
    ledger = ledger_from_row(state) if state else None
    raw = view.model_dump()
    steps = conflict_story.story(raw, events, place)
    opts = conflict_story.options(raw, ledger, now) if view.status == "open" else []
    return Story(
        conflict=view,
        member_name=name,
        store_names=dict(place.store_names),
        steps=[
            StoryStep(
                n=s.n,
                at_ms=s.at_ms,
                when=s.when,
                store_id=s.store_id,
                kiosk_id=s.kiosk_id,
                offline=s.offline,
                target=s.target,
                what=dict(s.what),
                after=dict(s.after),
            )
            for s in steps
        ],
        options=[StoryOption(key=o.key, body=dict(o.body), text=dict(o.text)) for o in opts],
    )
