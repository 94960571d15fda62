"""Rule bundles (draft, publish with a per-store scope, roll out) and QR key rotation."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import Field

from coordinator import schema
from coordinator.downstream import rule_bundles, timetables
from coordinator.errors import conflict, invalid, not_found
from coordinator.ledger.jsonrows import json_list_contains, loads_list
from coordinator.runtime import Coordinator
from coordinator.security import qr_keys
from coordinator.security.auth import Principal
from coordinator.services.common import Body, Out, audit, store_exists
from shared import topics
from shared.model import ClassSession, CommissionRule, Id, QrKey, Reward, RuleBundle, Rules
from shared.protocol import RuleBundleMessage


class Draft(Body):
    """Content of a rule bundle; version and QR keys are filled in when published."""

    rules: Rules = Rules()
    classes: list[ClassSession] = Field([], max_length=10_000)
    rewards: list[Reward] = Field([], max_length=1000)
    commission: list[CommissionRule] = Field([], max_length=1000)
    store_ids: list[Id] = Field([], max_length=1000)
    note: str = Field("", max_length=200)


class Publish(Body):
    """Scope of the publication; omitted keeps the draft's scope (empty = every store)."""

    store_ids: list[Id] | None = Field(None, max_length=1000)


class Rotate(Body):
    """Timeline of a QR key rotation; omitted values come from the settings."""

    announce_s: int | None = Field(
        None,
        ge=0,
        le=90 * 86_400,
        description="How long the new key is published before it signs (0: at once, for a "
        "leaked key; kiosks that have not synced then refuse new codes until they do).",
    )
    overlap_s: int | None = Field(
        None,
        ge=0,
        le=30 * 86_400,
        description="How long after the switch codes signed by the old key are honoured.",
    )


class BundleOut(Out):
    """A stored rule bundle: a draft, or published under a version."""

    bundle_id: int
    version: int | None = Field(description="None while a draft.")
    status: str = Field(description="draft or published")
    store_ids: list[str]
    note: str
    created_by: str
    created_ms: int
    published_by: str | None
    published_ms: int | None
    bundle: RuleBundle


class Rotation(Out):
    """What a QR key rotation did, and when each key signs or stops being honoured."""

    signing_key_id: str
    signing_now_key_id: str
    switch_ms: int
    old_key_valid_until_ms: int
    keys: list[QrKey]
    republished_versions: list[int]


def _out(row: sa.Row[Any]) -> BundleOut:
    return BundleOut(
        bundle_id=row.bundle_id,
        version=row.version,
        status=row.status,
        store_ids=loads_list(row.store_scope),
        note=row.note,
        created_by=row.created_by,
        created_ms=row.created_ms,
        published_by=row.published_by,
        published_ms=row.published_ms,
        bundle=without_pins(RuleBundle.model_validate_json(row.content)),
    )


def without_pins(bundle: RuleBundle) -> RuleBundle:
    """The bundle as API clients see it: staff ids kept, PIN hashes blanked, staff card
    hashes left out (the staff list says who has a card). A kiosk PIN is short, so its hash
    is cheap to brute-force: only the store's kiosks (over MQTT) get it."""
    if not bundle.staff and not bundle.staff_cards:
        return bundle
    blank = tuple(p.model_copy(update={"pin_hash": "-"}) for p in bundle.staff)
    return bundle.model_copy(update={"staff": blank, "staff_cards": ()})


def push_bundle(coord: Coordinator, bundle: RuleBundle) -> None:
    """Send a published bundle to each store it applies to, each copy carrying only that
    store's staff hashes (:meth:`RuleBundle.for_store`). A chain-wide bundle without staff
    goes to the fleet topic once; one with staff goes to every store's topic (stores and
    the stores of provisioned kiosks), so no kiosk receives another store's PIN hashes."""
    if not bundle.store_ids and not bundle.staff and not bundle.staff_cards:
        coord.send(topics.fleet_topic(), RuleBundleMessage(bundle=bundle))
        return
    store_ids = bundle.store_ids or _every_store(coord)
    for store_id in store_ids:
        coord.send(
            topics.store_topic(store_id), RuleBundleMessage(bundle=bundle.for_store(store_id))
        )


