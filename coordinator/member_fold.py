"""Authoritative member balances: ``shared.fold`` over a member's events in sort order.

Each member has one ``member_states`` row holding the folded :class:`MemberLedger` and the
sort key of the last event folded into it. New events that all sort after that key are
applied incrementally; anything that sorts earlier (an offline kiosk catching up) makes the
member be recomputed from all of their events. Either way the stored ledger equals
``shared.fold.fold_sorted`` over every applied event of the member, whatever the arrival
order — the property the adversarial tests check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.jsonrows import events_sorted, ledger_from_row
from shared.events import Event
from shared.fold import Anomaly, fold, tier_for
from shared.model import MemberLedger, Rules

SortKey = tuple[int, int, str, int]
_EMPTY_LEDGER = MemberLedger().model_dump_json()
_MS = schema.member_states
_UPDATE_STATE = (
    sa.update(_MS)
    .where(_MS.c.member_id == sa.bindparam("m_id"))
    .values(
        ledger=sa.bindparam("m_ledger"),
        tier=sa.bindparam("m_tier"),
        last_hlc_ms=sa.bindparam("m_hlc_ms"),
        last_hlc_c=sa.bindparam("m_hlc_c"),
        last_source=sa.bindparam("m_source"),
        last_seq=sa.bindparam("m_seq"),
        event_count=sa.bindparam("m_count"),
        recomputes=sa.bindparam("m_recomputes"),
        next_expiry_ms=sa.bindparam("m_expiry"),
        change_no=sa.bindparam("m_change"),
        dirty=True,
        updated_ms=sa.bindparam("m_now"),
    )
)
"""One statement for every member folded in a transaction (executemany)."""


@dataclass(frozen=True)
class FoldOutcome:
    """What folding a member's new events did."""

    member_id: str
    ledger: MemberLedger
    anomalies: tuple[Anomaly, ...]
    """Anomalies of the new events (incremental) or of all events (recomputed)."""
    recomputed: bool
    events: tuple[Event, ...]
    """Every event of the member when recomputed; only the new ones otherwise."""
    tier: str
    tier_changed: bool


def ensure_member_states(conn: Connection, member_ids: Iterable[str], now_ms: int) -> None:
    """Create empty state rows for members the ledger has not seen yet (idempotent)."""
    wanted = sorted(set(member_ids))
    if not wanted:
        return
    ms = schema.member_states
    have: set[str] = set()
    for begin in range(0, len(wanted), 500):
        chunk = wanted[begin : begin + 500]
        have.update(
            conn.execute(sa.select(ms.c.member_id).where(ms.c.member_id.in_(chunk))).scalars()
        )
    missing = [m for m in wanted if m not in have]
    if not missing:
        return
    rows = [_empty_state(member_id, now_ms) for member_id in missing]
    # A savepoint keeps a concurrent replica's insert of the same rows from failing the
    # whole transaction (PostgreSQL); on a clash, retry row by row.
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(ms), rows)
        return
    except sa.exc.IntegrityError:
        pass
    for row in rows:
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(ms), [row])
        except sa.exc.IntegrityError:
            pass


def _empty_state(member_id: str, now_ms: int) -> dict[str, object]:
    return {
        "member_id": member_id,
        "ledger": _EMPTY_LEDGER,
        "tier": "",
        "last_hlc_ms": 0,
        "last_hlc_c": 0,
        "last_source": "",
        "last_seq": 0,
        "event_count": 0,
        "recomputes": 0,
        "change_no": 0,
        "dirty": True,
        "version": 0,
        "updated_ms": now_ms,
    }


