"""The front desk's view of members: search, CSV export and one member's whole story.

Built on the member, card and balance services; what a role may see is decided here once:
store staff see their own store's members, and roles that do not need personal data (viewer,
coach) get full names and phone numbers masked. Opening a member's full profile and
exporting the member list are written to the audit log.

Cross-store service (:mod:`coordinator.services.cross_store`): front desk and store managers
reach a member of another store only by an exact identifier — the whole phone number, the
whole member id or a card UID — never by browsing or a name prefix, and then see a limited
view: name and phone masked, what they need to serve (passes, stored value, coupons), and
only their own store's lines of the timeline. That view is audited like any other.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import sqlalchemy as sa
from pydantic import Field

from coordinator import schema
from coordinator.errors import ApiError, not_found
from coordinator.ledger.jsonrows import ledger_from_row
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.security.privacy import mask_name
from coordinator.services import cross_store, member_fields
from coordinator.services.common import Out, audit, check_member_access, member_row, scoped_store
from coordinator.services.events import LedgerView, ledger_view
from coordinator.services.members import MemberOut, member_out
from shared.model import MemberLedger

PAGE_SIZE = 25
CSV_MAX_ROWS = 50_000
TIMELINE_ROWS = 200
QUIET_ACTIONS = frozenset({"member.view", "member.export"})
"""Audit actions that are not shown on the member's timeline (looking is not doing)."""
EVENT_ACTIONS = frozenset({"pass.sell", "pass.update", "points.grant", "coupon.issue"})
"""Audit actions whose ledger event is on the timeline already (the audit names its staff)."""


class MemberRow(Out):
    """A member in the search list (personal data masked for roles that do not need it)."""

    member_id: str
    display_name: str
    full_name: str
    phone: str
    home_store_id: str | None
    status: str
    cards: list[str] = Field(description="UIDs of the member's active cards.")
    created_ms: int


class MemberSearch(Out):
    """One page of a member search."""

    q: str
    page: int
    page_size: int
    items: list[MemberRow]
    has_next: bool
    masked: bool = Field(description="True when full names and phone numbers are masked.")


class TimelineItem(Out):
    """One line of a member's timeline: a ledger event or an audited desk action."""

    at_ms: int
    what: str = Field(description="The event kind, or the audit action (``member.change``).")
    store_id: str | None
    kiosk_id: str | None = Field(description="The kiosk that recorded it (None: HQ / desk).")
    staff: str | None = Field(description="The staff user or staff id who did it, if any.")
    detail: str
    event_id: str | None
    cross_store: bool = Field(
        False, description="True: served by another store than the member's home store."
    )


class MemberProfile(Out):
    """Everything the front desk sees about one member."""

    member: MemberOut
    masked: bool
    ledger: LedgerView
    timeline: list[TimelineItem]
    timeline_more: bool
    cross_store: bool = Field(
        False,
        description="True: a limited view for serving a member of another store (no edits).",
    )


def mask_phone(phone: str) -> str:
    """A phone number with all but its last four digits starred."""
    digits = [c for c in phone if c.isdigit()]
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + "".join(digits[-4:])


UID_SHAPE = re.compile(r"^(?:[0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{16}|[0-9A-F]{20})$")
TOP = "\U0010ffff"
"""Above every character: ``col >= q AND col < q + TOP`` is the prefix range of ``q``."""


