"""Ops views: refused messages per reason and kiosk, ingest state, versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from coordinator.api.answers import USER
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import ops
from coordinator.services.ops import IngestState, Rejections
from shared.model import Id

router = APIRouter(prefix="/api/v1/ops", tags=["ops"], responses=USER)


@router.get("/rejections")
def rejections(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    kiosk_id: Annotated[Id | None, Query()] = None,
) -> Rejections:
    """Refused MQTT messages and events, counted per kiosk and reason, with the last detail."""
    return ops.rejections(coord, principal, kiosk_id)


@router.get("/ingest")
def ingest_state(coord: CoordinatorDep, principal: PrincipalDep) -> IngestState:
    """Queue depth, held events per kiosk, broker connection and downstream versions."""
    return ops.ingest_state(coord, principal)
