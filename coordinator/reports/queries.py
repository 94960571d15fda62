"""The SQL behind the reports: SQLAlchemy Core only, the same on SQLite and PostgreSQL.

Every query on ``events`` filters by ``kind`` and an ``hlc_ms`` range, which the report
index (``ix_events_kind_hlc_ms_report``, see :mod:`coordinator.reports.indexes`) serves;
grouping happens in SQL so only small results cross to Python. Body fields are read with
:mod:`coordinator.reports.sqljson` only for the kinds that need them. Quarantined events
(recorded, never folded) are left out.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.ledger.jsonrows import balances_from_row, event_from_row
from coordinator.reports.period import DAY_MS
from coordinator.reports.sqljson import json_int, json_str
from shared.events import Event, PointsExpire
from shared.fold import apply
from shared.model import ClassSession, LedgerBalances, MemberLedger, RuleBundle

ev = schema.events
members = schema.members
VISIT_KINDS = ("checkin", "class_signin")
_CHUNK = 500


def _folded() -> Any:
    return ev.c.quarantined == sa.false()


def _in_range(start_ms: int, end_ms: int) -> Any:
    return sa.and_(ev.c.hlc_ms >= start_ms, ev.c.hlc_ms < end_ms)


def _home(query: Any, home_store: str | None) -> Any:
    """Limit an events query to members whose home store is ``home_store``."""
    if home_store is None:
        return query
    return query.join(members, members.c.member_id == ev.c.member_id).where(
        members.c.home_store_id == home_store
    )


def tap_buckets(
    conn: Connection,
    start_ms: int,
    end_ms: int,
    bucket_ms: int,
    store_id: str | None,
) -> list[tuple[str, str, int, int]]:
    """(store, kind, bucket, count) of check-ins and class sign-ins, minus undone ones.

    ``bucket`` is ``hlc_ms // bucket_ms``; a reversal counts against its target's kind
    in the bucket it happened in.
    """
    bucket = ev.c.hlc_ms // bucket_ms
    query = (
        sa.select(ev.c.store_id, ev.c.kind, bucket, sa.func.count())
        .where(ev.c.kind.in_(VISIT_KINDS), _in_range(start_ms, end_ms), _folded())
        .group_by(ev.c.store_id, ev.c.kind, bucket)
    )
    target = json_str(ev.c.body, conn.dialect.name, "body", "target_kind")
    undone = (
        sa.select(ev.c.store_id, target, bucket, sa.func.count())
        .where(ev.c.kind == "reversal", _in_range(start_ms, end_ms), _folded())
        .group_by(ev.c.store_id, target, bucket)
    )
    if store_id is not None:
        query = query.where(ev.c.store_id == store_id)
        undone = undone.where(ev.c.store_id == store_id)
    counts: dict[tuple[str, str, int], int] = defaultdict(int)
    for store, kind, b, n in conn.execute(query):
        counts[(store, kind, int(b))] += int(n)
    for store, kind, b, n in conn.execute(undone):
        if kind in VISIT_KINDS:
            counts[(store, kind, int(b))] -= int(n)
    return [(s, k, b, n) for (s, k, b), n in sorted(counts.items())]


def class_signins(conn: Connection, start_ms: int, end_ms: int) -> dict[str, int]:
    """Students signed in per class session (sign-ins minus undone ones) in the range."""
    dialect = conn.dialect.name
    session = json_str(ev.c.body, dialect, "body", "class_session_id")
    counts: dict[str, int] = defaultdict(int)
    for class_id, n in conn.execute(
        sa.select(ev.c.class_session_id, sa.func.count())
        .where(ev.c.kind == "class_signin", _in_range(start_ms, end_ms), _folded())
        .group_by(ev.c.class_session_id)
    ):
        counts[str(class_id)] += int(n)
    target = json_str(ev.c.body, dialect, "body", "target_kind")
    for class_id, n in conn.execute(
        sa.select(session, sa.func.count())
        .where(
            ev.c.kind == "reversal",
            target == "class_signin",
            _in_range(start_ms, end_ms),
            _folded(),
        )
        .group_by(session)
    ):
        if class_id is not None:
            counts[str(class_id)] -= int(n)
    return dict(counts)


def booking_outcomes(conn: Connection, session_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Per session: (members booked, booked members who never signed in)."""
    cb = schema.class_bookings
    signed = (
        sa.select(ev.c.id)
        .where(
            ev.c.kind == "class_signin",
            ev.c.class_session_id == cb.c.class_session_id,
            ev.c.member_id == cb.c.member_id,
            _folded(),
        )
        .exists()
    )
    out: dict[str, tuple[int, int]] = {}
    ids = list(session_ids)
    for start in range(0, len(ids), 500):
        for sid, booked, missed in conn.execute(
            sa.select(
                cb.c.class_session_id,
                sa.func.count(),
                sa.func.sum(sa.case((signed, 0), else_=1)),
            )
            .where(cb.c.class_session_id.in_(ids[start : start + 500]), cb.c.status == "booked")
            .group_by(cb.c.class_session_id)
        ):
            out[str(sid)] = (int(booked), int(missed or 0))
    return out


