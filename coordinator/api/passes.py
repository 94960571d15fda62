"""Passes: sell or grant (hq ``PassIssue`` events), freeze, unfreeze, extend, top up."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import passes
from coordinator.services.passes import PassChange, PassResult, SellPass
from shared.model import Id

router = APIRouter(prefix="/api/v1/members/{member_id}/passes", tags=["passes"], responses=USER)
MemberPath = Annotated[Id, Path()]
PassPath = Annotated[Id, Path()]


@router.post("", status_code=201, responses=answers(404, 409))
def sell_pass(
    coord: CoordinatorDep, principal: PrincipalDep, member_id: MemberPath, body: SellPass
) -> PassResult:
    """Record a pass sale as an hq event; kiosks get it with the member's next record."""
    return passes.sell_pass(coord, principal, member_id, body)


@router.post("/{pass_id}/freeze", responses=answers(404, 409))
def freeze(
    coord: CoordinatorDep, principal: PrincipalDep, member_id: MemberPath, pass_id: PassPath
) -> PassResult:
    """Freeze a pass (kiosks refuse it until unfrozen); 409 when it is frozen already."""
    return passes.update_pass(coord, principal, member_id, pass_id, frozen=True)


@router.post("/{pass_id}/unfreeze", responses=answers(404, 409))
def unfreeze(
    coord: CoordinatorDep, principal: PrincipalDep, member_id: MemberPath, pass_id: PassPath
) -> PassResult:
    """Unfreeze a pass: the frozen days are given back; 409 when it is not frozen."""
    return passes.update_pass(coord, principal, member_id, pass_id, frozen=False)


@router.post("/{pass_id}/extend", responses=answers(404, 409))
def extend(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    member_id: MemberPath,
    pass_id: PassPath,
    body: PassChange,
) -> PassResult:
    """Extend a pass's validity and/or change its total sessions; 409 when the pass has not
    started yet (sold to start at its first use)."""
    return passes.extend_pass(coord, principal, member_id, pass_id, body)