def _starts_with(column: Any, q: str) -> Any:
    """``column`` starts with ``q``: an index range (fast on both databases), confirmed by a
    LIKE so that a collation's ordering can never let another row in."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.and_(column >= q, column < q + TOP, column.like(escaped + "%", escape="\\"))


def _search_query(principal: Principal, q: str) -> sa.Select[Any]:
    """Members matching ``q``, by member id: a card UID (typed with or without separators)
    finds its card's owner; anything else matches the start of the member id, phone number,
    display name or full name (index ranges: fast with any number of members). Store staff
    search their own store's members; front desk and managers also find another store's
    member by the whole phone number, member id or card UID (cross-store service)."""
    m = schema.members
    query = sa.select(m).order_by(m.c.member_id)
    store = scoped_store(principal, None)
    q = q.strip()
    if not q:
        return query if store is None else query.where(m.c.home_store_id == store)
    uid = q.upper().replace(":", "").replace(" ", "")
    if UID_SHAPE.match(uid):
        c = schema.cards
        by_card = sa.select(c.c.member_id).where(c.c.uid == uid)
        match = sa.or_(m.c.member_id == q, m.c.member_id.in_(by_card.scalar_subquery()))
        exact = match
    else:
        match = sa.or_(
            *(
                _starts_with(col, q)
                for col in (m.c.member_id, m.c.phone, m.c.display_name, m.c.full_name)
            )
        )
        exact = sa.or_(m.c.member_id == q, m.c.phone == q)
    if store is None:
        return query.where(match)
    own = sa.and_(m.c.home_store_id == store, match)
    if principal.role not in cross_store.SERVING_ROLES:
        return query.where(own)
    return query.where(sa.or_(own, exact))


def _rows(conn: sa.Connection, principal: Principal, rows: list[sa.Row[Any]]) -> list[MemberRow]:
    c = schema.cards
    ids = [r.member_id for r in rows]
    cards: dict[str, list[str]] = {}
    if ids:
        for card in conn.execute(
            sa.select(c.c.member_id, c.c.uid)
            .where(c.c.member_id.in_(ids), c.c.status == "active")
            .order_by(c.c.bound_ms)
        ):
            cards.setdefault(card.member_id, []).append(card.uid)
    hidden = not principal.sees_personal_data
    rows_masked = [hidden or cross_store.is_cross_store(principal, r) for r in rows]
    return [
        MemberRow(
            member_id=r.member_id,
            display_name=r.display_name,
            full_name=mask_name(r.full_name) if masked else r.full_name,
            phone=mask_phone(r.phone) if masked else r.phone,
            home_store_id=r.home_store_id,
            status=r.status,
            cards=cards.get(r.member_id, []),
            created_ms=r.created_ms,
        )
        for r, masked in zip(rows, rows_masked, strict=True)
    ]


def search_members(
    coord: Coordinator, principal: Principal, q: str = "", page: int = 1, page_size: int = PAGE_SIZE
) -> MemberSearch:
    """A page of members matching ``q`` (store staff: their own store's)."""
    page = max(page, 1)
    query = _search_query(principal, q).limit(page_size + 1).offset((page - 1) * page_size)
    with coord.db.read() as conn:
        rows = list(conn.execute(query))
        items = _rows(conn, principal, rows[:page_size])
    return MemberSearch(
        q=q,
        page=page,
        page_size=page_size,
        items=items,
        has_next=len(rows) > page_size,
        masked=not principal.sees_personal_data,
    )


CSV_COLUMNS = ("member_id", "display_name", "full_name", "phone", "home_store_id", "status",
               "cards", "created_ms")  # fmt: skip


def members_csv(coord: Coordinator, principal: Principal, q: str = "") -> str:
    """Every member matching ``q`` as CSV (up to :data:`CSV_MAX_ROWS`), with a
    ``custom.<key>`` column per custom field the caller sees; the export is audited."""
    query = _search_query(principal, q).limit(CSV_MAX_ROWS)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    with coord.db.read() as conn:
        fields = member_fields.visible_definitions(conn, principal)
        writer.writerow([*CSV_COLUMNS, *(f"custom.{d.key}" for d in fields)])
        rows = list(conn.execute(query))
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            for row, item in zip(chunk, _rows(conn, principal, chunk), strict=True):
                values = item.model_dump()
                values["cards"] = " ".join(item.cards)
                custom = member_fields.shown_values(row.custom, fields)
                writer.writerow(
                    [values[k] if values[k] is not None else "" for k in CSV_COLUMNS]
                    + [_csv_value(custom.get(d.key)) for d in fields]
                )
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        audit(conn, principal.username, "member.export", "members", now, q=q, rows=len(rows),
              masked=not principal.sees_personal_data)  # fmt: skip
    return out.getvalue()


def _csv_value(value: object) -> str:
    """A custom value in a CSV cell: choice codes and dates as stored, yes/no as words."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _event_detail(body: dict[str, Any]) -> str:
    """A short, language-neutral summary of an event body's numbers and ids."""
    parts = []
    for key in ("points", "points_delta", "pass_id", "sessions", "sessions_delta", "coupon_id",
                "class_session_id", "reason", "target_kind", "frozen", "valid_until_ms",
                "sessions_total", "paid_fen", "bonus_fen", "amount_fen", "price_fen",
                "payment_method", "method", "purpose", "first_use_of"):  # fmt: skip
        if body.get(key) not in (None, "", 0):
            parts.append(f"{key}={body[key]}")
    if isinstance(body.get("pass_state"), dict):
        state = body["pass_state"]
        parts.append(f"pass_id={state.get('pass_id')} {state.get('name')}")
        if isinstance(state.get("first_use"), dict):
            parts.append(f"first_use_days={state['first_use'].get('days')}")
    if isinstance(body.get("coupon"), dict):
        coupon = body["coupon"]
        parts.append(f"coupon_id={coupon.get('coupon_id')} {coupon.get('title')}")
    return " · ".join(parts)


PERSONAL_KEYS = frozenset({"full_name", "phone", "birthday"})


def _audit_detail(detail: dict[str, Any], masked: bool) -> str:
    """An audit entry's detail as one line (personal data left out for masked roles; custom
    field values by key only: a manager-only value must not show on a desk's timeline)."""
    shown = {k: v for k, v in detail.items() if not (masked and k in PERSONAL_KEYS)}
    if isinstance(shown.get("custom"), dict):
        shown["custom"] = ",".join(sorted(shown["custom"]))
    return " · ".join(f"{k}={v}" for k, v in sorted(shown.items()))


def _timeline(
    conn: sa.Connection, member_id: str, masked: bool, only_store: str | None = None
) -> tuple[list[TimelineItem], bool]:
    """The member's latest events and desk actions, newest first (``only_store``: that
    store's lines only, for a cross-store view)."""
    ev = schema.events
    rows = list(
        conn.execute(
            sa.select(ev.c.event_id, ev.c.source, ev.c.store_id, ev.c.kind, ev.c.hlc_ms, ev.c.body)
            .where(ev.c.member_id == member_id)
            .order_by(ev.c.hlc_ms.desc(), ev.c.hlc_c.desc())
            .limit(TIMELINE_ROWS + 1)
        )
    )
    more = len(rows) > TIMELINE_ROWS
    a = schema.audit_log
    audits = list(
        conn.execute(
            sa.select(a.c.at_ms, a.c.actor, a.c.action, a.c.detail)
            .where(a.c.target.in_([member_id, *_pass_targets(conn, member_id)]))
            .order_by(a.c.id.desc())
            .limit(TIMELINE_ROWS)
        )
    )
    served = cross_store.served_events(conn, member_id)
    staff_of_event: dict[str, str] = {}
    items: list[TimelineItem] = []
    for entry in audits:
        detail = json.loads(entry.detail or "{}")
        if detail.get("event_id"):
            staff_of_event[str(detail["event_id"])] = entry.actor
            continue  # shown as its event
        if entry.action in QUIET_ACTIONS or entry.action in EVENT_ACTIONS:
            continue
        items.append(
            TimelineItem(
                at_ms=entry.at_ms,
                what=entry.action,
                store_id=detail.get("store_id"),
                kiosk_id=None,
                staff=entry.actor,
                detail=_audit_detail(detail, masked),
                event_id=None,
            )
        )
    for row in rows[:TIMELINE_ROWS]:
        event = json.loads(row.body)
        body = event.get("body", {})
        credential = event.get("credential") or {}
        staff = (
            body.get("staff_user")
            or body.get("staff_id")
            or credential.get("staff_id")
            or staff_of_event.get(row.event_id)
        )
        items.append(
            TimelineItem(
                at_ms=row.hlc_ms,
                what=row.kind,
                store_id=row.store_id,
                kiosk_id=None if row.source == "hq" else row.source,
                staff=staff,
                detail=_event_detail(body),
                event_id=row.event_id,
                cross_store=row.event_id in served,
            )
        )
    if only_store is not None:
        items = [x for x in items if x.store_id == only_store]
    items.sort(key=lambda x: x.at_ms, reverse=True)
    return items[:TIMELINE_ROWS], more


def _pass_targets(conn: sa.Connection, member_id: str) -> list[str]:
    """Audit targets that name one of the member's cards, passes or coupons
    (``member/pass``, ``member/coupon``)."""
    c = schema.cards
    uids = conn.execute(sa.select(c.c.uid).where(c.c.member_id == member_id)).scalars().all()
    ms = schema.member_states
    text = conn.execute(sa.select(ms.c.ledger).where(ms.c.member_id == member_id)).scalar()
    ledger = ledger_from_row(text) if text else MemberLedger()
    held = [p.pass_id for p in ledger.passes] + [c.coupon_id for c in ledger.coupons]
    return [*uids, *(f"{member_id}/{x}" for x in held)]


def member_profile(
    coord: Coordinator, principal: Principal, member_id: str, *, audit_view: bool = True
) -> MemberProfile:
    """One member's profile, cards, passes, points lots, coupons and timeline; the view is
    written to the audit log (who looked at whose profile, masked or not) unless
    ``audit_view`` is False (an action reading the member before it changes it).

    Front desk and store managers get a member of another store as a limited view for
    cross-store service: personal data masked, only their own store's timeline lines."""
    now = coord.clock.wall_ms()
    with coord.db.read() as conn:
        row = member_row(conn, member_id)
        limited = (
            cross_store.is_cross_store(principal, row)
            and principal.role in cross_store.SERVING_ROLES
        )
        if limited:
            cross_store.check_serve_access(principal, row)
        else:
            check_member_access(principal, row)
        masked = limited or not principal.sees_personal_data
        member = member_out(
            conn, row, now, () if limited else member_fields.visible_definitions(conn, principal)
        )
        ms = schema.member_states
        state = conn.execute(sa.select(ms.c.ledger).where(ms.c.member_id == member_id)).scalar()
        ledger = ledger_from_row(state) if state else MemberLedger()
        only = principal.store_id if limited else None
        timeline, more = _timeline(conn, member_id, masked, only)
    if masked:
        member = member.model_copy(
            update={
                "full_name": mask_name(member.full_name),
                "phone": mask_phone(member.phone),
                "birthday": None,
            }
        )
    if limited:  # who referred whom is the home store's business
        member = member.model_copy(update={"referrer_id": None})
    if audit_view:
        with coord.db.write() as conn:
            extra = {"cross_store": True, "serving_store_id": principal.store_id} if limited else {}
            audit(conn, principal.username, "member.view", member_id, now, masked=masked, **extra)
    return MemberProfile(
        member=member,
        masked=masked,
        ledger=ledger_view(ledger, now),
        timeline=timeline,
        timeline_more=more,
        cross_store=limited,
    )


class TappedCard(Out):
    """A card nobody owns, just tapped at a kiosk (the kiosk refused it as unknown)."""

    uid: str
    kiosk_id: str
    received_ms: int


def store_kiosks(coord: Coordinator, principal: Principal, store_id: str | None) -> list[str]:
    """The kiosks (not revoked) of a store the caller may act in, for the tap-to-bind picker."""
    store = principal.store_filter() or store_id
    if store is None:
        return []
    k = schema.kiosks
    with coord.db.read() as conn:
        rows = conn.execute(
            sa.select(k.c.kiosk_id)
            .where(k.c.store_id == store, k.c.revoked.is_(False))
            .order_by(k.c.kiosk_id)
        )
        return list(rows.scalars())


TAP_SCAN = 50
"""How many of a kiosk's latest events are searched for the tapped card."""


def card_tapped_at(
    coord: Coordinator, principal: Principal, kiosk_id: str, since_ms: int
) -> TappedCard:
    """The latest unknown card tapped at ``kiosk_id`` since ``since_ms`` (coordinator time):
    the kiosk recorded its tap as a refusal (``unknown_card``) with the UID, and that fact
    reached the coordinator like any other. 404 when no such tap arrived yet."""
    k = schema.kiosks
    ev = schema.events
    with coord.db.read() as conn:
        kiosk = conn.execute(sa.select(k).where(k.c.kiosk_id == kiosk_id)).first()
        if kiosk is None:
            raise not_found("kiosk", kiosk_id, "kiosk_id")
        principal.require_store(kiosk.store_id)
        rows = list(
            conn.execute(
                sa.select(ev.c.body, ev.c.received_ms)
                .where(ev.c.source == kiosk_id)
                .order_by(ev.c.seq.desc())
                .limit(TAP_SCAN)
            )
        )
    for row in rows:
        if row.received_ms < since_ms:
            continue
        event = json.loads(row.body)
        body = event.get("body") or {}
        uid = (event.get("credential") or {}).get("uid")
        if body.get("kind") == "rejected" and body.get("reason") == "unknown_card" and uid:
            return TappedCard(uid=uid, kiosk_id=kiosk_id, received_ms=row.received_ms)
    raise ApiError(
        404,
        "no_card_tapped",
        f"no new card was tapped at kiosk {kiosk_id} yet; tap the card there, then press "
        "the button again",
        "kiosk_id",
    )
