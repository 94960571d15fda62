"""Conflicts: facts the ledger recorded that need a human decision.

A conflict is unique on its ``dedupe_key`` (for fold anomalies ``<kind>:<event_id>``), so
recomputing a member never raises the same conflict twice. Conflicts are never deleted:
they are ``open``, ``resolved`` (by an audited adjustment event, see
:mod:`coordinator.ledger.resolution`) or ``withdrawn`` (a later recomputation, e.g. after a
late-arriving reversal, no longer raises the anomaly).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.ledger.explain import Place, explain_anomaly
from coordinator.ledger.jsonrows import dumps
from coordinator.ledger.member_fold import FoldOutcome
from shared.fold import Anomaly, AnomalyKind


class ConflictKind(StrEnum):
    """Conflicts that do not come from the fold (those use ``AnomalyKind`` values)."""

    CARD_REVOKED_USED = "card_revoked_used"
    CLOCK_SKEW = "clock_skew"
    QR_REPLAY = "qr_replay"
    POISONED_SEQ = "poisoned_seq"
    DUPLICATE_EVENT_ID = "duplicate_event_id"
    QUARANTINED_EVENT = "quarantined_event"


FOLD_KINDS = frozenset(k.value for k in AnomalyKind)


@dataclass
class ConflictDraft:
    """A conflict about to be recorded."""

    dedupe_key: str
    kind: str
    explanation: str
    member_id: str | None = None
    subject_id: str | None = None
    event_id: str | None = None
    kiosk_id: str | None = None
    store_id: str | None = None
    store_ids: Sequence[str] = ()
    amount: int = 0
    detail: dict[str, Any] = field(default_factory=dict)


def anomaly_key(anomaly: Anomaly) -> str:
    """The dedupe key of a fold anomaly."""
    return f"{anomaly.kind.value}:{anomaly.event_id}"


def raise_conflict(conn: Connection, draft: ConflictDraft, now_ms: int) -> str | None:
    """Record ``draft`` unless a conflict with its key exists; returns the new id or None."""
    c = schema.conflicts
    exists = conn.execute(
        sa.select(c.c.conflict_id).where(c.c.dedupe_key == draft.dedupe_key)
    ).first()
    if exists is not None:
        return None
    conflict_id = "cf" + uuid.uuid4().hex[:20]
    try:
        with conn.begin_nested():
            conn.execute(
                sa.insert(c).values(
                    conflict_id=conflict_id,
                    dedupe_key=draft.dedupe_key[:200],
                    kind=draft.kind,
                    status="open",
                    member_id=draft.member_id,
                    subject_id=draft.subject_id,
                    event_id=draft.event_id,
                    kiosk_id=draft.kiosk_id,
                    store_id=draft.store_id,
                    store_ids=dumps(sorted(set(draft.store_ids))),
                    amount=draft.amount,
                    occurrences=1,
                    explanation=draft.explanation,
                    detail=dumps(draft.detail),
                    created_ms=now_ms,
                    updated_ms=now_ms,
                )
            )
    except sa.exc.IntegrityError:
        return None  # another replica recorded it first
    return conflict_id


def raise_or_count(conn: Connection, draft: ConflictDraft, now_ms: int) -> str | None:
    """Like :func:`raise_conflict`, but an open conflict of the same kind for the same kiosk
    only gets its occurrence count raised (one clock problem, not one conflict per event)."""
    c = schema.conflicts
    open_row = conn.execute(
        sa.select(c.c.conflict_id)
        .where(c.c.kind == draft.kind, c.c.kiosk_id == draft.kiosk_id, c.c.status == "open")
        .limit(1)
    ).first()
    if open_row is None:
        return raise_conflict(conn, draft, now_ms)
    conn.execute(
        sa.update(c)
        .where(c.c.conflict_id == open_row.conflict_id)
        .values(occurrences=c.c.occurrences + 1, updated_ms=now_ms)
    )
    return None


def load_place(conn: Connection) -> Place:
    """Store names, time zones and kiosk locations for explanations."""
    stores = conn.execute(sa.select(schema.stores)).all()
    kiosks = conn.execute(sa.select(schema.kiosks.c.kiosk_id, schema.kiosks.c.store_id)).all()
    return Place(
        store_names={s.store_id: s.name for s in stores},
        store_timezones={s.store_id: s.timezone for s in stores},
        kiosk_stores={k.kiosk_id: k.store_id for k in kiosks},
    )


def display_name(conn: Connection, member_id: str | None) -> str | None:
    """The member's masked display name, if the member is registered."""
    if member_id is None:
        return None
    return conn.execute(
        sa.select(schema.members.c.display_name).where(schema.members.c.member_id == member_id)
    ).scalar_one_or_none()


