"""Coupons and campaigns: issue to one member, to a segment, or as a dashboard rollout.

Every coupon is an hq ``CouponIssue`` event on the member's ledger; kiosks get it with the
member's next record.
"""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import Field

from coordinator import schema
from coordinator.engage.audience import audience
from coordinator.errors import conflict, invalid
from coordinator.ledger.hq_events import HqFact
from coordinator.ledger.jsonrows import dumps, ledger_from_row
from coordinator.ledger.member_fold import ensure_member_states, lock_member_states
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services.common import (
    Body,
    Out,
    audit,
    check_member_access,
    member_row,
    store_exists,
)
from shared.automation import Segment as AudienceSegment
from shared.events import CouponIssue
from shared.model import COUPON_KINDS, Count, CouponKind, CouponState, Id, Ms

DAY_MS = 86_400_000


class CouponSpec(Body):
    """What the coupon gives, where and when."""

    title: str = Field(min_length=1, max_length=200)
    kind: CouponKind
    value: Count = 0
    """Permille off (discount, 1–999), fen off (voucher), unused (trial)."""
    min_spend_fen: Count = 0
    """A voucher's minimum purchase (满减); 0: any."""
    store_ids: list[Id] = Field([], max_length=1000)
    valid_from_ms: Ms
    valid_until_ms: Ms


class IssueCoupon(CouponSpec):
    """One coupon for one member."""

    coupon_id: Id | None = None
    campaign_id: Id = "manual"


class Segment(Body):
    """Who gets the campaign: listed members, or members matching every filter given."""

    member_ids: list[Id] | None = Field(None, max_length=100_000)
    tier: Id | None = None
    home_store_id: Id | None = None
    all_members: bool = False
    audience: AudienceSegment | None = Field(
        None,
        description=(
            "The automations' segment (lapsed, at risk, RFM quadrant, tier, tag, birthday "
            "month, home store, combined): members in it, instead of a list of ids."
        ),
    )


class Campaign(Body):
    """A coupon campaign."""

    campaign_id: Id | None = None
    coupon: CouponSpec
    segment: Segment


class CampaignRollout(Body):
    """A coupon campaign from the dashboard: the coupon, where it is valid, who gets it."""

    title: str = Field(min_length=1, max_length=200)
    kind: CouponKind = CouponKind.VOUCHER
    value: int = Field(0, ge=0, le=10**9)
    valid_days: int = Field(30, ge=1, le=3650)
    store_ids: list[Id] = Field([], max_length=1000)
    """Stores where the coupon is valid (empty: every store)."""
    audience: Literal["all", "home"] = "all"
    """``all`` members, or members whose home store is one of ``store_ids``."""


class CouponIssued(Out):
    """The coupon issued and the ledger event that recorded it."""

    coupon: CouponState
    event_id: str


class CampaignIssued(Out):
    """A campaign and the members who got its coupon."""

    campaign_id: str
    issued: int
    member_ids: list[str]


class CampaignOut(Out):
    """A campaign as stored."""

    campaign_id: str
    title: str
    coupon_template: CouponSpec
    segment: Segment
    issued_count: int
    created_by: str
    created_ms: int


class CampaignCount(Out):
    """One campaign of a rollout and how many coupons it issued."""

    campaign_id: str
    issued: int


class RolloutIssued(Out):
    """The campaigns a dashboard rollout created (one per store for ``audience=home``)."""

    campaigns: list[CampaignCount]


def _check_spec(principal: Principal, spec: CouponSpec) -> None:
    value_problem = COUPON_KINDS[spec.kind].value_problem(spec.value)
    if value_problem is not None:
        raise invalid("bad_coupon_value", value_problem, "value")
    if spec.valid_until_ms <= spec.valid_from_ms:
        raise invalid(
            "bad_validity", "valid_until_ms must be after valid_from_ms", "valid_until_ms"
        )
    if principal.store_filter() is not None and spec.store_ids != [principal.store_id]:
        raise invalid(
            "store_scope_required",
            f"store managers issue coupons valid in their own store only: "
            f"store_ids=[{principal.store_id!r}]",
            "store_ids",
        )


def _coupon(spec: CouponSpec, coupon_id: str, campaign_id: str) -> CouponState:
    return CouponState(
        coupon_id=coupon_id,
        campaign_id=campaign_id,
        kind=spec.kind,
        title=spec.title,
        value=spec.value,
        min_spend_fen=spec.min_spend_fen,
        store_ids=tuple(spec.store_ids),
        valid_from_ms=spec.valid_from_ms,
        valid_until_ms=spec.valid_until_ms,
    )


def issue_coupon(
    coord: Coordinator, principal: Principal, member_id: str, body: IssueCoupon
) -> CouponIssued:
    """Issue one single-use coupon to a member."""
    principal.require_write()
    _check_spec(principal, body)
    coupon = _coupon(body, body.coupon_id or "c" + uuid.uuid4().hex[:15], body.campaign_id)
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        check_member_access(principal, member_row(conn, member_id))
        for store_id in body.store_ids:
            store_exists(conn, store_id, "store_ids")
        ensure_member_states(conn, [member_id], now)
        held = ledger_from_row(lock_member_states(conn, [member_id])[member_id].ledger)
        if held.find_coupon(coupon.coupon_id) is not None:
            raise conflict(
                "coupon_exists", f"member already holds coupon {coupon.coupon_id}", "coupon_id"
            )
        result = coord.recorder.record(
            conn, [HqFact(member_id, CouponIssue(coupon=coupon), principal.store_id)], now
        )
        audit(conn, principal.username, "coupon.issue", f"{member_id}/{coupon.coupon_id}", now,
              event_id=result.events[0].event_id)  # fmt: skip
    coord.pusher.wake()
    return CouponIssued(coupon=coupon, event_id=result.events[0].event_id)


