"""Members: registration, profile changes, listing with paging, one member's view."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import Field, StringConstraints

from coordinator import schema
from coordinator.errors import ApiError, conflict, invalid, not_found
from coordinator.ledger.jsonrows import dumps, ledger_from_row, loads_list, scope_json
from coordinator.ledger.member_fold import ensure_member_states, mark_changed
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services import member_fields
from coordinator.services.common import (
    Body,
    Out,
    audit,
    check_member_access,
    member_row,
    scoped_store,
    store_exists,
)
from shared.custom_fields import CustomValue, FieldDefinition, FieldKey
from shared.model import Id

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32,
                                       pattern=r"^[^,<>\"]+$")]  # fmt: skip
"""A member tag the chain uses (``VIP``, ``学生``)."""
Gender = Literal["female", "male", "other"]
MAX_CUSTOM = 40


class DuplicatePhone(ApiError):
    """The phone number already belongs to another member (409, with that member's id)."""

    def __init__(self, member_id: str):
        super().__init__(
            409,
            "phone_in_use",
            f"this phone number already belongs to member {member_id}; open that member "
            "instead of registering a second one",
            "phone",
        )
        self.member_id = member_id


class NewMember(Body):
    """A member to register. ``display_name`` is what kiosks show: keep it masked."""

    member_id: Id | None = None
    display_name: str = Field(min_length=1, max_length=200)
    full_name: str = Field("", max_length=200)
    phone: str = Field("", max_length=40, pattern=r"^[0-9+\- ]*$")
    home_store_id: Id | None = None
    store_scope: list[Id] | None = None
    """Stores whose kiosks get this member; omitted = every store (the default)."""
    lang: Literal["zh", "en"] = "zh"
    birthday: date | None = None
    gender: Gender | None = None
    tags: list[Tag] = Field([], max_length=20)
    referrer_id: Id | None = None
    """The member who brought this one (must exist)."""
    custom: dict[FieldKey, CustomValue | None] = Field({}, max_length=MAX_CUSTOM)
    """Values of the chain's custom fields by key (every required one the caller sees)."""


class MemberChange(Body):
    """Fields to change on a member."""

    display_name: str | None = Field(None, min_length=1, max_length=200)
    full_name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=40, pattern=r"^[0-9+\- ]*$")
    status: Literal["active", "suspended"] | None = None
    lang: Literal["zh", "en"] | None = None
    store_scope: list[Id] | None = None
    chain_wide: bool | None = None
    """True: clear the store scope (every store's kiosks get the member)."""
    birthday: date | None = None
    gender: Gender | None = None
    tags: list[Tag] | None = Field(None, max_length=20)
    custom: dict[FieldKey, CustomValue | None] | None = Field(None, max_length=MAX_CUSTOM)
    """Custom field values to set (the keys given only; null or "" clears one)."""


class CardOut(Out):
    """A card bound to a member, and what became of it."""

    uid: str
    status: str = Field(description="active, lost, stolen, revoked or replaced.")
    bound_ms: int
    revoked_ms: int | None = None


class BalanceSummary(Out):
    """The member's folded balances in short (the balance route has everything)."""

    points_available: int
    points_debt: int
    checkins: int
    passes: int
    coupons_unused: int


class MemberOut(Out):
    """A member with cards, tier and a balance summary."""

    member_id: str
    display_name: str
    full_name: str
    phone: str
    home_store_id: str | None
    store_scope: list[str] | None = Field(description="None: every store's kiosks.")
    status: Literal["active", "suspended"]
    lang: Literal["zh", "en"]
    tier: str | None
    members_version: int
    cards: list[CardOut]
    summary: BalanceSummary | None = Field(description="None before the first fold.")
    created_ms: int
    birthday: date | None = None
    gender: Gender | None = None
    tags: list[str] = []
    referrer_id: str | None = None
    custom: dict[str, CustomValue] = Field(
        {}, description="Values of the custom fields the caller sees (active fields only)."
    )


class MemberPage(Out):
    """A page of members; pass ``next_after`` back as ``after`` for the next page."""

    items: list[MemberOut]
    next_after: str | None


