"""Reconciliation of class capacity: a session that ended with more students than seats.

Kiosks admit within seat allocations (``shared.seats``), so a class can go over only while
kiosks are offline, within the bound ``shared.seats.worst_case_admitted`` computes. When
the sign-ins the coordinator folds for a session outnumber its capacity, that is recorded
as one conflict per session with its story (``coordinator.ledger.narrator``): every
sign-in in ledger order, which kiosk admitted it and whether offline, and the one that
went over. Nothing is undone: the students were there.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.downstream.rule_bundles import bundle_for_store
from coordinator.ledger.conflicts import ConflictDraft, display_name, load_place, raise_conflict
from coordinator.ledger.explain import render_story
from coordinator.ledger.jsonrows import event_from_row
from coordinator.ledger.narrator import CLASS_OVER_CAPACITY, Place, narrate
from shared.events import ClassSignIn, Event
from shared.model import RuleBundle
from shared.seats import worst_case_admitted


def session_signins(conn: Connection, class_session_id: str) -> list[Event]:
    """Every folded sign-in to the session, in ledger order (one per member: the first)."""
    ev = schema.events
    rows = conn.execute(
        sa.select(ev.c.body).where(
            ev.c.kind == "class_signin",
            ev.c.class_session_id == class_session_id,
            ev.c.quarantined.is_(False),
        )
    ).scalars()
    events = sorted((event_from_row(r) for r in rows), key=Event.sort_key)
    seen: set[str | None] = set()
    first: list[Event] = []
    for event in events:
        if event.member_id not in seen:
            seen.add(event.member_id)
            first.append(event)
    return first


def check_capacity(
    conn: Connection, applied: Sequence[Event], now_ms: int, place: Place | None
) -> tuple[list[str], Place | None]:
    """Raise ``class_over_capacity`` for each session these events signed students into
    that now holds more than its capacity; returns the new conflict ids."""
    touched = sorted(
        {
            (e.store_id, e.body.class_session_id)
            for e in applied
            if isinstance(e.body, ClassSignIn) and e.store_id
        }
    )
    raised: list[str] = []
    bundles: dict[str, RuleBundle | None] = {}
    for store_id, session_id in touched:
        if store_id not in bundles:
            bundles[store_id] = bundle_for_store(conn, store_id)
        bundle = bundles[store_id]
        session = bundle.class_session(session_id) if bundle else None
        if session is None or session.capacity <= 0 or not session.seats:
            continue
        signins = session_signins(conn, session_id)
        if len(signins) <= session.capacity:
            continue
        place = place or load_place(conn)
        over = signins[session.capacity]
        detail = (
            f"{session.capacity} seats, {len(signins)} signed in, "
            f"bound {worst_case_admitted(session)}"
        )
        story = narrate(
            CLASS_OVER_CAPACITY,
            member_id=over.member_id,
            display_name=display_name(conn, over.member_id),
            subject_id=session_id,
            event_id=over.event_id,
            amount=len(signins) - session.capacity,
            detail=detail,
            events=signins,
            place=place,
        )
        new_id = raise_conflict(
            conn,
            ConflictDraft(
                dedupe_key=f"{CLASS_OVER_CAPACITY}:{session_id}",
                kind=CLASS_OVER_CAPACITY,
                explanation=render_story(story, place, "en"),
                member_id=over.member_id,
                subject_id=session_id,
                event_id=over.event_id,
                kiosk_id=over.kiosk_id,
                store_id=store_id,
                store_ids=[store_id],
                amount=len(signins) - session.capacity,
                detail={
                    "capacity": session.capacity,
                    "signed_in": len(signins),
                    "bound": worst_case_admitted(session),
                    "offline_kiosks": list(story.offline_kiosks),
                },
            ),
            now_ms,
        )
        if new_id:
            raised.append(new_id)
    return raised, place
