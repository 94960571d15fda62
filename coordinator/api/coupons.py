"""Coupons and campaigns: issue to one member, or to a segment (hq ``CouponIssue`` events)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path
from pydantic import Field

from coordinator import schema
from coordinator.api.deps import (
    Body,
    CoordinatorDep,
    PrincipalDep,
    audit,
    check_member_access,
    member_row,
    store_exists,
)
from coordinator.errors import conflict, invalid
from coordinator.ledger.hq_events import HqFact
from coordinator.ledger.jsonrows import dumps
from coordinator.security.auth import Principal
from shared.events import CouponIssue
from shared.model import Count, CouponKind, CouponState, Id, Ms

router = APIRouter(prefix="/api/v1", tags=["coupons"])


class CouponSpec(Body):
    """What the coupon gives, where and when."""

    title: str = Field(min_length=1, max_length=200)
    kind: CouponKind
    value: Count = 0
    store_ids: list[Id] = []
    valid_from_ms: Ms
    valid_until_ms: Ms


class IssueCoupon(CouponSpec):
    """One coupon for one member."""

    coupon_id: Id | None = None
    campaign_id: Id = "manual"


class Segment(Body):
    """Who gets the campaign: listed members, or members matching every filter given."""

    member_ids: list[Id] | None = None
    tier: Id | None = None
    home_store_id: Id | None = None
    all_members: bool = False


class Campaign(Body):
    """A coupon campaign."""

    campaign_id: Id | None = None
    coupon: CouponSpec
    segment: Segment


def _check_spec(principal: Principal, spec: CouponSpec) -> None:
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
        store_ids=tuple(spec.store_ids),
        valid_from_ms=spec.valid_from_ms,
        valid_until_ms=spec.valid_until_ms,
    )


@router.post("/members/{member_id}/coupons", status_code=201)
def issue_coupon(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    member_id: Annotated[Id, Path()],
    body: IssueCoupon,
) -> dict[str, Any]:
    """Issue one single-use coupon to a member."""
    principal.require_write()
    _check_spec(principal, body)
    coupon = _coupon(body, body.coupon_id or "c" + uuid.uuid4().hex[:15], body.campaign_id)
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        check_member_access(principal, member_row(conn, member_id))
        for store_id in body.store_ids:
            store_exists(conn, store_id, "store_ids")
        result = coord.recorder.record(
            conn, [HqFact(member_id, CouponIssue(coupon=coupon), principal.store_id)], now
        )
        audit(conn, principal.username, "coupon.issue", f"{member_id}/{coupon.coupon_id}", now)
    coord.pusher.wake()
    return {"coupon": coupon.model_dump(mode="json"), "event_id": result.events[0].event_id}


@router.post("/campaigns", status_code=201)
def create_campaign(
    coord: CoordinatorDep, principal: PrincipalDep, body: Campaign
) -> dict[str, Any]:
    """Issue a coupon to every member of a segment (one hq event per member)."""
    principal.require_write()
    _check_spec(principal, body.coupon)
    seg = body.segment
    if not (seg.member_ids or seg.tier or seg.home_store_id or seg.all_members):
        raise invalid(
            "empty_segment", "name member_ids, a tier, a home store or all_members", "segment"
        )
    campaign_id = body.campaign_id or "cp" + uuid.uuid4().hex[:12]
    now = coord.clock.wall_ms()
    m = schema.members
    ms = schema.member_states
    with coord.db.write() as conn:
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
    return {"campaign_id": campaign_id, "issued": len(facts), "member_ids": member_ids}


@router.get("/campaigns")
def list_campaigns(coord: CoordinatorDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Campaigns, newest first (a store manager sees chain-wide ones and their store's)."""
    camp = schema.campaigns
    with coord.db.read() as conn:
        rows = conn.execute(sa.select(camp).order_by(camp.c.created_ms.desc())).all()
    return [dict(r._mapping) for r in rows if _campaign_visible(principal, r)]


def _campaign_visible(principal: Principal, row: sa.Row[Any]) -> bool:
    """Chain-wide campaigns and campaigns of the manager's own store only."""
    own = principal.store_filter()
    if own is None:
        return True
    spec = CouponSpec.model_validate_json(row.coupon_template)
    segment = json.loads(row.segment)
    home = segment.get("home_store_id") if isinstance(segment, dict) else None
    return (not spec.store_ids or own in spec.store_ids) and home in (None, own)