def member_out(
    conn: sa.Connection,
    row: sa.Row[Any],
    now_ms: int,
    fields: Sequence[FieldDefinition] = (),
) -> MemberOut:
    """A member's profile, credentials and balance summary, with the values of ``fields``
    (the custom fields the caller sees)."""
    ms = schema.member_states
    state = conn.execute(sa.select(ms).where(ms.c.member_id == row.member_id)).first()
    c = schema.cards
    cards = conn.execute(
        sa.select(c.c.uid, c.c.status, c.c.bound_ms, c.c.revoked_ms)
        .where(c.c.member_id == row.member_id)
        .order_by(c.c.bound_ms)
    ).all()
    summary: BalanceSummary | None = None
    if state is not None:
        ledger = ledger_from_row(state.ledger)
        summary = BalanceSummary(
            points_available=ledger.points_available(now_ms),
            points_debt=ledger.points_debt,
            checkins=ledger.checkins,
            passes=len(ledger.passes),
            coupons_unused=sum(1 for x in ledger.coupons if not x.is_used),
        )
    return MemberOut(
        member_id=row.member_id,
        display_name=row.display_name,
        full_name=row.full_name,
        phone=row.phone,
        home_store_id=row.home_store_id,
        store_scope=None if row.store_scope is None else loads_list(row.store_scope),
        status=row.status,
        lang=row.lang,
        tier=state.tier if state is not None else None,
        members_version=state.version if state is not None else 0,
        cards=[CardOut(**x._mapping) for x in cards],
        summary=summary,
        created_ms=row.created_ms,
        birthday=date.fromisoformat(row.birthday) if row.birthday else None,
        gender=row.gender or None,
        tags=loads_list(row.tags),
        referrer_id=row.referrer_id,
        custom=member_fields.shown_values(row.custom, fields),
    )


def phone_owner(conn: sa.Connection, phone: str, other_than: str | None = None) -> str | None:
    """The member who already has this phone number (None: nobody, or no number)."""
    if not phone.strip():
        return None
    m = schema.members
    query = sa.select(m.c.member_id).where(m.c.phone == phone).limit(1)
    if other_than is not None:
        query = query.where(m.c.member_id != other_than)
    return conn.execute(query).scalar()


def _check_phone(conn: sa.Connection, phone: str, other_than: str | None = None) -> None:
    owner = phone_owner(conn, phone, other_than)
    if owner is not None:
        raise DuplicatePhone(owner)


def _check_referrer(conn: sa.Connection, referrer_id: str | None, member_id: str) -> None:
    if referrer_id is None:
        return
    if referrer_id == member_id:
        raise invalid("self_referral", "a member cannot refer themselves", "referrer_id")
    m = schema.members
    if conn.execute(sa.select(m.c.member_id).where(m.c.member_id == referrer_id)).first() is None:
        raise not_found("member", referrer_id, "referrer_id")


def create_member(coord: Coordinator, principal: Principal, body: NewMember) -> MemberOut:
    """Register a member (store managers: in their own store)."""
    principal.require_write()
    home = body.home_store_id or principal.store_filter()
    principal.require_store(home)
    member_id = body.member_id or "m" + uuid.uuid4().hex[:16]
    now = coord.clock.wall_ms()
    m = schema.members
    with coord.db.write() as conn:
        if home is not None:
            store_exists(conn, home, "home_store_id")
        for store_id in body.store_scope or ():
            store_exists(conn, store_id, "store_scope")
        if conn.execute(sa.select(m.c.member_id).where(m.c.member_id == member_id)).first():
            raise conflict("member_exists", f"member {member_id!r} already exists", "member_id")
        _check_phone(conn, body.phone)
        _check_referrer(conn, body.referrer_id, member_id)
        custom = member_fields.merged_values(
            conn, principal, body.custom, current=None, complete=True
        )
        conn.execute(
            sa.insert(m).values(
                member_id=member_id,
                display_name=body.display_name,
                full_name=body.full_name,
                phone=body.phone,
                home_store_id=home,
                store_scope=scope_json(body.store_scope),
                status="active",
                lang=body.lang,
                created_ms=now,
                birthday=body.birthday.isoformat() if body.birthday else None,
                gender=body.gender,
                tags=dumps(body.tags) if body.tags else None,
                referrer_id=body.referrer_id,
                custom=custom,
            )
        )
        ensure_member_states(conn, [member_id], now)
        mark_changed(conn, [member_id], now)
        audit(conn, principal.username, "member.create", member_id, now, home=home,
              referrer=body.referrer_id, custom=body.custom or None)  # fmt: skip
        fields = member_fields.visible_definitions(conn, principal)
        view = member_out(conn, member_row(conn, member_id), now, fields)
    coord.pusher.wake()
    return view