def waitlist_moves(
    conn: Connection, session_ids: Sequence[str]
) -> dict[str, tuple[set[str], set[str]]]:
    """Per session: (members who joined its waitlist, members promoted off it to a seat), as
    the bookings service audited them (``booking.waitlisted``, ``booking.promoted``)."""
    a = schema.audit_log
    out: dict[str, tuple[set[str], set[str]]] = {}
    ids = list(session_ids)
    for start in range(0, len(ids), 500):
        for action, target, detail in conn.execute(
            sa.select(a.c.action, a.c.target, a.c.detail).where(
                a.c.action.in_(["booking.waitlisted", "booking.promoted"]),
                a.c.target.in_(ids[start : start + 500]),
            )
        ):
            member = json.loads(detail or "{}").get("member_id")
            if not member:
                continue
            joined, promoted = out.setdefault(str(target), (set(), set()))
            (joined if action == "booking.waitlisted" else promoted).add(str(member))
    return out


def signed_in_members(conn: Connection, session_ids: Sequence[str]) -> set[tuple[str, str]]:
    """(session, member) pairs with a folded class sign-in."""
    out: set[tuple[str, str]] = set()
    ids = list(session_ids)
    for start in range(0, len(ids), 500):
        for sid, member in conn.execute(
            sa.select(ev.c.class_session_id, ev.c.member_id).where(
                ev.c.kind == "class_signin",
                ev.c.class_session_id.in_(ids[start : start + 500]),
                ev.c.member_id.is_not(None),
                _folded(),
            )
        ):
            out.add((str(sid), str(member)))
    return out


def published_classes(conn: Connection) -> dict[str, ClassSession]:
    """Every class session in a published bundle (the newest bundle's copy wins)."""
    rb = schema.rule_bundles
    found: dict[str, ClassSession] = {}
    for content in conn.execute(
        sa.select(rb.c.content).where(rb.c.status == "published").order_by(rb.c.version.desc())
    ).scalars():
        for session in RuleBundle.model_validate_json(content).classes:
            found.setdefault(session.class_session_id, session)
    return found


