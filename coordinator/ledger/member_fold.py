"""Authoritative member balances: ``shared.fold`` over a member's events in sort order.

Each member has one ``member_states`` row holding the folded :class:`MemberLedger` and the
sort key of the last event folded into it. New events that all sort after that key are
applied incrementally; anything that sorts earlier (an offline kiosk catching up) makes the
member be recomputed. Either way the stored ledger equals ``shared.fold.fold_sorted`` over
every applied event of the member, whatever the arrival order — the property the
adversarial tests check.

A recomputation starts from the start, or — with :class:`FoldCheckpoints` — from the fold
state just before the earliest new event, remembered from an earlier fold of the same
member: the fold is a left fold, so the state after the events up to a key depends on
those events alone. A late kiosk draining a long backlog over members that another kiosk
already reported then refolds, batch after batch, only the events after its own position
instead of every event of those members.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.db import after_commit
from coordinator.ledger.jsonrows import event_from_row, events_sorted, ledger_from_row
from shared.events import Event
from shared.fold import Anomaly, fold
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
    """Every event of the member when ``all_events``; otherwise those folded this time (the
    new ones, or everything after the checkpoint a recomputation started from)."""
    tier: str
    tier_changed: bool
    all_events: bool = False


@dataclass(frozen=True)
class _Mark:
    """The fold of a member's events up to and including the one with sort key ``key``."""

    key: SortKey
    ledger: MemberLedger
    anomalies: tuple[Anomaly, ...]
    """Every anomaly those events raised, in fold order."""


@dataclass(frozen=True)
class _Marks:
    """Checkpoints of one member, valid while its state row is as it was committed."""

    change_no: int
    event_count: int
    marks: tuple[_Mark, ...]
    """Ascending keys; the last one is the member's whole fold."""
    since_mark: int
    """Events folded after the last mark but one (when to keep a new one)."""
    tail_after: SortKey | None = None
    tail: tuple[Event, ...] = ()
    """Every event of the member sorting after ``tail_after`` (when not None), in order:
    what a late kiosk's next batch refolds, without reading and parsing it again."""


class FoldCheckpoints:
    """Fold states part-way through members' events, kept in memory for recomputations.

    An entry is used only while the member's state row still has the ``change_no`` and
    ``event_count`` it was committed with (every fold bumps ``change_no``, so another
    replica's fold or a rolled-back transaction just makes it a miss), and entries are
    published only after their transaction committed. Bounded: the least recently used
    members are forgotten beyond ``max_marks`` checkpoints.
    """

    STRIDE = 32
    """A checkpoint every this many events (and one after the newest event of a batch that
    made a recomputation: where the next batch of the same late kiosk starts)."""
    TAIL = 500
    """At most this many parsed events kept per member after that checkpoint."""

    def __init__(self, max_marks: int = 50_000) -> None:
        self._max = max_marks
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Marks] = OrderedDict()
        self._count = 0
        self.hits = 0
        self.misses = 0

    def get(self, member_id: str, row: Any) -> _Marks | None:
        """The member's checkpoints if they match its (locked) state row."""
        with self._lock:
            entry = self._entries.get(member_id)
            if entry is None or (entry.change_no, entry.event_count) != (
                row.change_no,
                row.event_count,
            ):
                self.misses += 1
                return None
            self._entries.move_to_end(member_id)
            self.hits += 1
            return entry

    def put_all(self, entries: Iterable[tuple[str, _Marks]]) -> None:
        """Remember members' checkpoints (once their transaction committed)."""
        with self._lock:
            for member_id, entry in entries:
                old = self._entries.pop(member_id, None)
                self._count += len(entry.marks) - (len(old.marks) if old else 0)
                self._entries[member_id] = entry
            while self._count > self._max and self._entries:
                _, dropped = self._entries.popitem(last=False)
                self._count -= len(dropped.marks)


def _fold_marking(
    start: MemberLedger,
    anomalies: tuple[Anomaly, ...],
    events: Sequence[Event],
    marks: list[_Mark],
    since_mark: int,
    mark_at: SortKey | None = None,
) -> tuple[MemberLedger, tuple[Anomaly, ...], int]:
    """Fold ``events`` onto ``start``, appending a mark to ``marks`` every STRIDE events
    and after the event with key ``mark_at``."""
    ledger = start
    found = list(anomalies)
    for event in events:
        ledger, raised = fold(ledger, (event,))
        found.extend(raised)
        since_mark += 1
        key = event.sort_key()
        if since_mark >= FoldCheckpoints.STRIDE or key == mark_at:
            marks.append(_Mark(key, ledger, tuple(found)))
            since_mark = 0
    return ledger, tuple(found), since_mark


def _suffix(
    conn: Connection, member_id: str, known: _Marks, key: SortKey, fresh: Sequence[Event]
) -> list[Event]:
    """The member's events after ``key``: from the remembered tail plus this transaction's
    new events when the tail reaches back that far, else read from the database."""
    if known.tail_after is None or key < known.tail_after:
        return events_after(conn, member_id, key)
    return sorted([*(e for e in known.tail if e.sort_key() > key), *fresh], key=Event.sort_key)


