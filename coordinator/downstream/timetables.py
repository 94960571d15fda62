"""Store timetables and the store bundles layered from them.

Rule bundles layer: the chain defaults (or a store's own bundle when that is newer), then
the store's overrides. A store's timetable is such an override. Every edit is kept as a
new revision and rolled out to that store's kiosks as a new rule-bundle version scoped to
the store alone (``base_version`` names the bundle it was layered over). When a bundle is
later published as such (a chain-wide rule change), every store whose base it becomes gets
its timetable layered over it again under a newer version, so a chain-wide publish never
takes a store's classes away and never touches another store's timetable.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.downstream import rule_bundles
from shared.model import DAY_MS, RuleBundle
from shared.seats import allocate_seats
from shared.timetable import Timetable, expand, horizon, layer_store

REFRESH_AFTER_MS = 7 * DAY_MS
"""A store's layered bundle is re-layered once this old, so its sessions (``HORIZON_DAYS``
from the publication) never run out for a kiosk that keeps in touch."""


@dataclass(frozen=True)
class StoredTimetable:
    """A store's timetable at one revision, and who saved it when."""

    revision: int
    timetable: Timetable
    note: str
    edited_by: str
    edited_ms: int


def current(conn: Connection, store_id: str) -> StoredTimetable | None:
    """The store's newest timetable revision, or None when it never had one."""
    st = schema.store_timetables
    row = conn.execute(
        sa.select(st).where(st.c.store_id == store_id).order_by(st.c.revision.desc()).limit(1)
    ).first()
    if row is None:
        return None
    return StoredTimetable(
        revision=row.revision,
        timetable=Timetable.model_validate_json(row.content),
        note=row.note,
        edited_by=row.edited_by,
        edited_ms=row.edited_ms,
    )


def save(conn: Connection, timetable: Timetable, *, note: str, user: str, now_ms: int) -> int:
    """Store ``timetable`` as its store's next revision; returns the revision."""
    st = schema.store_timetables
    last = conn.execute(
        sa.select(sa.func.max(st.c.revision)).where(st.c.store_id == timetable.store_id)
    ).scalar()
    revision = int(last or 0) + 1
    conn.execute(
        sa.insert(st).values(
            store_id=timetable.store_id,
            revision=revision,
            content=timetable.model_dump_json(),
            note=note,
            edited_by=user,
            edited_ms=now_ms,
        )
    )
    return revision


def store_kiosks(conn: Connection, store_id: str) -> list[str]:
    """The store's kiosks that are not revoked: each gets seats of every class."""
    k = schema.kiosks
    return list(
        conn.execute(
            sa.select(k.c.kiosk_id)
            .where(k.c.store_id == store_id, k.c.revoked.is_(False))
            .order_by(k.c.kiosk_id)
        ).scalars()
    )


def publish_layered(
    conn: Connection, store_id: str, *, user: str, now_ms: int
) -> RuleBundle | None:
    """Publish the store's timetable layered over its base bundle, under the next version
    and scoped to the store; None when the store has no timetable or no bundle to layer on.

    Every session's capacity is split into seat allocations among the store's kiosks now
    (``shared.seats``): a kiosk added later gets its seats with the next layering, which
    registering it triggers.
    """
    stored = current(conn, store_id)
    base = rule_bundles.base_for_store(conn, store_id)
    if stored is None or base is None:
        return None
    first, last = horizon(now_ms, stored.timetable.timezone)
    kiosks = store_kiosks(conn, store_id)
    share = base.rules.offline.class_seat_share_permille
    sessions = [
        s.model_copy(update={"seats": allocate_seats(s.capacity, kiosks, share)})
        for s in expand(stored.timetable, first, last)
    ]
    layered = layer_store(base, store_id, sessions)
    draft = rule_bundles.create_draft(
        conn,
        layered,
        note=f"timetable r{stored.revision} over v{base.version}",
        user=user,
        now_ms=now_ms,
    )
    return rule_bundles.publish(
        conn, draft, store_ids=(store_id,), user=user, now_ms=now_ms, base_version=base.version
    )


def _stores_with_timetables(conn: Connection) -> list[str]:
    st = schema.store_timetables
    return list(conn.execute(sa.select(st.c.store_id).distinct().order_by(st.c.store_id)).scalars())


def relayer_after(
    conn: Connection, published: RuleBundle, *, user: str, now_ms: int
) -> list[RuleBundle]:
    """After ``published`` went out as a base: layer every store's timetable over it where
    it is now that store's base. Push these before ``published`` itself, so a kiosk meets
    its store's newer layered version first and ignores the plain one."""
    out: list[RuleBundle] = []
    for store_id in _stores_with_timetables(conn):
        if published.store_ids and store_id not in published.store_ids:
            continue
        base = rule_bundles.base_for_store(conn, store_id)
        if base is None or base.version != published.version:
            continue
        layered = publish_layered(conn, store_id, user=user, now_ms=now_ms)
        if layered is not None:
            out.append(layered)
    return out


def refresh_due(conn: Connection, now_ms: int, *, user: str = "system") -> list[RuleBundle]:
    """Re-layer every store whose kiosks' bundle is not its timetable's layering or is at
    least :data:`REFRESH_AFTER_MS` old (the sessions it carries would run out)."""
    out: list[RuleBundle] = []
    rb = schema.rule_bundles
    for store_id in _stores_with_timetables(conn):
        running = rule_bundles.bundle_for_store(conn, store_id)
        layered = running is not None and (
            conn.execute(
                sa.select(rb.c.base_version).where(rb.c.version == running.version)
            ).scalar()
            is not None
        )
        if running is not None and layered and now_ms - running.published_ms < REFRESH_AFTER_MS:
            continue
        bundle = publish_layered(conn, store_id, user=user, now_ms=now_ms)
        if bundle is not None:
            out.append(bundle)
    return out