def sessions_used(
    conn: Connection, start_ms: int, end_ms: int, bucket_ms: int, store_id: str | None
) -> list[tuple[str, int, int]]:
    """(store, bucket, punch-pass sessions deducted) — sign-ins minus sessions given back."""
    dialect = conn.dialect.name
    bucket = ev.c.hlc_ms // bucket_ms
    sessions = json_int(ev.c.body, dialect, "body", "sessions")
    target = json_str(ev.c.body, dialect, "body", "target_kind")
    query = (
        sa.select(ev.c.store_id, bucket, sa.func.sum(ev.c.sessions))
        .where(ev.c.kind == "class_signin", _in_range(start_ms, end_ms), _folded())
        .group_by(ev.c.store_id, bucket)
    )
    back = (
        sa.select(ev.c.store_id, bucket, sa.func.sum(sessions))
        .where(
            ev.c.kind == "reversal",
            target == "class_signin",
            _in_range(start_ms, end_ms),
            _folded(),
        )
        .group_by(ev.c.store_id, bucket)
    )
    if store_id is not None:
        query = query.where(ev.c.store_id == store_id)
        back = back.where(ev.c.store_id == store_id)
    totals: dict[tuple[str, int], int] = defaultdict(int)
    for store, b, n in conn.execute(query):
        totals[(store, int(b))] += int(n or 0)
    for store, b, n in conn.execute(back):
        totals[(store, int(b))] -= int(n or 0)
    return [(s, b, n) for (s, b), n in sorted(totals.items())]


def pass_sales(
    conn: Connection, start_ms: int, end_ms: int, home_store: str | None
) -> dict[str | None, tuple[int, int]]:
    """Passes sold in the range per member home store: (count, revenue in fen)."""
    price = json_int(ev.c.body, conn.dialect.name, "body", "pass_state", "price_fen")
    query = (
        sa.select(members.c.home_store_id, sa.func.count(), sa.func.sum(price))
        .select_from(ev)
        .join(members, members.c.member_id == ev.c.member_id)
        .where(ev.c.kind == "pass_issue", _in_range(start_ms, end_ms), _folded())
        .group_by(members.c.home_store_id)
    )
    if home_store is not None:
        query = query.where(members.c.home_store_id == home_store)
    return {store: (int(n), int(fen or 0)) for store, n, fen in conn.execute(query)}


def staff_sales(
    conn: Connection, start_ms: int, end_ms: int, store_id: str | None
) -> list[tuple[str, str | None, int, int, int]]:
    """Catalogue sales in the range per staff member and store: (staff, store, count, revenue
    fen, commission fen), the commission as fixed at each sale by the rules then in force."""
    s = schema.product_sales
    query = (
        sa.select(
            s.c.staff,
            s.c.store_id,
            sa.func.count(),
            sa.func.sum(s.c.price_fen),
            sa.func.sum(s.c.commission_fen),
        )
        .where(s.c.sold_ms >= start_ms, s.c.sold_ms < end_ms)
        .group_by(s.c.staff, s.c.store_id)
        .order_by(s.c.staff, s.c.store_id)
    )
    if store_id is not None:
        query = query.where(s.c.store_id == store_id)
    return [
        (staff, store, int(n), int(fen or 0), int(paid or 0))
        for staff, store, n, fen, paid in conn.execute(query)
    ]


@dataclass
class StaffRedemptions:
    """Redemptions and stored-value spends one staff member performed in one store."""

    points: int = 0
    coupons: int = 0
    spends: int = 0
    spent_fen: int = 0


