"""The append-only event journal (which is also the outbox): writing and reading events.

Callers hold a write transaction; every function here is a plain step inside it.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared.events import (
    ClassSignIn,
    CredentialRef,
    Event,
    EventBody,
    Reversal,
    StationRef,
    points_spent,
    session_delta,
)
from shared.hlc import HLC, tick


@dataclass
class KioskState:
    """The single ``kiosk`` row, read at the start of a transaction and written back."""

    kiosk_id: str
    store_id: str
    last_seq: int
    acked_seq: int
    confirmed_seq: int
    hlc: HLC
    unconfirmed_sessions: int
    unconfirmed_points: int
    offline_since_ms: int | None
    last_online_ms: int | None
    members_version: int
    rules_version: int
    deny_version: int


_READ_STATE = (
    "SELECT kiosk_id, store_id, last_seq, acked_seq, confirmed_seq, hlc_ms, hlc_c,"
    " unconfirmed_sessions, unconfirmed_points, offline_since_ms, last_online_ms,"
    " members_version, rules_version, deny_version FROM kiosk WHERE id = 1"
)


def read_state(conn: sqlite3.Connection) -> KioskState:
    """The kiosk row."""
    row = conn.execute(_READ_STATE).fetchone()
    return KioskState(
        kiosk_id=row[0],
        store_id=row[1],
        last_seq=row[2],
        acked_seq=row[3],
        confirmed_seq=row[4],
        hlc=HLC(row[5], row[6]),
        unconfirmed_sessions=row[7],
        unconfirmed_points=row[8],
        offline_since_ms=row[9],
        last_online_ms=row[10],
        members_version=row[11],
        rules_version=row[12],
        deny_version=row[13],
    )


def write_state(conn: sqlite3.Connection, state: KioskState) -> None:
    """Write back the mutable fields of the kiosk row."""
    conn.execute(
        "UPDATE kiosk SET last_seq = ?, acked_seq = ?, confirmed_seq = ?, hlc_ms = ?, hlc_c = ?,"
        " unconfirmed_sessions = ?, unconfirmed_points = ?, offline_since_ms = ?,"
        " last_online_ms = ?, members_version = ?, rules_version = ?, deny_version = ?"
        " WHERE id = 1",
        (
            state.last_seq,
            state.acked_seq,
            state.confirmed_seq,
            state.hlc.wall_ms,
            state.hlc.counter,
            state.unconfirmed_sessions,
            state.unconfirmed_points,
            state.offline_since_ms,
            state.last_online_ms,
            state.members_version,
            state.rules_version,
            state.deny_version,
        ),
    )


def append(
    conn: sqlite3.Connection,
    state: KioskState,
    bodies: Sequence[EventBody],
    *,
    first_hlc: HLC,
    wall_ms: int,
    member_id: str | None,
    credential: CredentialRef | None,
    offline: bool,
    rules_version: int,
    station: StationRef | None = None,
) -> list[Event]:
    """Append one decision's events with consecutive seqs; updates ``state`` (not written).

    The first event gets ``first_hlc`` (the timestamp the decision was taken at), the next
    ones tick from it, so a decision's events share its physical time.
    """
    events: list[Event] = []
    decision_seq = state.last_seq + 1
    hlc = first_hlc
    for index, body in enumerate(bodies):
        if index:
            # From the decision's own physical time, never from the wall clock, which is
            # evidence only (a clock years ahead must not reach the HLC this way).
            hlc = tick(hlc, first_hlc.wall_ms)
        state.last_seq += 1
        event = Event(
            event_id=uuid.uuid4().hex,
            kiosk_id=state.kiosk_id,
            store_id=state.store_id,
            seq=state.last_seq,
            hlc_ms=hlc.wall_ms,
            hlc_c=hlc.counter,
            wall_ms=wall_ms,
            member_id=member_id,
            offline=offline,
            rules_version=rules_version,
            credential=credential,
            station=station,
            body=body,
        )
        _, sessions = session_delta(event)
        points = points_spent(event)
        target = body.target_event_id if isinstance(body, Reversal) else None
        class_id = body.class_session_id if isinstance(body, ClassSignIn | Reversal) else None
        conn.execute(
            "INSERT INTO journal (seq, event_id, decision_seq, member_id, kind, hlc_ms, hlc_c,"
            " wall_ms, offline, d_sessions, d_points, target_event_id, class_session_id, payload)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.seq,
                event.event_id,
                decision_seq,
                member_id,
                body.kind,
                event.hlc_ms,
                event.hlc_c,
                wall_ms,
                int(offline),
                sessions,
                points,
                target,
                class_id,
                event.model_dump_json(),
            ),
        )
        state.unconfirmed_sessions += sessions
        state.unconfirmed_points += points
        events.append(event)
    state.hlc = hlc
    return events


def parse(payloads: Iterable[tuple[str]] | Iterable[sqlite3.Row]) -> list[Event]:
    """Events from ``payload`` column rows."""
    return [Event.model_validate_json(row[0]) for row in payloads]


def pending_for_member(conn: sqlite3.Connection, member_id: str, above_seq: int) -> list[Event]:
    """This kiosk's balance-relevant events for a member with seq above ``above_seq``."""
    rows = conn.execute(
        "SELECT payload FROM journal WHERE member_id = ? AND seq > ? AND kind != 'rejected'"
        " ORDER BY seq",
        (member_id, above_seq),
    )
    return parse(rows)


def unconfirmed_totals(conn: sqlite3.Connection, above_seq: int) -> tuple[int, int]:
    """(sessions, points) deducted by events with seq above ``above_seq``."""
    row = conn.execute(
        "SELECT coalesce(sum(d_sessions), 0), coalesce(sum(d_points), 0) FROM journal"
        " WHERE seq > ?",
        (above_seq,),
    ).fetchone()
    return int(row[0]), int(row[1])


def deducted_between(conn: sqlite3.Connection, above_seq: int, up_to_seq: int) -> tuple[int, int]:
    """(sessions, points) deducted by events with ``above_seq < seq <= up_to_seq`` (a range
    of the primary key: the cost is the events in the range, not the journal)."""
    row = conn.execute(
        "SELECT coalesce(sum(d_sessions), 0), coalesce(sum(d_points), 0) FROM journal"
        " WHERE seq > ? AND seq <= ?",
        (above_seq, up_to_seq),
    ).fetchone()
    return int(row[0]), int(row[1])


def find(conn: sqlite3.Connection, event_id: str) -> Event | None:
    """The journal event with this id, or None."""
    row = conn.execute("SELECT payload FROM journal WHERE event_id = ?", (event_id,)).fetchone()
    return Event.model_validate_json(row[0]) if row else None


def is_reversed(conn: sqlite3.Connection, event_id: str) -> bool:
    """True when a reversal of ``event_id`` is in the journal."""
    row = conn.execute(
        "SELECT 1 FROM journal WHERE target_event_id = ? LIMIT 1", (event_id,)
    ).fetchone()
    return row is not None
