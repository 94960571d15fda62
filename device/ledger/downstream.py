"""Applying what the coordinator sends down: member deltas/snapshots, rule bundles, deny-list.

Versions never go backwards: anything not newer than what is applied is ignored, and a delta
whose base is not our version is refused with ``NEED_SYNC`` (the link then asks for a sync).
Each function runs inside the caller's write transaction and updates ``state`` in memory;
the caller writes it back and commits.
"""

from __future__ import annotations

import logging
import sqlite3

from device.ledger import journal, members
from device.ledger.errors import LedgerError
from device.ledger.journal import KioskState
from device.ports import ApplyOutcome
from shared.protocol import DenyListUpdate, MemberUpdate, RuleBundleMessage

log = logging.getLogger(__name__)


class BadDownstreamMessage(LedgerError):
    """A downstream message is internally inconsistent; it was not applied."""

    code = "bad_downstream_message"


def _confirm(conn: sqlite3.Connection, state: KioskState, included_seq: int) -> None:
    """Raise the confirmed seq; the newly confirmed events leave the unconfirmed totals.

    The totals are kept equal to :func:`journal.unconfirmed_totals` at ``confirmed_seq``
    (appends add to them, confirmations and pruning take away) without summing the whole
    backlog: a member delta during a long drain costs the events it confirms, not the
    events still waiting.
    """
    if included_seq > state.last_seq:
        log.warning(
            "coordinator says it folded seq %d of kiosk %s but this ledger only reached %d; "
            "was the ledger restored from an old backup?",
            included_seq,
            state.kiosk_id,
            state.last_seq,
        )
        included_seq = state.last_seq
    if included_seq > state.confirmed_seq:
        sessions, points = journal.deducted_between(conn, state.confirmed_seq, included_seq)
        state.unconfirmed_sessions -= sessions
        state.unconfirmed_points -= points
        state.confirmed_seq = included_seq


def apply_members(
    conn: sqlite3.Connection, state: KioskState, message: MemberUpdate
) -> ApplyOutcome:
    """Apply a member delta, or stage one chunk of a full snapshot (switching when complete)."""
    if message.store_id != state.store_id:
        log.warning(
            "member update for store %s ignored by kiosk %s of store %s",
            message.store_id,
            state.kiosk_id,
            state.store_id,
        )
        return ApplyOutcome.IGNORED_OLD
    ours = message.included_seq.get(state.kiosk_id, 0)
    if message.version <= state.members_version:
        return ApplyOutcome.IGNORED_OLD
    if not message.full:
        if message.base_version != state.members_version:
            return ApplyOutcome.NEED_SYNC
        members.upsert(conn, message.members, ours)
        if message.removed:
            members.remove(conn, message.removed)
        state.members_version = message.version
        _confirm(conn, state, ours)
        return ApplyOutcome.APPLIED

    if message.chunk >= message.chunks:
        raise BadDownstreamMessage(
            f"snapshot v{message.version} chunk {message.chunk} of {message.chunks}: "
            "chunk numbers run from 0 to chunks-1; ask the coordinator for a new snapshot"
        )
    staged = members.staged_version(conn)
    if staged is not None and message.version < staged:
        return ApplyOutcome.IGNORED_OLD
    if staged is not None and message.version > staged:
        members.clear_staging(conn)
    expected = conn.execute(
        "SELECT chunks FROM snapshot_chunks WHERE version = ? LIMIT 1", (message.version,)
    ).fetchone()
    if expected is not None and int(expected[0]) != message.chunks:
        members.clear_staging(conn)
        raise BadDownstreamMessage(
            f"snapshot v{message.version} announced {expected[0]} chunks, now {message.chunks}; "
            "staging dropped, ask the coordinator for a new snapshot"
        )
    have = members.stage_chunk(
        conn,
        version=message.version,
        chunk=message.chunk,
        chunks=message.chunks,
        included_seq=ours,
        records=message.members,
    )
    if have < message.chunks:
        return ApplyOutcome.STAGED
    included = members.swap_in_staged(conn)
    state.members_version = message.version
    _confirm(conn, state, included)
    return ApplyOutcome.APPLIED


def apply_rules(
    conn: sqlite3.Connection, state: KioskState, message: RuleBundleMessage
) -> ApplyOutcome:
    """Store a rule bundle if it is newer and meant for this store."""
    bundle = message.bundle
    if bundle.store_ids and state.store_id not in bundle.store_ids:
        return ApplyOutcome.IGNORED_OLD
    if bundle.version <= state.rules_version:
        return ApplyOutcome.IGNORED_OLD
    # Only this store's staff hashes are kept, whatever a coordinator from before store
    # scoping sent: a stolen kiosk's SD card holds no other store's PIN hashes.
    bundle = bundle.for_store(state.store_id)
    conn.execute(
        "INSERT OR REPLACE INTO rule_bundle (id, version, bundle) VALUES (1, ?, ?)",
        (bundle.version, bundle.model_dump_json()),
    )
    state.rules_version = bundle.version
    return ApplyOutcome.APPLIED


def apply_deny(
    conn: sqlite3.Connection, state: KioskState, message: DenyListUpdate
) -> ApplyOutcome:
    """Apply a deny-list delta on our version, or replace the list with a full one."""
    if message.version <= state.deny_version:
        return ApplyOutcome.IGNORED_OLD
    if message.full:
        conn.execute("DELETE FROM deny_list")
    elif message.base_version != state.deny_version:
        return ApplyOutcome.NEED_SYNC
    conn.executemany(
        "INSERT OR REPLACE INTO deny_list (uid, revoked_ms, reason) VALUES (?, ?, ?)",
        ((e.uid, e.revoked_ms, e.reason) for e in message.added),
    )
    if message.removed:
        conn.executemany("DELETE FROM deny_list WHERE uid = ?", ((uid,) for uid in message.removed))
    state.deny_version = message.version
    return ApplyOutcome.APPLIED
