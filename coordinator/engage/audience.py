"""Audiences: the members a segment names, for automations and coupon campaigns.

Tier, tags, home store and birthday month are columns; lapsed, at risk and the RFM
quadrant come from the members' visit history with the reports' own rules
(:func:`coordinator.reports.lapsed.find_lapsed`, :func:`coordinator.reports.rfm.rfm`), read
once per run and only when a segment asks for them. Whether a member belongs is decided by
:func:`shared.engage.in_segment`, the one home of that rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.ledger.jsonrows import ledger_from_row
from coordinator.reports import queries
from coordinator.reports.lapsed import find_lapsed
from coordinator.reports.period import day_number, utc_offset_ms
from coordinator.reports.rfm import MemberActivity, rfm
from shared.automation import Segment
from shared.decide import local_day
from shared.engage import MemberFacts, in_segment
from shared.model import DAY_MS, MemberLedger

LOOKBACK_DAYS = 365
"""Visit history read for lapsed, at-risk and RFM (the reports' window)."""


@dataclass(frozen=True)
class VisitHistory:
    """Per member: cycles overdue (lapsed report) and RFM quadrant."""

    overdue: Mapping[str, float] = field(default_factory=dict)
    quadrant: Mapping[str, str] = field(default_factory=dict)


def visit_history(conn: Connection, now_ms: int, timezone: str) -> VisitHistory:
    """Every member's overdue cycles and RFM quadrant over the last year, store-local."""
    today = day_number(date.fromisoformat(local_day(now_ms, timezone)))
    since_ms = now_ms - LOOKBACK_DAYS * DAY_MS
    visits = queries.visit_days(
        conn, since_ms, utc_offset_ms(timezone, now_ms), None, last_day=today
    )
    revenue = queries.pass_revenue(conn, since_ms, None)
    # factor 0: every member with enough visits, with how overdue they are.
    overdue = {m.member_id: m.overdue for m in find_lapsed(visits, today, factor=0.0)}
    result = rfm(
        [
            MemberActivity(
                member_id=m,
                last_visit_day=max(visits[m]) if m in visits else None,
                visits=len(set(visits.get(m, ()))),
                monetary_fen=revenue.get(m, 0),
            )
            for m in sorted(set(visits) | set(revenue))
        ],
        today,
    )
    return VisitHistory(overdue, {row.member_id: row.quadrant for row in result.rows})


def member_tags(text: str | None) -> frozenset[str]:
    """The tags column as a set."""
    return frozenset(json.loads(text)) if text else frozenset()


def member_facts(
    conn: Connection,
    member_ids: Sequence[str],
    states: Mapping[str, Any],
    history: VisitHistory,
) -> list[MemberFacts]:
    """What segments and triggers look at, for these members (state rows already read)."""
    m = schema.members
    rows = conn.execute(
        sa.select(
            m.c.member_id,
            m.c.created_ms,
            m.c.home_store_id,
            m.c.status,
            m.c.birthday,
            m.c.tags,
            m.c.referrer_id,
        ).where(m.c.member_id.in_(list(member_ids)))
    )
    rows = sorted(rows, key=lambda r: r.member_id)
    # A referee's first paid purchase may earn the referrer a reward: asked of them only.
    paid = queries.paid_members(conn, [r.member_id for r in rows if r.referrer_id])
    facts = []
    for row in rows:
        state = states.get(row.member_id)
        facts.append(
            MemberFacts(
                member_id=row.member_id,
                created_ms=row.created_ms,
                ledger=ledger_from_row(state.ledger) if state is not None else MemberLedger(),
                tier=state.tier if state is not None else "basic",
                home_store_id=row.home_store_id,
                birthday=row.birthday,
                tags=member_tags(row.tags),
                active=row.status == "active",
                overdue_cycles=history.overdue.get(row.member_id),
                rfm_quadrant=history.quadrant.get(row.member_id),
                referred_by=row.referrer_id,
                paid=row.member_id in paid,
            )
        )
    return facts


def _batches(conn: Connection, batch: int) -> Iterator[list[str]]:
    m = schema.members
    cursor = ""
    while True:
        ids = list(
            conn.execute(
                sa.select(m.c.member_id)
                .where(m.c.member_id > cursor, m.c.status == "active")
                .order_by(m.c.member_id)
                .limit(batch)
            ).scalars()
        )
        if not ids:
            return
        yield ids
        cursor = ids[-1]


def audience(
    conn: Connection, segment: Segment, now_ms: int, timezone: str, *, batch: int = 1000
) -> list[str]:
    """The active members in ``segment`` now, by id."""
    history = visit_history(conn, now_ms, timezone) if segment.needs_activity else VisitHistory()
    ms = schema.member_states
    found: list[str] = []
    for ids in _batches(conn, batch):
        states = {
            r.member_id: r for r in conn.execute(sa.select(ms).where(ms.c.member_id.in_(ids)))
        }
        found.extend(
            f.member_id for f in member_facts(conn, ids, states, history) if in_segment(segment, f)
        )
    return found
