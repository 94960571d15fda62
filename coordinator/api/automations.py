"""The chain's automations and what they did."""

from __future__ import annotations

from fastapi import APIRouter

from coordinator.api.answers import USER
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import engage
from coordinator.services.engage import AutomationRow, AutomationRun

router = APIRouter(prefix="/api/v1/automations", tags=["automations"], responses=USER)


@router.get("/report")
def automation_report(coord: CoordinatorDep, principal: PrincipalDep) -> list[AutomationRow]:
    """Every automation of the chain's rules: runs, notifications queued and sent, coupons
    issued and redeemed, points granted. Automations are defined in the rules."""
    return engage.automation_report(coord, principal)


@router.post("/run")
def run_now(coord: CoordinatorDep, principal: PrincipalDep) -> AutomationRun:
    """Run the automations now (HQ admins); each occasion is still acted on at most once."""
    return engage.run_now(coord, principal)
