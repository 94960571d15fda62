"""Events: the ledger's facts, queried with keyset paging."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from coordinator.api.answers import USER
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import events
from coordinator.services.common import MAX_ROW_ID
from coordinator.services.events import EventPage
from shared.model import Id

router = APIRouter(prefix="/api/v1/events", tags=["events"], responses=USER)


@router.get("")
def list_events(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    member_id: Annotated[Id | None, Query()] = None,
    source: Annotated[Id | None, Query(description="kiosk id, or 'hq'")] = None,
    store_id: Annotated[Id | None, Query()] = None,
    kind: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,
    after_id: Annotated[int, Query(ge=0, le=MAX_ROW_ID, description="continue after this id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> EventPage:
    """Events in arrival order (``id``); pass ``next_after_id`` back as ``after_id``."""
    return events.list_events(
        coord,
        principal,
        member_id=member_id,
        source=source,
        store_id=store_id,
        kind=kind,
        after_id=after_id,
        limit=limit,
    )