def list_members(
    coord: Coordinator,
    principal: Principal,
    *,
    q: str | None = None,
    home_store_id: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> MemberPage:
    """Members page by page, ordered by id (a store manager: their own store's)."""
    home_store_id = scoped_store(principal, home_store_id)
    m = schema.members
    query = sa.select(m).order_by(m.c.member_id).limit(limit)
    if home_store_id is not None:
        query = query.where(m.c.home_store_id == home_store_id)
    if after is not None:
        query = query.where(m.c.member_id > after)
    if q:
        like = f"%{q}%"
        query = query.where(
            sa.or_(
                m.c.member_id.like(like),
                m.c.display_name.like(like),
                m.c.full_name.like(like),
                m.c.phone.like(like),
            )
        )
    now = coord.clock.wall_ms()
    with coord.db.read() as conn:
        fields = member_fields.visible_definitions(conn, principal)
        items = [member_out(conn, r, now, fields) for r in conn.execute(query)]
    return MemberPage(items=items, next_after=items[-1].member_id if len(items) == limit else None)


def get_member(coord: Coordinator, principal: Principal, member_id: str) -> MemberOut:
    """One member with cards, tier and a balance summary."""
    with coord.db.read() as conn:
        row = member_row(conn, member_id)
        check_member_access(principal, row)
        fields = member_fields.visible_definitions(conn, principal)
        return member_out(conn, row, coord.clock.wall_ms(), fields)


def change_member(
    coord: Coordinator, principal: Principal, member_id: str, body: MemberChange
) -> MemberOut:
    """Change a member's profile, status, language or store scope; pushed to kiosks."""
    principal.require_write()
    now = coord.clock.wall_ms()
    values: dict[str, Any] = {
        k: v
        for k, v in body.model_dump(exclude_unset=True).items()
        if k not in ("store_scope", "chain_wide", "birthday", "tags", "custom") and v is not None
    }
    if body.birthday is not None:
        values["birthday"] = body.birthday.isoformat()
    if body.tags is not None:
        values["tags"] = dumps(body.tags) if body.tags else None
    m = schema.members
    with coord.db.write() as conn:
        row = member_row(conn, member_id)
        check_member_access(principal, row)
        if body.phone is not None:
            _check_phone(conn, body.phone, member_id)
        if body.store_scope is not None:
            for store_id in body.store_scope:
                store_exists(conn, store_id, "store_scope")
            values["store_scope"] = scope_json(body.store_scope)
        if body.chain_wide:
            values["store_scope"] = None
        custom: dict[str, Any] = {}
        if body.custom:
            custom["custom"] = member_fields.merged_values(
                conn, principal, body.custom, current=row.custom, complete=False
            )
        if values or custom:
            conn.execute(sa.update(m).where(m.c.member_id == member_id).values(**values, **custom))
        if values:  # what kiosks hold changed (custom fields never reach them)
            mark_changed(conn, [member_id], now)
        if values or custom:
            audit(conn, principal.username, "member.change", member_id, now, **values,
                  **({"custom": body.custom} if custom else {}))  # fmt: skip
        fields = member_fields.visible_definitions(conn, principal)
        view = member_out(conn, member_row(conn, member_id), now, fields)
    coord.pusher.wake()
    return view