def staff_redemptions(
    conn: Connection, start_ms: int, end_ms: int, store_id: str | None
) -> dict[tuple[str, str | None], StaffRedemptions]:
    """(staff, store) -> what that staff member redeemed in the range, in ``store_id`` if
    given: points and coupon redemptions at kiosks (minus those undone since), coupons used
    in purchases at the desk, and stored-value spends with their fen.

    Counted by the ``staff_id`` column (:func:`coordinator.reports.indexes.staff_of`) from
    the report index; bodies are read only for staff's spends (the amount), purchases (the
    coupon) and reversals (their target)."""
    dialect = conn.dialect.name
    staffed = sa.and_(ev.c.staff_id.is_not(None), _in_range(start_ms, end_ms), _folded())
    if store_id is not None:
        staffed = sa.and_(staffed, ev.c.store_id == store_id)
    out: dict[tuple[str, str | None], StaffRedemptions] = defaultdict(StaffRedemptions)
    redeem_kinds = ("points_redeem", "coupon_redeem")
    group = (ev.c.staff_id, ev.c.store_id, ev.c.kind)
    redeems = sa.select(*group, sa.func.count()).where(ev.c.kind.in_(redeem_kinds), staffed)
    for staff, store, kind, n in conn.execute(redeems.group_by(*group)):
        row = out[(staff, store)]
        if kind == "points_redeem":
            row.points += int(n)
        else:
            row.coupons += int(n)
    amount = json_int(ev.c.body, dialect, "body", "amount_fen")
    spends = (
        sa.select(ev.c.staff_id, ev.c.store_id, sa.func.count(), sa.func.sum(amount))
        .where(ev.c.kind == "sv_spend", staffed)
        .group_by(ev.c.staff_id, ev.c.store_id)
    )
    for staff, store, n, fen in conn.execute(spends):
        out[(staff, store)].spends += int(n)
        out[(staff, store)].spent_fen += int(fen or 0)
    # A coupon used in a desk purchase is redeemed by HQ's ``coupon_redeem`` (no staff in
    # its body); the purchase names who sold it.
    coupon = json_str(ev.c.body, dialect, "body", "coupon_id")
    desk = (
        sa.select(ev.c.staff_id, ev.c.store_id, sa.func.count())
        .where(ev.c.kind == "purchase", staffed, coupon.is_not(None))
        .group_by(ev.c.staff_id, ev.c.store_id)
    )
    for staff, store, n in conn.execute(desk):
        out[(staff, store)].coupons += int(n)
    # Undone redemptions are not redemptions: a reversal (recorded at or after the start)
    # names its target, whose performer loses it.
    target_kind = json_str(ev.c.body, dialect, "body", "target_kind")
    undo = sa.select(json_str(ev.c.body, dialect, "body", "target_event_id")).where(
        ev.c.kind == "reversal", ev.c.hlc_ms >= start_ms, _folded(), target_kind.in_(redeem_kinds)
    )
    targets = [str(t) for t in conn.execute(undo).scalars() if t]
    for i in range(0, len(targets), _CHUNK):
        chunk = targets[i : i + _CHUNK]
        undone = (
            sa.select(*group, sa.func.count())
            .where(ev.c.event_id.in_(chunk), ev.c.kind.in_(redeem_kinds), staffed)
            .group_by(*group)
        )
        for staff, store, kind, n in conn.execute(undone):
            row = out[(staff, store)]
            if kind == "points_redeem":
                row.points -= int(n)
            else:
                row.coupons -= int(n)
    return dict(out)


def classes_taught(
    conn: Connection, start_ms: int, end_ms: int, store_id: str | None
) -> list[tuple[str, str, int, int]]:
    """Sessions starting in the range marked taught, per coach and store: (coach, store,
    classes, attendance), as ``coordinator.services.coaching`` credited them."""
    t = schema.classes_taught
    query = (
        sa.select(t.c.coach, t.c.store_id, sa.func.count(), sa.func.sum(t.c.attendance))
        .where(t.c.starts_ms >= start_ms, t.c.starts_ms < end_ms)
        .group_by(t.c.coach, t.c.store_id)
        .order_by(t.c.coach, t.c.store_id)
    )
    if store_id is not None:
        query = query.where(t.c.store_id == store_id)
    return [(coach, store, int(n), int(seen or 0)) for coach, store, n, seen in conn.execute(query)]


@dataclass
class PointsFlow:
    """Points moved in a period, by store (kiosk facts) or home store (HQ facts)."""

    earned: int = 0
    redeemed: int = 0
    adjusted: int = 0
    expired: int = 0


