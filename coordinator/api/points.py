"""Points granted by HQ (opening balances when a chain moves onto Tapfleet, goodwill)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import points
from coordinator.services.points import PointsGrant, PointsGranted
from shared.model import Id

router = APIRouter(prefix="/api/v1/members/{member_id}/points", tags=["points"], responses=USER)


@router.post("", status_code=201, responses=answers(404))
def grant_points(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    member_id: Annotated[Id, Path()],
    body: PointsGrant,
) -> PointsGranted:
    """Grant points to a member (an audited adjustment; expires like earned points)."""
    return points.grant_points(coord, principal, member_id, body)