def _every_store(coord: Coordinator) -> list[str]:
    """Every store a kiosk may belong to: the registered stores and the provisioned kiosks'."""
    with coord.db.read() as conn:
        stores = set(conn.execute(sa.select(schema.stores.c.store_id)).scalars())
        stores.update(conn.execute(sa.select(schema.kiosks.c.store_id).distinct()).scalars())
    return sorted(stores)


def _check_scope(principal: Principal, store_ids: list[str]) -> None:
    if principal.store_filter() is not None and store_ids != [principal.store_id]:
        raise invalid(
            "store_scope_required",
            f"store managers may only publish for their own store: "
            f"store_ids=[{principal.store_id!r}]",
            "store_ids",
        )


def _visible(principal: Principal, row: sa.Row[Any]) -> bool:
    own = principal.store_filter()
    scope = loads_list(row.store_scope)
    return own is None or not scope or own in scope


def list_bundles(
    coord: Coordinator, principal: Principal, status: str | None = None
) -> list[BundleOut]:
    """Bundles, newest first (a store manager sees chain-wide ones and their store's)."""
    rb = schema.rule_bundles
    query = sa.select(rb).order_by(rb.c.bundle_id.desc()).limit(200)
    if status:
        query = query.where(rb.c.status == status)
    own = principal.store_filter()
    if own is not None:
        scoped = json_list_contains(rb.c.store_scope, own)
        query = query.where(sa.or_(rb.c.store_scope == "[]", scoped))
    with coord.db.read() as conn:
        return [_out(r) for r in conn.execute(query) if _visible(principal, r)]


def create_bundle(coord: Coordinator, principal: Principal, body: Draft) -> BundleOut:
    """Save a draft bundle."""
    principal.require_manager()
    _check_scope(principal, body.store_ids)
    for session in body.classes:
        if session.ends_ms <= session.starts_ms:
            raise invalid(
                "bad_class_times",
                f"class {session.class_session_id} ends before it starts",
                "classes",
            )
    now = coord.clock.wall_ms()
    content = RuleBundle(
        version=0,
        store_ids=tuple(sorted(set(body.store_ids))),
        rules=body.rules,
        classes=tuple(body.classes),
        rewards=tuple(body.rewards),
        commission=tuple(body.commission),
    )
    rb = schema.rule_bundles
    with coord.db.write() as conn:
        for store_id in body.store_ids:
            store_exists(conn, store_id, "store_ids")
        bundle_id = rule_bundles.create_draft(
            conn, content, note=body.note, user=principal.username, now_ms=now
        )
        audit(conn, principal.username, "rules.draft", str(bundle_id), now)
        row = conn.execute(sa.select(rb).where(rb.c.bundle_id == bundle_id)).one()
    return _out(row)


def current_bundle(coord: Coordinator, principal: Principal, store_id: str) -> RuleBundle:
    """The bundle a store's kiosks should run now."""
    principal.require_store(store_id)
    with coord.db.read() as conn:
        store_exists(conn, store_id)
        bundle = rule_bundles.bundle_for_store(conn, store_id)
    if bundle is None:
        raise not_found("rule_bundle", f"for store {store_id}", "store_id")
    return without_pins(bundle.for_store(store_id))


def get_bundle(coord: Coordinator, principal: Principal, bundle_id: int) -> BundleOut:
    """One bundle (404 when the caller may not see it)."""
    rb = schema.rule_bundles
    with coord.db.read() as conn:
        row = conn.execute(sa.select(rb).where(rb.c.bundle_id == bundle_id)).first()
    if row is None or not _visible(principal, row):
        raise not_found("rule_bundle", str(bundle_id), "bundle_id")
    return _out(row)