def record_fold_conflicts(
    conn: Connection, outcomes: Iterable[FoldOutcome], now_ms: int, place: Place | None = None
) -> list[str]:
    """Turn the anomalies of fold outcomes into conflicts; withdraw stale ones on recompute.

    Returns the ids of conflicts created.
    """
    from coordinator.ledger.member_fold import member_events

    created: list[str] = []
    outcomes = list(outcomes)
    _withdraw_stale(
        conn,
        {o.member_id: {anomaly_key(a) for a in o.anomalies} for o in outcomes if o.recomputed},
        now_ms,
    )
    for outcome in outcomes:
        keys = {anomaly_key(a) for a in outcome.anomalies}
        if not outcome.anomalies:
            continue
        existing = _existing_keys(conn, keys)
        todo = [a for a in outcome.anomalies if anomaly_key(a) not in existing]
        if not todo:
            continue
        place = place or load_place(conn)
        events = (
            list(outcome.events) if outcome.all_events else member_events(conn, outcome.member_id)
        )
        name = display_name(conn, outcome.member_id)
        for anomaly in todo:
            explanation, stores = explain_anomaly(
                anomaly, display_name=name, events=events, place=place
            )
            target = next((e for e in events if e.event_id == anomaly.event_id), None)
            new_id = raise_conflict(
                conn,
                ConflictDraft(
                    dedupe_key=anomaly_key(anomaly),
                    kind=anomaly.kind.value,
                    explanation=explanation,
                    member_id=anomaly.member_id,
                    subject_id=anomaly.subject_id,
                    event_id=anomaly.event_id,
                    kiosk_id=target.kiosk_id if target else None,
                    store_id=place.store_of(target) if target else None,
                    store_ids=stores,
                    amount=anomaly.amount,
                    detail={"anomaly": anomaly.model_dump(mode="json")},
                ),
                now_ms,
            )
            if new_id:
                created.append(new_id)
    return created


def _existing_keys(conn: Connection, keys: Iterable[str]) -> set[str]:
    wanted = sorted(keys)
    if not wanted:
        return set()
    c = schema.conflicts
    return set(conn.execute(sa.select(c.c.dedupe_key).where(c.c.dedupe_key.in_(wanted))).scalars())


def _withdraw_stale(conn: Connection, current: dict[str, set[str]], now_ms: int) -> None:
    """Withdraw open fold conflicts of recomputed members (member id -> the anomaly keys
    their recomputation raised) that the recomputation no longer raises."""
    if not current:
        return
    c = schema.conflicts
    members = sorted(current)
    stale: list[str] = []
    for start in range(0, len(members), 500):
        rows = conn.execute(
            sa.select(c.c.conflict_id, c.c.member_id, c.c.dedupe_key).where(
                c.c.member_id.in_(members[start : start + 500]),
                c.c.status == "open",
                c.c.kind.in_(sorted(FOLD_KINDS)),
            )
        ).all()
        stale.extend(r.conflict_id for r in rows if r.dedupe_key not in current[r.member_id])
    if stale:
        conn.execute(
            sa.update(c)
            .where(c.c.conflict_id.in_(sorted(stale)))
            .values(
                status="withdrawn",
                updated_ms=now_ms,
                resolution_note="no longer raised after the member was recomputed with "
                "late-arriving events",
            )
        )
