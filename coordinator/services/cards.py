"""Member cards: bind, read, report lost (deny-list + push), replace."""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa

from coordinator import schema
from coordinator.errors import conflict, not_found
from coordinator.ledger import deny_list
from coordinator.ledger.member_fold import mark_changed
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services.common import Body, Out, audit, check_member_access, member_row
from shared import topics
from shared.model import DenyEntry, Uid
from shared.protocol import DenyListUpdate
from shared.staff_cards import card_matches


class BindCard(Body):
    """A card to bind to a member."""

    uid: Uid


class LostCard(Body):
    """Why the card is blocked."""

    reason: Literal["lost", "stolen", "revoked"] = "lost"


class ReplaceCard(Body):
    """The new card replacing a lost or broken one."""

    new_uid: Uid


class CardRecord(Out):
    """A card, its owner and what became of it."""

    uid: str
    member_id: str
    status: str
    bound_ms: int
    revoked_ms: int | None = None
    replaced_by: str | None = None


class BlockedCard(Out):
    """A card put on the deny-list, and the deny-list version that carries it."""

    uid: str
    status: str
    revoked_ms: int
    deny_version: int


class Replacement(Out):
    """The old card blocked (when it was still active) and the new one bound."""

    old_uid: str
    new_uid: str
    member_id: str
    deny_version: int | None


def _card(conn: sa.Connection, uid: str) -> sa.Row[Any]:
    c = schema.cards
    row = conn.execute(sa.select(c).where(c.c.uid == uid)).first()
    if row is None:
        raise not_found("card", uid, "uid")
    return row


def _bind(conn: sa.Connection, uid: str, member_id: str, now: int) -> None:
    c = schema.cards
    existing = conn.execute(sa.select(c).where(c.c.uid == uid)).first()
    if existing is not None:
        raise conflict(
            "card_in_use",
            f"card {uid} is already {existing.status} for member {existing.member_id}; "
            "a blocked card is never reused",
            "uid",
        )
    if deny_list.revoked_entry(conn, uid) is not None:
        raise conflict("card_denied", f"card {uid} is on the deny-list", "uid")
    if staff_card_owner(conn, uid) is not None:
        raise conflict("card_is_staff_card", f"card {uid} is a staff card; give the member "
                       "a card of their own", "uid")  # fmt: skip
    conn.execute(sa.insert(c).values(uid=uid, member_id=member_id, status="active", bound_ms=now))


def staff_card_owner(conn: sa.Connection, uid: str) -> str | None:
    """The user whose staff card ``uid`` is (None: nobody's). Staff cards are stored as
    keyed hashes only: one HMAC per bound card, microseconds each."""
    u = schema.users
    rows = conn.execute(sa.select(u.c.username, u.c.card_hash).where(u.c.card_hash.is_not(None)))
    return next((r.username for r in rows if card_matches(uid, r.card_hash)), None)


def _publish(coord: Coordinator, update: DenyListUpdate | None) -> None:
    if update is not None:
        coord.send(topics.fleet_topic(), update)
    coord.pusher.wake()


def _record(row: sa.Row[Any]) -> CardRecord:
    return CardRecord(
        uid=row.uid,
        member_id=row.member_id,
        status=row.status,
        bound_ms=row.bound_ms,
        revoked_ms=row.revoked_ms,
        replaced_by=row.replaced_by,
    )


def bind_card(
    coord: Coordinator, principal: Principal, member_id: str, body: BindCard
) -> CardRecord:
    """Bind a card to a member; kiosks learn it with the member's next record."""
    principal.require_write()
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        check_member_access(principal, member_row(conn, member_id))
        _bind(conn, body.uid, member_id, now)
        mark_changed(conn, [member_id], now)
        audit(conn, principal.username, "card.bind", body.uid, now, member=member_id)
        row = _card(conn, body.uid)
    _publish(coord, None)
    return _record(row)


def get_card(coord: Coordinator, principal: Principal, uid: str) -> CardRecord:
    """A card and its owner."""
    with coord.db.read() as conn:
        row = _card(conn, uid)
        check_member_access(principal, member_row(conn, row.member_id))
    return _record(row)


def report_lost(coord: Coordinator, principal: Principal, uid: str, body: LostCard) -> BlockedCard:
    """Block a card everywhere: deny-list entry from now, pushed to the whole fleet."""
    principal.require_write()
    now = coord.clock.wall_ms()
    c = schema.cards
    with coord.db.write() as conn:
        row = _card(conn, uid)
        check_member_access(principal, member_row(conn, row.member_id))
        if row.status != "active":
            raise conflict("card_not_active", f"card {uid} is already {row.status}", "uid")
        conn.execute(sa.update(c).where(c.c.uid == uid).values(status=body.reason, revoked_ms=now))
        update = deny_list.change(
            conn, [DenyEntry(uid=uid, revoked_ms=now, reason=body.reason)], []
        )
        mark_changed(conn, [row.member_id], now)
        audit(conn, principal.username, "card.report_lost", uid, now, reason=body.reason)
    _publish(coord, update)
    return BlockedCard(uid=uid, status=body.reason, revoked_ms=now, deny_version=update.version)


def replace_card(
    coord: Coordinator, principal: Principal, uid: str, body: ReplaceCard
) -> Replacement:
    """Give the member a new card; the old one is blocked (reason ``replaced``)."""
    principal.require_write()
    now = coord.clock.wall_ms()
    c = schema.cards
    with coord.db.write() as conn:
        row = _card(conn, uid)
        check_member_access(principal, member_row(conn, row.member_id))
        _bind(conn, body.new_uid, row.member_id, now)
        update = None
        if row.status == "active":
            conn.execute(
                sa.update(c)
                .where(c.c.uid == uid)
                .values(status="replaced", revoked_ms=now, replaced_by=body.new_uid)
            )
            update = deny_list.change(
                conn, [DenyEntry(uid=uid, revoked_ms=now, reason="replaced")], []
            )
        else:
            conn.execute(sa.update(c).where(c.c.uid == uid).values(replaced_by=body.new_uid))
        mark_changed(conn, [row.member_id], now)
        audit(conn, principal.username, "card.replace", uid, now, new_uid=body.new_uid)
    _publish(coord, update)
    return Replacement(
        old_uid=uid,
        new_uid=body.new_uid,
        member_id=row.member_id,
        deny_version=update.version if update else None,
    )