def publish_bundle(
    coord: Coordinator, principal: Principal, bundle_id: int, body: Publish | None
) -> BundleOut:
    """Publish a draft under the next version and push it to the stores in scope."""
    principal.require_manager()
    now = coord.clock.wall_ms()
    rb = schema.rule_bundles
    store_ids = body.store_ids if body else None
    with coord.db.write() as conn:
        row = conn.execute(sa.select(rb).where(rb.c.bundle_id == bundle_id)).first()
        if row is None or not _visible(principal, row):
            raise not_found("rule_bundle", str(bundle_id), "bundle_id")
        _check_scope(principal, store_ids if store_ids is not None else loads_list(row.store_scope))
        for store_id in store_ids or ():
            store_exists(conn, store_id, "store_ids")
        try:
            bundle = rule_bundles.publish(
                conn, bundle_id, store_ids=store_ids, user=principal.username, now_ms=now
            )
        except ValueError as exc:
            raise conflict("already_published", str(exc)) from exc
        # Store timetables layer over this bundle where it is now their base: a chain-wide
        # publish never takes a store's classes away.
        layered = timetables.relayer_after(conn, bundle, user=principal.username, now_ms=now)
        audit(
            conn,
            principal.username,
            "rules.publish",
            str(bundle_id),
            now,
            version=bundle.version,
            layered_versions=[b.version for b in layered],
        )
        row = conn.execute(sa.select(rb).where(rb.c.bundle_id == bundle_id)).one()
    for store_bundle in layered:
        push_bundle(coord, store_bundle)
    push_bundle(coord, bundle)
    return _out(row)


def rollout_rules(coord: Coordinator, principal: Principal, body: Draft) -> BundleOut:
    """Draft and publish a rule bundle at once (the dashboard's rollout form)."""
    principal.require_manager()
    draft = create_bundle(coord, principal, body)
    return publish_bundle(coord, principal, draft.bundle_id, None)


def rotate_qr_key(coord: Coordinator, principal: Principal, body: Rotate | None) -> Rotation:
    """Rotate the member QR signing key without breaking kiosks that are offline a while.

    The new key is published at once (the bundles in force are republished) but signs only
    from ``switch_ms`` = now + ``announce_s``; until then the current key signs, and codes
    it signed stay valid until ``old_key_valid_until_ms`` = switch + ``overlap_s``.
    """
    principal.require_admin()
    now = coord.clock.wall_ms()
    settings = coord.settings
    asked = body or Rotate()
    announce_s = settings.qr_key_announce_s if asked.announce_s is None else asked.announce_s
    overlap_s = settings.qr_key_rotation_overlap_s if asked.overlap_s is None else asked.overlap_s
    with coord.db.write() as conn:
        rotation = qr_keys.rotate(
            conn,
            now,
            announce_ms=announce_s * 1000,
            overlap_ms=overlap_s * 1000,
            sealer=coord.sealer,
        )
        store_ids = list(conn.execute(sa.select(schema.stores.c.store_id)).scalars())
        republished: list[RuleBundle] = []
        for base in rule_bundles.current_bundles(conn, store_ids, bases_only=True):
            again = rule_bundles.republish(
                conn, base, user=principal.username, now_ms=now, note="QR key rotation"
            )
            # Store timetables are layered over the new copy (their bundles carry the keys).
            republished.extend(
                timetables.relayer_after(conn, again, user=principal.username, now_ms=now)
            )
            republished.append(again)
        keys = qr_keys.published_keys(conn, now)
        signing_now = qr_keys.signing_key_at(conn, now)
        audit(
            conn,
            principal.username,
            "qr.rotate",
            rotation.new_key_id,
            now,
            switch_ms=rotation.switch_ms,
            old_valid_until_ms=rotation.old_valid_until_ms,
        )
    for bundle in republished:
        push_bundle(coord, bundle)
    return Rotation(
        signing_key_id=rotation.new_key_id,
        signing_now_key_id=signing_now,
        switch_ms=rotation.switch_ms,
        old_key_valid_until_ms=rotation.old_valid_until_ms,
        keys=list(keys),
        republished_versions=[b.version for b in republished],
    )