def points_flows(
    conn: Connection, start_ms: int, end_ms: int, store_id: str | None, kiosk_facts: bool = True
) -> dict[str | None, PointsFlow]:
    """Points earned at check-in and redeemed per store (undone ones taken back), plus
    audited adjustments and expiries per member home store. ``kiosk_facts=False``: the
    adjustments and expiries only (the caller reads the rest from the rollups)."""
    dialect = conn.dialect.name
    target = json_str(ev.c.body, dialect, "body", "target_kind")
    flows: dict[str | None, PointsFlow] = defaultdict(PointsFlow)
    # The ``points`` column is in the report index: no body is read for these two kinds.
    query = (
        sa.select(ev.c.store_id, ev.c.kind, sa.func.sum(ev.c.points))
        .where(
            ev.c.kind.in_(("checkin", "points_redeem")),
            _in_range(start_ms, end_ms),
            _folded(),
        )
        .group_by(ev.c.store_id, ev.c.kind)
    )
    undone = (
        sa.select(ev.c.store_id, target, sa.func.sum(ev.c.points))
        .where(ev.c.kind == "reversal", _in_range(start_ms, end_ms), _folded())
        .group_by(ev.c.store_id, target)
    )
    if store_id is not None:
        query = query.where(ev.c.store_id == store_id)
        undone = undone.where(ev.c.store_id == store_id)
    for store, kind, total in conn.execute(query) if kiosk_facts else ():
        if kind == "checkin":
            flows[store].earned += int(total or 0)
        else:
            flows[store].redeemed += int(total or 0)
    for store, kind, total in conn.execute(undone) if kiosk_facts else ():
        if kind == "checkin":
            flows[store].earned -= int(total or 0)
        elif kind == "points_redeem":
            flows[store].redeemed -= int(total or 0)
    delta = json_int(ev.c.body, dialect, "body", "points_delta")
    adjust = (
        sa.select(members.c.home_store_id, sa.func.sum(delta))
        .select_from(ev)
        .join(members, members.c.member_id == ev.c.member_id)
        .where(ev.c.kind == "adjustment", _in_range(start_ms, end_ms), _folded())
        .group_by(members.c.home_store_id)
    )
    if store_id is not None:
        adjust = adjust.where(members.c.home_store_id == store_id)
    for store, total in conn.execute(adjust):
        flows[store].adjusted += int(total or 0)
    for store, n in expired_points(conn, start_ms, end_ms, store_id).items():
        flows[store].expired += n
    return dict(flows)


def expired_points(
    conn: Connection, start_ms: int, end_ms: int, home_store: str | None
) -> dict[str | None, int]:
    """Points that expired in the range, per member home store.

    An expiry event names the lot, not the amount, so each member with an expiry in the
    range is refolded (their events only) to read what the lot still held.
    """
    query = (
        sa.select(ev.c.member_id, ev.c.event_id, members.c.home_store_id)
        .select_from(ev)
        .join(members, members.c.member_id == ev.c.member_id)
        .where(ev.c.kind == "points_expire", _in_range(start_ms, end_ms), _folded())
    )
    if home_store is not None:
        query = query.where(members.c.home_store_id == home_store)
    wanted: dict[str, set[str]] = defaultdict(set)
    home: dict[str, str | None] = {}
    for member_id, event_id, store in conn.execute(query):
        wanted[member_id].add(event_id)
        home[member_id] = store
    out: dict[str | None, int] = defaultdict(int)
    for member_id, event_ids in sorted(wanted.items()):
        ledger = MemberLedger()
        bodies = conn.execute(
            sa.select(ev.c.body).where(ev.c.member_id == member_id, _folded())
        ).scalars()
        for event in sorted((event_from_row(b) for b in bodies), key=lambda e: e.sort_key()):
            if event.event_id in event_ids and isinstance(event.body, PointsExpire):
                lot_id = event.body.lot_id
                lot = next((x for x in ledger.points_lots if x.lot_id == lot_id), None)
                if lot is not None:
                    out[home[member_id]] += max(0, lot.remaining)
            ledger, _ = apply(ledger, event)
    return dict(out)


@dataclass(frozen=True)
class LedgerRow:
    """One member's folded balances, as the fold stored them."""

    member_id: str
    display_name: str
    home_store_id: str | None
    ledger: LedgerBalances


