"""Balances with their audit trail: every event of the member, in ledger order, with the
change it made (points, sessions per pass, coupon uses) and the conflicts it raised."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import events
from coordinator.services.events import Balance
from shared.model import Id

router = APIRouter(prefix="/api/v1", tags=["balances"], responses=USER)


@router.get("/members/{member_id}/balance", responses=answers(404))
def balance(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    member_id: Annotated[Id, Path()],
    trail: Annotated[bool, Query(description="include the audit trail")] = True,
) -> Balance:
    """Authoritative balances of a member, and (by default) how every event changed them."""
    return events.balance(coord, principal, member_id, trail)
