"""Rule bundles: drafts, publication with a per-store scope, and the bundle a store uses.

Versions come from one global counter, so they only grow. A store uses the newest
published bundle whose scope is empty (every store) or names it. Publishing fills in the
version, the scope, the QR public keys, the staff's kiosk PIN and staff card hashes and the
publication time. A chain-wide bundle holds every store's staff; what a kiosk receives is
only its own store's (:meth:`RuleBundle.for_store`, applied where bundles are sent).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.db import next_counter
from coordinator.ledger.jsonrows import dumps, json_list_contains, loads_list
from coordinator.security.qr_keys import published_keys
from shared.model import RuleBundle, Rules, StaffCard, StaffPin

_SCAN = 500


def create_draft(
    conn: Connection, content: RuleBundle, *, note: str, user: str, now_ms: int
) -> int:
    """Store a draft bundle (version 0 until published); returns its bundle id."""
    result = conn.execute(
        sa.insert(schema.rule_bundles).values(
            version=None,
            status="draft",
            store_scope=dumps(sorted(content.store_ids)),
            content=content.model_copy(update={"version": 0}).model_dump_json(),
            note=note,
            created_by=user,
            created_ms=now_ms,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def publish(
    conn: Connection,
    bundle_id: int,
    *,
    store_ids: Sequence[str] | None,
    user: str,
    now_ms: int,
    base_version: int | None = None,
) -> RuleBundle:
    """Publish a draft under the next version; ``store_ids`` (if given) replaces its scope.

    ``base_version`` marks a store's layered bundle (its timetable over that version)."""
    rb = schema.rule_bundles
    row = conn.execute(sa.select(rb).where(rb.c.bundle_id == bundle_id).with_for_update()).first()
    if row is None:
        raise LookupError(f"rule bundle {bundle_id}")
    if row.status != "draft":
        raise ValueError(f"rule bundle {bundle_id} is already {row.status}")
    scope = (
        tuple(sorted(set(store_ids)))
        if store_ids is not None
        else tuple(loads_list(row.store_scope))
    )
    version = next_counter(conn, "rules_version")
    bundle = RuleBundle.model_validate_json(row.content).model_copy(
        update={
            "version": version,
            "store_ids": scope,
            "qr_keys": published_keys(conn, now_ms),
            "published_ms": now_ms,
            "staff": staff_pins(conn, scope),
            "staff_cards": staff_cards(conn, scope),
        }
    )
    conn.execute(
        sa.update(rb)
        .where(rb.c.bundle_id == bundle_id)
        .values(
            version=version,
            status="published",
            store_scope=dumps(list(scope)),
            content=bundle.model_dump_json(),
            published_by=user,
            published_ms=now_ms,
            base_version=base_version,
        )
    )
    return bundle


def staff_pins(conn: Connection, store_ids: Sequence[str]) -> tuple[StaffPin, ...]:
    """The kiosk PIN hashes of the enabled staff of ``store_ids`` (empty: every store)."""
    u = schema.users
    query = (
        sa.select(u.c.username, u.c.store_id, u.c.pin_hash, u.c.role)
        .where(u.c.pin_hash.is_not(None), u.c.store_id.is_not(None), u.c.disabled.is_(False))
        .order_by(u.c.store_id, u.c.username)
    )
    if store_ids:
        query = query.where(u.c.store_id.in_(list(store_ids)))
    return tuple(
        StaffPin(staff_id=r.username, store_id=r.store_id, pin_hash=r.pin_hash, role=r.role)
        for r in conn.execute(query)
    )


def staff_cards(conn: Connection, store_ids: Sequence[str]) -> tuple[StaffCard, ...]:
    """The staff card hashes of the enabled staff of ``store_ids`` (empty: every store)."""
    u = schema.users
    query = (
        sa.select(u.c.username, u.c.store_id, u.c.card_hash, u.c.role)
        .where(u.c.card_hash.is_not(None), u.c.store_id.is_not(None), u.c.disabled.is_(False))
        .order_by(u.c.store_id, u.c.username)
    )
    if store_ids:
        query = query.where(u.c.store_id.in_(list(store_ids)))
    return tuple(
        StaffCard(staff_id=r.username, store_id=r.store_id, card_hash=r.card_hash, role=r.role)
        for r in conn.execute(query)
    )