def ledgers(conn: Connection, home_store: str | None) -> Iterator[LedgerRow]:
    """Every member's folded balances (of one home store, if given)."""
    ms = schema.member_states
    query = (
        sa.select(ms.c.member_id, ms.c.ledger, members.c.display_name, members.c.home_store_id)
        .select_from(ms.join(members, members.c.member_id == ms.c.member_id))
        .order_by(ms.c.member_id)
    )
    if home_store is not None:
        query = query.where(members.c.home_store_id == home_store)
    # Streamed for this statement only: ``Connection.execution_options`` would set it on the
    # report's whole connection, and every later query would go through a server cursor.
    for row in conn.execute(query, execution_options={"yield_per": 2000}):
        yield LedgerRow(
            row.member_id, row.display_name, row.home_store_id, balances_from_row(row.ledger)
        )


def coupon_issues(
    conn: Connection, start_ms: int, end_ms: int, home_store: str | None
) -> dict[str, int]:
    """Coupons issued in the range per campaign (to members of ``home_store``, if given)."""
    campaign = json_str(ev.c.body, conn.dialect.name, "body", "coupon", "campaign_id")
    query = _home(
        sa.select(campaign, sa.func.count())
        .select_from(ev)
        .where(ev.c.kind == "coupon_issue", _in_range(start_ms, end_ms), _folded())
        .group_by(campaign),
        home_store,
    )
    return {str(c): int(n) for c, n in conn.execute(query)}


def coupon_redeems(
    conn: Connection, start_ms: int, end_ms: int, store_id: str | None
) -> dict[str, int]:
    """Redemptions in the range per coupon id (in ``store_id``, if given), minus undone."""
    dialect = conn.dialect.name
    coupon = json_str(ev.c.body, dialect, "body", "coupon_id")
    target = json_str(ev.c.body, dialect, "body", "target_kind")
    query = (
        sa.select(coupon, sa.func.count())
        .where(ev.c.kind == "coupon_redeem", _in_range(start_ms, end_ms), _folded())
        .group_by(coupon)
    )
    undone = (
        sa.select(coupon, sa.func.count())
        .where(
            ev.c.kind == "reversal",
            target == "coupon_redeem",
            _in_range(start_ms, end_ms),
            _folded(),
        )
        .group_by(coupon)
    )
    if store_id is not None:
        query = query.where(ev.c.store_id == store_id)
        undone = undone.where(ev.c.store_id == store_id)
    counts: dict[str, int] = defaultdict(int)
    for c, n in conn.execute(query):
        counts[str(c)] += int(n)
    for c, n in conn.execute(undone):
        if c is not None:
            counts[str(c)] -= int(n)
    return dict(counts)


def coupon_campaigns(conn: Connection, coupon_ids: Iterable[str]) -> dict[str, str]:
    """coupon id -> campaign id, from the coupons' issue events."""
    dialect = conn.dialect.name
    coupon = json_str(ev.c.body, dialect, "body", "coupon", "coupon_id")
    campaign = json_str(ev.c.body, dialect, "body", "coupon", "campaign_id")
    wanted = sorted(set(coupon_ids))
    out: dict[str, str] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        for c, camp in conn.execute(
            sa.select(coupon, campaign).where(ev.c.kind == "coupon_issue", coupon.in_(chunk))
        ):
            out[str(c)] = str(camp)
    return out


def campaign_titles(conn: Connection) -> dict[str, str]:
    """campaign id -> title for campaigns created through the campaigns API."""
    camp = schema.campaigns
    return dict(conn.execute(sa.select(camp.c.campaign_id, camp.c.title)).all())


