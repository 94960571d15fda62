"""Member changes going down to kiosks: coalesced deltas, catch-up deltas and snapshots.

One global, monotonic members version. Every push cycle takes the members changed since
the last push (``member_states.dirty``), stamps them with the next version and sends each
store one :class:`MemberUpdate` from ``base_version`` to that version (empty if none of the
changed members is visible there, so the store's chain of versions has no holes).

``included_seq`` is exact: the cycle reads the kiosks' ``applied_seq`` and the member
records in one consistent view — ingest transactions hold their kiosk row locked until
commit, and the cycle takes a share lock on the kiosk rows before reading the records —
so every record contains exactly that kiosk's events up to the stated seq.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.db import lock_counter
from coordinator.downstream import snapshots
from coordinator.downstream.snapshots import PAYLOAD_BUDGET, EncodedUpdate, composed_records, delta
from shared.hlc import HLC
from shared.protocol import MAX_SNAPSHOT_CHUNK_MEMBERS, MemberUpdate, decode_as

log = logging.getLogger(__name__)


def lock_kiosk_view(conn: Connection) -> dict[str, list[tuple[str, int]]]:
    """Share-lock every kiosk row; returns store id -> [(kiosk id, applied seq)]."""
    k = schema.kiosks
    rows = conn.execute(
        sa.select(k.c.kiosk_id, k.c.store_id, k.c.applied_seq, k.c.revoked)
        .order_by(k.c.kiosk_id)
        .with_for_update(read=True)
    ).all()
    by_store: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for row in rows:
        if not row.revoked:
            by_store[row.store_id].append((row.kiosk_id, int(row.applied_seq)))
    return by_store


def _included(by_store: dict[str, list[tuple[str, int]]], store_id: str) -> dict[str, int]:
    return dict(by_store.get(store_id, []))


def collect_push(conn: Connection, hlc: HLC) -> list[EncodedUpdate]:
    """Stamp the changed members with the next version; the deltas to send after commit.

    Runs in a write transaction. Returns [] when nothing changed. The records are composed
    from the stored ledger JSON (:mod:`coordinator.downstream.snapshots`): a push during a backlog
    drain carries hundreds of members, and parsing every ledger only to write it out again
    was most of its time, inside the write lock ingest waits for.
    """
    base = lock_counter(conn, "members_version")
    by_store = lock_kiosk_view(conn)
    ms = schema.member_states
    dirty = conn.execute(
        sa.select(ms.c.member_id, ms.c.change_no)
        .where(ms.c.dirty.is_(True))
        .order_by(ms.c.member_id)
        .limit(MAX_SNAPSHOT_CHUNK_MEMBERS)
    ).all()
    if not dirty:
        return []
    records = {r.member_id: r for r in composed_records(conn, [d.member_id for d in dirty])}
    taken: list[tuple[str, int]] = []
    size = 0
    for row in dirty:
        record = records.get(row.member_id)
        grow = record.size + 2 if record else 0
        if taken and size + grow > PAYLOAD_BUDGET:
            break  # the rest goes with the next cycle
        size += grow
        taken.append((row.member_id, row.change_no))
    version = base + 1
    conn.execute(
        sa.update(schema.counters)
        .where(schema.counters.c.name == "members_version")
        .values(value=version)
    )
    # A member changed again after we read it stays dirty and goes out next cycle.
    conn.execute(
        sa.update(ms)
        .where(ms.c.member_id == sa.bindparam("m_id"), ms.c.change_no == sa.bindparam("m_no"))
        .values(dirty=False, version=version),
        [{"m_id": m, "m_no": n} for m, n in taken],
    )
    chosen = [records[m] for m, _ in taken if m in records]
    return [
        delta(store_id, base, version, chosen, _included(by_store, store_id), hlc)
        for store_id in sorted(by_store)
    ]


def catch_up_plan(
    conn: Connection,
    store_id: str,
    kiosk_version: int,
    *,
    max_delta_members: int,
    hlc: HLC,
) -> list[EncodedUpdate] | None:
    """What a kiosk at ``kiosk_version`` needs: [] (current), one delta, or None for a full
    snapshot (send :class:`coordinator.downstream.snapshots.SnapshotStream` after the commit).

    Runs in a write transaction (it locks the members version while it reads).
    """
    current = lock_counter(conn, "members_version")
    if kiosk_version > current:
        # The kiosk has seen versions this database never issued (restored from a backup?).
        # Versions never go backwards, so move ours past the kiosk's and send everything.
        log.warning(
            "a kiosk of store %s reports members version %d above ours (%d); "
            "advancing the counter and sending a full snapshot",
            store_id,
            kiosk_version,
            current,
        )
        conn.execute(
            sa.update(schema.counters)
            .where(schema.counters.c.name == "members_version")
            .values(value=kiosk_version + 1)
        )
        return None
    if kiosk_version == current:
        return []
    if kiosk_version == 0:
        return None
    by_store = lock_kiosk_view(conn)
    ms = schema.member_states
    max_delta_members = min(max_delta_members, MAX_SNAPSHOT_CHUNK_MEMBERS)
    changed = [
        r.member_id
        for r in conn.execute(
            sa.select(ms.c.member_id)
            .where(ms.c.version > kiosk_version)
            .order_by(ms.c.member_id)
            .limit(max_delta_members + 1)
        )
    ]
    if len(changed) <= max_delta_members:
        records = composed_records(conn, changed)
        if sum(r.size + 2 for r in records) <= PAYLOAD_BUDGET:
            included = _included(by_store, store_id)
            return [delta(store_id, kiosk_version, current, records, included, hlc)]
    return None


def catch_up(
    conn: Connection,
    store_id: str,
    kiosk_version: int,
    *,
    max_delta_members: int,
    hlc: HLC,
) -> list[MemberUpdate]:
    """:func:`catch_up_plan` with any full snapshot built at once, in ``conn``."""
    planned = catch_up_plan(
        conn, store_id, kiosk_version, max_delta_members=max_delta_members, hlc=hlc
    )
    if planned is not None:
        return [update.message() for update in planned]
    lock_kiosk_view(conn)  # PostgreSQL: no ingest commits between the records' queries
    return snapshot(conn, store_id, hlc)


def snapshot(conn: Connection, store_id: str, hlc: HLC) -> list[MemberUpdate]:
    """Every member visible in the store as ``full`` chunks, decoded (small stores, tests).

    Senders stream the same bytes chunk by chunk with :mod:`coordinator.downstream.snapshots`.
    """
    return [decode_as(p, MemberUpdate) for p in snapshots.payloads(conn, store_id, hlc)]
