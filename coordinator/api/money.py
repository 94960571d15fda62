"""Stored value (储值): a member's balance, top-ups and refunds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import money
from coordinator.services.money import MoneyChange, Refund, StoredValueOut, TopUp
from shared.model import Id

router = APIRouter(
    prefix="/api/v1/members/{member_id}/stored-value", tags=["money"], responses=USER
)


@router.get("", responses=answers(404))
def stored_value(
    coord: CoordinatorDep, principal: PrincipalDep, member_id: Annotated[Id, Path()]
) -> StoredValueOut:
    """The member's stored value now: principal, live bonus, totals and the chain's cap."""
    return money.balance(coord, principal, member_id)


@router.post("/top-ups", status_code=201, responses=answers(404))
def top_up(
    coord: CoordinatorDep, principal: PrincipalDep, member_id: Annotated[Id, Path()], body: TopUp
) -> MoneyChange:
    """Top up (充值) with the bonus the chain's top-up rule gives; 422 over the maximum or
    the member's cap across all stores, and nothing is recorded."""
    return money.top_up(coord, principal, member_id, body)


@router.post("/refunds", status_code=201, responses=answers(404))
def refund(
    coord: CoordinatorDep, principal: PrincipalDep, member_id: Annotated[Id, Path()], body: Refund
) -> MoneyChange:
    """Refund principal (HQ admins; audited); 422 above the principal held."""
    return money.refund(coord, principal, member_id, body)