def visit_days(
    conn: Connection,
    since_ms: int,
    offset_ms: int,
    home_store: str | None,
    last_day: int | None = None,
) -> dict[str, list[int]]:
    """member id -> distinct local day numbers with a check-in or class sign-in (any order),
    up to day number ``last_day`` (inclusive) when given.

    ``offset_ms`` is the local zone's UTC offset: day = (hlc_ms + offset) // one day. The
    days come back as one comma-separated text per member: ten thousand rows instead of one
    per member and day (a year of a chain's visits is hundreds of thousands of those).
    """
    day = (ev.c.hlc_ms + offset_ms) // DAY_MS
    kind: Any = ev.c.kind
    if conn.dialect.name == "postgresql":
        days = sa.func.string_agg(sa.distinct(sa.cast(day, sa.Text)), ",")
    else:
        days = sa.func.group_concat(sa.distinct(day))  # SQLite: "," between values
        # ``kind || ''`` keeps SQLite off the report index (kind, hlc_ms): the member index
        # (member_id, hlc_ms, ..., kind, quarantined) covers this query in GROUP BY order,
        # member by member (one store: only its members' ranges), with no sort of the year.
        kind = kind.concat("")
    query = (
        sa.select(ev.c.member_id, days)
        .select_from(ev)
        .where(
            kind.in_(VISIT_KINDS),
            ev.c.hlc_ms >= since_ms,
            ev.c.member_id.is_not(None),
            _folded(),
        )
        .group_by(ev.c.member_id)
    )
    if last_day is not None:
        # day <= last_day  <=>  hlc_ms + offset < (last_day + 1) days: exact integer bound.
        query = query.where(ev.c.hlc_ms < (last_day + 1) * DAY_MS - offset_ms)
    query = _home(query, home_store)
    return {m: list(map(int, text.split(","))) for m, text in conn.execute(query).all()}


def pass_revenue(conn: Connection, since_ms: int, home_store: str | None) -> dict[str, int]:
    """member id -> fen paid for passes sold, extended or topped up with sessions (会员充次)
    since ``since_ms`` (where a price is known), except what was paid from stored value
    (that money counts when it was topped up)."""
    dialect = conn.dialect.name
    method = json_str(ev.c.body, dialect, "body", "payment_method")
    out: dict[str, int] = defaultdict(int)
    for kind, price in (
        ("pass_issue", json_int(ev.c.body, dialect, "body", "pass_state", "price_fen")),
        ("pass_update", json_int(ev.c.body, dialect, "body", "price_fen")),
    ):
        query = _home(
            sa.select(ev.c.member_id, sa.func.sum(price))
            .select_from(ev)
            .where(
                ev.c.kind == kind,
                ev.c.hlc_ms >= since_ms,
                _folded(),
                sa.or_(method.is_(None), method != "stored_value"),
                # A freeze or a free extension is no sale.
                price > 0 if kind == "pass_update" else sa.true(),
            )
            .group_by(ev.c.member_id),
            home_store,
        )
        for m, fen in conn.execute(query):
            if m is not None:
                out[m] += int(fen or 0)
    return dict(out)


def money_revenue(conn: Connection, since_ms: int, home_store: str | None) -> dict[str, int]:
    """member id -> fen the member paid in since ``since_ms`` through money facts: top-ups
    (less refunds) and purchases paid other than from stored value (a stored-value purchase
    was paid when the value was topped up: counting it again would double it)."""
    dialect = conn.dialect.name
    out: dict[str, int] = defaultdict(int)
    method = json_str(ev.c.body, dialect, "body", "method")
    for kind, path, sign, extra in (
        ("sv_topup", "paid_fen", 1, None),
        ("sv_refund", "amount_fen", -1, None),
        ("purchase", "total_fen", 1, method != "stored_value"),
    ):
        amount = json_int(ev.c.body, dialect, "body", path)
        query = (
            sa.select(ev.c.member_id, sa.func.sum(amount))
            .select_from(ev)
            .where(ev.c.kind == kind, ev.c.hlc_ms >= since_ms, _folded())
            .group_by(ev.c.member_id)
        )
        if extra is not None:
            query = query.where(extra)
        for m, fen in conn.execute(_home(query, home_store)):
            if m is not None:
                out[m] += sign * int(fen or 0)
    return dict(out)