def _tail(events: Sequence[Event], after: SortKey) -> tuple[SortKey | None, tuple[Event, ...]]:
    tail = tuple(e for e in events if e.sort_key() > after)
    return (after, tail) if len(tail) <= FoldCheckpoints.TAIL else (None, ())


def events_after(conn: Connection, member_id: str, key: SortKey) -> list[Event]:
    """The member's folded events that sort after ``key``, in sort order."""
    ev = schema.events
    bodies = conn.execute(
        sa.select(ev.c.body).where(
            ev.c.member_id == member_id, ev.c.quarantined.is_(False), ev.c.hlc_ms >= key[0]
        )
    ).scalars()
    return sorted(
        (e for e in (event_from_row(b) for b in bodies) if e.sort_key() > key),
        key=Event.sort_key,
    )


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
    """The name of the member's tier (:meth:`shared.model.Rules.tier_reached`)."""
    return rules.tier_reached(ledger, now_ms).name


def next_expiry_ms(ledger: MemberLedger) -> int | None:
    """Earliest expiry among lots that still hold points or stored-value bonus (None when
    nothing can expire)."""
    live = [lot.expires_ms for lot in ledger.points_lots if lot.remaining > 0]
    live += [
        lot.expires_ms
        for lot in ledger.stored_value.bonus_lots
        if lot.remaining > 0 and lot.expires_ms is not None
    ]
    return min(live) if live else None


def fold_new_events(
    conn: Connection,
    new_events: Mapping[str, Sequence[Event]],
    *,
    rules: Rules,
    now_ms: int,
    checkpoints: FoldCheckpoints | None = None,
) -> list[FoldOutcome]:
    """Fold freshly inserted events into their members' state rows; returns one outcome each.

    The events must already be in the ``events`` table (a recomputation reads them back).
    ``checkpoints`` lets recomputations start part-way (see the module's docstring).
    """
    if not new_events:
        return []
    ensure_member_states(conn, new_events.keys(), now_ms)
    rows = lock_member_states(conn, new_events.keys())
    outcomes: list[FoldOutcome] = []
    updates: list[dict[str, object]] = []
    remember: list[tuple[str, _Marks]] = []
    for member_id in sorted(new_events):
        row = rows[member_id]
        fresh = sorted(new_events[member_id], key=Event.sort_key)
        last: SortKey = (row.last_hlc_ms, row.last_hlc_c, row.last_source, row.last_seq)
        known = checkpoints.get(member_id, row) if checkpoints is not None else None
        count = row.event_count + len(fresh)
        marks: list[_Mark] = []
        all_events = False
        if row.event_count == 0 or fresh[0].sort_key() > last:
            recomputed, seen = False, tuple(fresh)
            if known is None:
                ledger, anomalies = fold(ledger_from_row(row.ledger), fresh)
            else:  # the last mark is the stored ledger: extend the checkpoints from there
                marks = list(known.marks[:-1])
                end = known.marks[-1]
                ledger, total, since = _fold_marking(
                    end.ledger, end.anomalies, fresh, marks, known.since_mark
                )
                anomalies = total[len(end.anomalies) :]
                marks.append(_Mark(fresh[-1].sort_key(), ledger, total))
                tail_after: SortKey | None = None
                tail: tuple[Event, ...] = ()
                if known.tail_after is not None:
                    tail_after, tail = _tail((*known.tail, *fresh), known.tail_after)
                remember.append(
                    (
                        member_id,
                        _Marks(row.change_no + 1, count, tuple(marks), since, tail_after, tail),
                    )
                )
        else:
            first = fresh[0].sort_key()
            resume = fresh[-1].sort_key()  # a late kiosk's next batch starts after this
            kept = [m for m in known.marks if m.key < first] if known is not None else []
            if known is not None and kept:
                start = kept[-1]
                marks = kept
                everything = _suffix(conn, member_id, known, start.key, fresh)
                ledger, anomalies, since = _fold_marking(
                    start.ledger, start.anomalies, everything, marks, 0, resume
                )
            else:
                everything = member_events(conn, member_id)
                ledger, anomalies, since = _fold_marking(
                    MemberLedger(), (), everything, marks, 0, resume
                )
                all_events = True
            recomputed, seen = True, tuple(everything)
            if checkpoints is not None and everything:
                marks.append(_Mark(everything[-1].sort_key(), ledger, anomalies))
                tail_after, tail = _tail(everything, resume)
                remember.append(
                    (
                        member_id,
                        _Marks(row.change_no + 1, count, tuple(marks), since, tail_after, tail),
                    )
                )
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
                "m_count": count,
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
                all_events=all_events,
            )
        )
    conn.execute(_UPDATE_STATE, updates)
    if checkpoints is not None and remember:
        after_commit(conn, lambda: checkpoints.put_all(remember))
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
