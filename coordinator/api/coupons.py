"""Coupons and campaigns: issue to one member, or to a segment (hq ``CouponIssue`` events)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import coupons
from coordinator.services.coupons import (
    Campaign,
    CampaignIssued,
    CampaignOut,
    CouponIssued,
    IssueCoupon,
)
from shared.model import Id

router = APIRouter(prefix="/api/v1", tags=["coupons"], responses=USER)


@router.post("/members/{member_id}/coupons", status_code=201, responses=answers(404, 409))
def issue_coupon(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    member_id: Annotated[Id, Path()],
    body: IssueCoupon,
) -> CouponIssued:
    """Issue one single-use coupon to a member."""
    return coupons.issue_coupon(coord, principal, member_id, body)


@router.post("/campaigns", status_code=201, responses=answers(404, 409))
def create_campaign(
    coord: CoordinatorDep, principal: PrincipalDep, body: Campaign
) -> CampaignIssued:
    """Issue a coupon to every member of a segment (one hq event per member)."""
    return coupons.create_campaign(coord, principal, body)


@router.get("/campaigns")
def list_campaigns(coord: CoordinatorDep, principal: PrincipalDep) -> list[CampaignOut]:
    """Campaigns, newest first (a store manager sees chain-wide ones and their store's)."""
    return coupons.list_campaigns(coord, principal)