def member_money_facts(
    conn: Connection, member_ids: Sequence[str], since_ms: int
) -> dict[str, list[tuple[int, int]]]:
    """member id -> ``(hlc_ms, fen)`` of each money fact of these members since ``since_ms``,
    counted as :func:`money_revenue` and :func:`pass_revenue` count them: top-ups (refunds
    negative), purchases and passes sold with a price, except those paid from stored value
    (that money was counted when it was topped up)."""
    dialect = conn.dialect.name
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    pass_method = json_str(ev.c.body, dialect, "body", "payment_method")
    method = json_str(ev.c.body, dialect, "body", "method")
    kinds: tuple[tuple[str, Any, int, Any], ...] = (
        ("sv_topup", json_int(ev.c.body, dialect, "body", "paid_fen"), 1, None),
        ("sv_refund", json_int(ev.c.body, dialect, "body", "amount_fen"), -1, None),
        (
            "purchase",
            json_int(ev.c.body, dialect, "body", "total_fen"),
            1,
            method != "stored_value",
        ),
        (
            "pass_issue",
            json_int(ev.c.body, dialect, "body", "pass_state", "price_fen"),
            1,
            sa.or_(pass_method.is_(None), pass_method != "stored_value"),
        ),
    )
    wanted = sorted(set(member_ids))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        for kind, amount, sign, extra in kinds:
            query = sa.select(ev.c.member_id, ev.c.hlc_ms, amount).where(
                ev.c.kind == kind,
                ev.c.hlc_ms >= since_ms,
                ev.c.member_id.in_(chunk),
                _folded(),
            )
            if extra is not None:
                query = query.where(extra)
            for m, hlc_ms, fen in conn.execute(query):
                if fen:
                    out[m].append((int(hlc_ms), sign * int(fen)))
    return dict(out)


def paid_members(conn: Connection, member_ids: Sequence[str]) -> set[str]:
    """Those of these members who made a paid purchase: a purchase with a total, or a pass
    sold with a price (however it was paid)."""
    dialect = conn.dialect.name
    total = json_int(ev.c.body, dialect, "body", "total_fen")
    price = json_int(ev.c.body, dialect, "body", "pass_state", "price_fen")
    out: set[str] = set()
    wanted = sorted(set(member_ids))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        query = (
            sa.select(ev.c.member_id)
            .where(
                ev.c.member_id.in_(chunk),
                _folded(),
                sa.or_(
                    sa.and_(ev.c.kind == "purchase", total > 0),
                    sa.and_(ev.c.kind == "pass_issue", price > 0),
                ),
            )
            .distinct()
        )
        out.update(conn.execute(query).scalars())
    return out


def member_names(conn: Connection, member_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """member id -> (display name, home store)."""
    out: dict[str, tuple[str, str | None]] = {}
    wanted = sorted(set(member_ids))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        for m, name, store in conn.execute(
            sa.select(members.c.member_id, members.c.display_name, members.c.home_store_id).where(
                members.c.member_id.in_(chunk)
            )
        ):
            out[m] = (name, store)
    return out


def stores(conn: Connection) -> dict[str, tuple[str, str]]:
    """store id -> (name, time zone)."""
    s = schema.stores
    return {r.store_id: (r.name, r.timezone) for r in conn.execute(sa.select(s))}


MONEY_KINDS = ("sv_topup", "sv_spend", "sv_refund", "sv_bonus_expire", "purchase")


def money_events(conn: Connection, end_ms: int) -> list[Event]:
    """Every folded money fact before ``end_ms``, in ledger order (the settlement needs the
    top-ups before a period to know whose money a spend in it was)."""
    query = sa.select(ev.c.body).where(ev.c.kind.in_(MONEY_KINDS), ev.c.hlc_ms < end_ms, _folded())
    return sorted(
        (event_from_row(body) for body in conn.execute(query).scalars()), key=Event.sort_key
    )