def lock_member_states(conn: Connection, member_ids: Iterable[str]) -> dict[str, sa.Row[Any]]:
    """Lock the members' state rows (sorted by id, so lockers never deadlock) and read them."""
    ms = schema.member_states
    wanted = sorted(set(member_ids))
    rows: dict[str, sa.Row[Any]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for row in conn.execute(
            sa.select(ms)
            .where(ms.c.member_id.in_(chunk))
            .order_by(ms.c.member_id)
            .with_for_update()
        ):
            rows[row.member_id] = row
    return rows


def member_events(conn: Connection, member_id: str) -> list[Event]:
    """Every folded (not quarantined) event of a member, in sort order."""
    ev = schema.events
    bodies = conn.execute(
        sa.select(ev.c.body).where(ev.c.member_id == member_id, ev.c.quarantined.is_(False))
    ).scalars()
    return events_sorted(bodies)


def tier_of(ledger: MemberLedger, rules: Rules, now_ms: int) -> str:
    """The member's tier from points earned in the rules' window (``shared.fold.tier_for``)."""
    tiers = [(t.name, t.min_points_earned) for t in rules.tiers]
    return tier_for(ledger, tiers, now_ms, rules.tier_window_days) or rules.tiers[0].name


def next_expiry_ms(ledger: MemberLedger) -> int | None:
    """Earliest expiry among lots that still hold points (None when nothing can expire)."""
    live = [lot.expires_ms for lot in ledger.points_lots if lot.remaining > 0]
    return min(live) if live else None


def fold_new_events(
    conn: Connection,
    new_events: Mapping[str, Sequence[Event]],
    *,
    rules: Rules,
    now_ms: int,
) -> list[FoldOutcome]:
    """Fold freshly inserted events into their members' state rows; returns one outcome each.

    The events must already be in the ``events`` table (a recomputation reads them back).
    """
    if not new_events:
        return []
    ensure_member_states(conn, new_events.keys(), now_ms)
    rows = lock_member_states(conn, new_events.keys())
    outcomes: list[FoldOutcome] = []
    updates: list[dict[str, object]] = []
    for member_id in sorted(new_events):
        row = rows[member_id]
        fresh = sorted(new_events[member_id], key=Event.sort_key)
        last: SortKey = (row.last_hlc_ms, row.last_hlc_c, row.last_source, row.last_seq)
        if row.event_count == 0 or fresh[0].sort_key() > last:
            ledger, anomalies = fold(ledger_from_row(row.ledger), fresh)
            recomputed, seen = False, tuple(fresh)
        else:
            everything = member_events(conn, member_id)
            ledger, anomalies = fold(MemberLedger(), everything)
            recomputed, seen = True, tuple(everything)
        newest = max(last, fresh[-1].sort_key())
        tier = tier_of(ledger, rules, now_ms)
        updates.append(
            {
                "m_id": member_id,
                "m_ledger": ledger.model_dump_json(),
                "m_tier": tier,
                "m_hlc_ms": newest[0],
                "m_hlc_c": newest[1],
                "m_source": newest[2],
                "m_seq": newest[3],
                "m_count": row.event_count + len(fresh),
                "m_recomputes": row.recomputes + (1 if recomputed else 0),
                "m_expiry": next_expiry_ms(ledger),
                "m_change": row.change_no + 1,
                "m_now": now_ms,
            }
        )
        outcomes.append(
            FoldOutcome(
                member_id=member_id,
                ledger=ledger,
                anomalies=anomalies,
                recomputed=recomputed,
                events=seen,
                tier=tier,
                tier_changed=tier != row.tier,
            )
        )
    conn.execute(_UPDATE_STATE, updates)
    return outcomes


def mark_changed(conn: Connection, member_ids: Iterable[str], now_ms: int) -> None:
    """Flag members whose record (profile, cards, tier) changed so the next push carries them."""
    wanted = sorted(set(member_ids))
    if not wanted:
        return
    ensure_member_states(conn, wanted, now_ms)
    lock_member_states(conn, wanted)
    ms = schema.member_states
    conn.execute(
        sa.update(ms)
        .where(ms.c.member_id.in_(wanted))
        .values(change_no=ms.c.change_no + 1, dirty=True, updated_ms=now_ms)
    )