def create_campaign(coord: Coordinator, principal: Principal, body: Campaign) -> CampaignIssued:
    """Issue a coupon to every member of a segment (one hq event per member)."""
    principal.require_manager()
    _check_spec(principal, body.coupon)
    seg = body.segment
    if not (seg.member_ids or seg.tier or seg.home_store_id or seg.all_members or seg.audience):
        raise invalid(
            "empty_segment",
            "name member_ids, a tier, a home store, an audience or all_members",
            "segment",
        )
    campaign_id = body.campaign_id or "cp" + uuid.uuid4().hex[:12]
    now = coord.clock.wall_ms()
    m = schema.members
    ms = schema.member_states
    with coord.db.write() as conn:
        for store_id in body.coupon.store_ids:
            store_exists(conn, store_id, "coupon.store_ids")
        camp = schema.campaigns
        if conn.execute(
            sa.select(camp.c.campaign_id).where(camp.c.campaign_id == campaign_id)
        ).first():
            raise conflict("campaign_exists", f"campaign {campaign_id!r} exists", "campaign_id")
        query = (
            sa.select(m.c.member_id)
            .select_from(m.outerjoin(ms, ms.c.member_id == m.c.member_id))
            .where(m.c.status == "active")
            .order_by(m.c.member_id)
        )
        home = seg.home_store_id
        if principal.store_filter() is not None:
            principal.require_store(home or principal.store_id)
            home = principal.store_id
        if seg.member_ids is not None:
            query = query.where(m.c.member_id.in_(sorted(set(seg.member_ids))))
        if seg.tier is not None:
            query = query.where(ms.c.tier == seg.tier)
        if home is not None:
            query = query.where(m.c.home_store_id == home)
        member_ids = list(conn.execute(query).scalars())
        if seg.audience is not None:
            tz = coord.rules(conn).timezone
            wanted = set(audience(conn, seg.audience, now, tz))
            member_ids = [member_id for member_id in member_ids if member_id in wanted]
        facts = [
            HqFact(
                member_id,
                CouponIssue(coupon=_coupon(body.coupon, "c" + uuid.uuid4().hex[:15], campaign_id)),
                principal.store_id,
            )
            for member_id in member_ids
        ]
        coord.recorder.record(conn, facts, now)
        conn.execute(
            sa.insert(camp).values(
                campaign_id=campaign_id,
                title=body.coupon.title,
                coupon_template=body.coupon.model_dump_json(),
                segment=dumps(seg.model_dump(mode="json")),
                issued_count=len(facts),
                created_by=principal.username,
                created_ms=now,
            )
        )
        audit(conn, principal.username, "campaign.create", campaign_id, now, issued=len(facts))
    coord.pusher.wake()
    return CampaignIssued(campaign_id=campaign_id, issued=len(facts), member_ids=member_ids)


def list_campaigns(coord: Coordinator, principal: Principal) -> list[CampaignOut]:
    """Campaigns, newest first (a store manager sees chain-wide ones and their store's)."""
    camp = schema.campaigns
    with coord.db.read() as conn:
        rows = conn.execute(sa.select(camp).order_by(camp.c.created_ms.desc())).all()
    return [
        CampaignOut(
            campaign_id=r.campaign_id,
            title=r.title,
            coupon_template=CouponSpec.model_validate_json(r.coupon_template),
            segment=Segment.model_validate_json(r.segment),
            issued_count=r.issued_count,
            created_by=r.created_by,
            created_ms=r.created_ms,
        )
        for r in rows
        if _campaign_visible(principal, r)
    ]


def _campaign_visible(principal: Principal, row: sa.Row[Any]) -> bool:
    """Chain-wide campaigns and campaigns of the manager's own store only."""
    own = principal.store_filter()
    if own is None:
        return True
    spec = CouponSpec.model_validate_json(row.coupon_template)
    segment = json.loads(row.segment)
    home = segment.get("home_store_id") if isinstance(segment, dict) else None
    return (not spec.store_ids or own in spec.store_ids) and home in (None, own)


def rollout_campaign(
    coord: Coordinator, principal: Principal, body: CampaignRollout
) -> RolloutIssued:
    """A campaign from the dashboard's rollout form: valid from now for ``valid_days``, to
    every member (a store manager: their store's) or to each store's home members."""
    principal.require_manager()
    if body.audience == "home" and not body.store_ids:
        raise invalid("stores_required", "choose the stores whose members get it", "store_ids")
    now = coord.clock.wall_ms()
    stamp = datetime.fromtimestamp(now / 1000, tz=UTC).strftime("%Y%m%d%H%M") + secrets.token_hex(2)
    spec = CouponSpec(
        title=body.title,
        kind=body.kind,
        value=body.value,
        store_ids=body.store_ids,
        valid_from_ms=now,
        valid_until_ms=now + body.valid_days * DAY_MS,
    )
    segments: list[tuple[str, Segment]]
    if body.audience == "all":
        if principal.store_filter() is not None:
            segments = [(f"cp{stamp}", Segment(home_store_id=principal.store_id))]
        else:
            segments = [(f"cp{stamp}", Segment(all_members=True))]
    else:
        segments = [
            (f"cp{stamp}-{store}", Segment(home_store_id=store))
            for store in sorted(set(body.store_ids))
        ]
    results = [
        create_campaign(
            coord,
            principal,
            Campaign(campaign_id=campaign_id[:64], coupon=spec, segment=segment),
        )
        for campaign_id, segment in segments
    ]
    return RolloutIssued(
        campaigns=[CampaignCount(campaign_id=r.campaign_id, issued=r.issued) for r in results]
    )