def republish(
    conn: Connection, bundle: RuleBundle, *, user: str, now_ms: int, note: str
) -> RuleBundle:
    """Publish a copy of ``bundle`` under a new version (e.g. with rotated QR keys)."""
    bundle_id = create_draft(conn, bundle, note=note, user=user, now_ms=now_ms)
    return publish(conn, bundle_id, store_ids=bundle.store_ids, user=user, now_ms=now_ms)


def _published(conn: Connection, store_id: str, *, bases_only: bool = False) -> list[sa.Row[Any]]:
    """Published bundles that may apply to ``store_id`` (chain-wide, or naming it: a
    textual match the caller re-checks), newest first. Filtering before the scan limit
    keeps other stores' own bundles (every timetable edit and booking is one) from pushing
    the chain's bundle out of the window."""
    rb = schema.rule_bundles
    query = (
        sa.select(rb.c.version, rb.c.store_scope, rb.c.content)
        .where(
            rb.c.status == "published",
            sa.or_(rb.c.store_scope == "[]", json_list_contains(rb.c.store_scope, store_id)),
        )
        .order_by(rb.c.version.desc())
        .limit(_SCAN)
    )
    if bases_only:
        query = query.where(rb.c.base_version.is_(None))
    return list(conn.execute(query))


def bundle_for_store(conn: Connection, store_id: str) -> RuleBundle | None:
    """The newest published bundle that applies to ``store_id`` (what its kiosks run:
    the store's layered bundle when its timetable was layered over the newest base)."""
    for row in _published(conn, store_id):
        scope = loads_list(row.store_scope)
        if not scope or store_id in scope:
            return RuleBundle.model_validate_json(row.content)
    return None


def base_for_store(conn: Connection, store_id: str) -> RuleBundle | None:
    """The newest bundle published as such (not a timetable layering) that applies to
    ``store_id``: the chain defaults, or the store's own bundle when that is newer. A
    store's timetable is layered over it."""
    for row in _published(conn, store_id, bases_only=True):
        scope = loads_list(row.store_scope)
        if not scope or store_id in scope:
            return RuleBundle.model_validate_json(row.content)
    return None


def current_bundles(
    conn: Connection, store_ids: Sequence[str], *, bases_only: bool = False
) -> list[RuleBundle]:
    """The distinct bundles currently in force: the chain-wide one and any store's own
    (``bases_only``: the bases, leaving out the stores' timetable layerings)."""
    found: dict[int, RuleBundle] = {}
    chain = chain_bundle(conn)
    if chain is not None:
        found[chain.version] = chain
    pick = base_for_store if bases_only else bundle_for_store
    for store_id in store_ids:
        bundle = pick(conn, store_id)
        if bundle is not None:
            found[bundle.version] = bundle
    return [found[v] for v in sorted(found)]


def chain_bundle(conn: Connection) -> RuleBundle | None:
    """The newest published chain-wide bundle (empty scope)."""
    rb = schema.rule_bundles
    content = conn.execute(
        sa.select(rb.c.content)
        .where(rb.c.status == "published", rb.c.store_scope == "[]")
        .order_by(rb.c.version.desc())
        .limit(1)
    ).scalar()
    return RuleBundle.model_validate_json(content) if content else None


class ChainRules:
    """The chain-wide rules the central fold uses for tiers and clock checks (cached)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple[int, Rules] = (-1, Rules())

    def __call__(self, conn: Connection) -> Rules:
        """The rules of the newest chain-wide bundle (defaults before the first one)."""
        rb = schema.rule_bundles
        version = conn.execute(
            sa.select(sa.func.max(rb.c.version)).where(
                rb.c.status == "published", rb.c.store_scope == "[]"
            )
        ).scalar()
        version = int(version or 0)
        with self._lock:
            if self._cached[0] == version:
                return self._cached[1]
        bundle = chain_bundle(conn)
        rules = bundle.rules if bundle is not None else Rules()
        with self._lock:
            self._cached = (version, rules)
        return rules
