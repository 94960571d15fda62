"""The lost-card deny-list: versioned entries, deltas for the fleet, full lists on request.

Each change takes the next ``deny_version``; entries are never deleted (a card taken off
the list keeps a ``removed`` row), so a delta from any earlier version can be computed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.db import lock_counter, next_counter
from shared.model import DenyEntry
from shared.protocol import DenyListUpdate

log = logging.getLogger(__name__)

FULL_LIST_AFTER = 5000
"""A kiosk more than this many changes behind gets the full list instead of a delta."""


def change(conn: Connection, added: Sequence[DenyEntry], removed: Sequence[str]) -> DenyListUpdate:
    """Put cards on (or take them off) the list; returns the delta to publish after commit."""
    d = schema.deny_entries
    version = next_counter(conn, "deny_version")
    for entry in added:
        values = {
            "revoked_ms": entry.revoked_ms,
            "reason": entry.reason,
            "removed": False,
            "version": version,
        }
        updated = conn.execute(sa.update(d).where(d.c.uid == entry.uid).values(**values))
        if updated.rowcount == 0:
            conn.execute(sa.insert(d).values(uid=entry.uid, **values))
    for uid in removed:
        conn.execute(sa.update(d).where(d.c.uid == uid).values(removed=True, version=version))
    return DenyListUpdate(
        version=version,
        base_version=version - 1,
        full=False,
        added=tuple(added),
        removed=tuple(removed),
    )


def _entries(conn: Connection, since: int | None) -> tuple[list[DenyEntry], list[str]]:
    d = schema.deny_entries
    query = sa.select(d).order_by(d.c.uid)
    if since is not None:
        query = query.where(d.c.version > since)
    added: list[DenyEntry] = []
    removed: list[str] = []
    for row in conn.execute(query):
        if row.removed:
            if since is not None:
                removed.append(row.uid)
        else:
            added.append(DenyEntry(uid=row.uid, revoked_ms=row.revoked_ms, reason=row.reason))
    return added, removed


def catch_up(conn: Connection, kiosk_version: int) -> DenyListUpdate | None:
    """What a kiosk at ``kiosk_version`` needs: None, a delta, or the full list."""
    current = lock_counter(conn, "deny_version")
    if kiosk_version > current:
        log.warning(
            "a kiosk reports deny-list version %d above ours (%d); advancing ours and "
            "sending the full list",
            kiosk_version,
            current,
        )
        current = kiosk_version + 1
        conn.execute(
            sa.update(schema.counters)
            .where(schema.counters.c.name == "deny_version")
            .values(value=current)
        )
        return full_list(conn, current)
    if kiosk_version == current:
        return None
    if kiosk_version > 0:
        d = schema.deny_entries
        changes = conn.execute(
            sa.select(sa.func.count()).select_from(d).where(d.c.version > kiosk_version)
        ).scalar_one()
        if changes <= FULL_LIST_AFTER:
            added, removed = _entries(conn, kiosk_version)
            return DenyListUpdate(
                version=current,
                base_version=kiosk_version,
                full=False,
                added=tuple(added),
                removed=tuple(removed),
            )
    return full_list(conn, current)


def full_list(conn: Connection, version: int | None = None) -> DenyListUpdate:
    """Every card currently on the list."""
    if version is None:
        version = lock_counter(conn, "deny_version")
    added, _ = _entries(conn, None)
    return DenyListUpdate(version=version, base_version=0, full=True, added=tuple(added))


def revoked_entry(conn: Connection, uid: str) -> DenyEntry | None:
    """The active deny-list entry of a card, if any."""
    d = schema.deny_entries
    row = conn.execute(sa.select(d).where(d.c.uid == uid, d.c.removed.is_(False))).first()
    if row is None:
        return None
    return DenyEntry(uid=row.uid, revoked_ms=row.revoked_ms, reason=row.reason)
