"""The fleet as the dashboard sees it: live snapshot (JSON and Server-Sent Events), kiosk
detail with its timeline, alerts, rollouts (publish and watch) and conflict stories.

Every route takes the same caller as the rest of the API (bearer token, or the dashboard's
session cookie): store managers see their own store only, viewers read but never publish.
Publishing goes through the rule-bundle and campaign services, so their checks (roles,
store scope, validation, audit) apply unchanged.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.fleet.monitor import for_principal
from coordinator.services import conflicts, coupons, fleet, rules
from coordinator.services.conflicts import Story
from coordinator.services.coupons import CampaignRollout, RolloutIssued
from coordinator.services.fleet import AlertList, FleetSnapshot, KioskDetail, RolloutStatus
from coordinator.services.rules import BundleOut, Draft
from coordinator.services.software import SoftwareRollout
from shared.model import Id

router = APIRouter(prefix="/api/v1/fleet", tags=["fleet"], responses={**USER, **answers(503)})

STREAM_MAX_S = 15.0
"""An event stream ends after this long; EventSource reconnects at once (keeps proxies and
server shutdowns from waiting on endless responses)."""
KEEPALIVE_S = 10.0


@router.get("", response_model=FleetSnapshot)
def fleet_snapshot(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    store_id: Annotated[Id | None, Query()] = None,
    problems: Annotated[bool, Query(description="only kiosks with a problem")] = False,
) -> Response:
    """Every kiosk the caller may see, with its separate facts, and the active alerts."""
    snap = fleet.visible_snapshot(coord, principal, store_id, problems)
    # The snapshot is built once per monitor tick for every reader: sent as it is.
    return Response(
        orjson.dumps(snap, option=orjson.OPT_NON_STR_KEYS), media_type="application/json"
    )


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def stream(
    request: Request, coord: CoordinatorDep, principal: PrincipalDep
) -> StreamingResponse:
    """Server-Sent Events: a ``fleet`` event with the caller's snapshot on every change."""
    live = fleet.live_of(coord)
    store = principal.store_filter()

    async def events() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        seen = -1
        started = time.monotonic()
        while time.monotonic() - started < STREAM_MAX_S:
            if await request.is_disconnected():
                return
            version = await live.hub.wait_newer(seen, KEEPALIVE_S)
            snap = live.hub.latest()
            if version == seen or snap is None:
                yield ": keep-alive\n\n"
                continue
            seen = version
            data = orjson.dumps(for_principal(snap, store), option=orjson.OPT_NON_STR_KEYS).decode()
            yield f"id: {version}\nevent: fleet\ndata: {data}\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/kiosks/{kiosk_id}", responses=answers(404))
def kiosk_detail(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    kiosk_id: Annotated[Id, Path()],
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> KioskDetail:
    """One kiosk's facts, active alerts and timeline of status changes (newest first)."""
    return fleet.kiosk_detail(coord, principal, kiosk_id, limit)


@router.get("/alerts")
def alerts(coord: CoordinatorDep, principal: PrincipalDep) -> AlertList:
    """Active alerts the caller may see."""
    return fleet.alerts(coord, principal)


@router.get("/rollouts")
def rollout_status(coord: CoordinatorDep, principal: PrincipalDep) -> RolloutStatus:
    """Recent rule bundles and coupon campaigns, and which kiosks applied each."""
    return fleet.rollout_status(coord, principal)


@router.get("/software")
def software_rollout(coord: CoordinatorDep, principal: PrincipalDep) -> SoftwareRollout:
    """Each software channel's release and the version every kiosk following it reports."""
    return fleet.software_rollout(coord, principal)


@router.post("/rollouts/rules", status_code=201, responses=answers(404))
def publish_rules(coord: CoordinatorDep, principal: PrincipalDep, body: Draft) -> BundleOut:
    """Draft and publish a rule bundle at once; returns the published bundle."""
    return rules.rollout_rules(coord, principal, body)


@router.post("/rollouts/campaign", status_code=201, responses=answers(404, 409))
def issue_campaign(
    coord: CoordinatorDep, principal: PrincipalDep, body: CampaignRollout
) -> RolloutIssued:
    """Issue a campaign (one per store for ``audience=home``)."""
    return coupons.rollout_campaign(coord, principal, body)


@router.get("/conflicts/{conflict_id}/story", responses=answers(404))
def conflict_story(
    coord: CoordinatorDep, principal: PrincipalDep, conflict_id: Annotated[Id, Path()]
) -> Story:
    """A conflict with its story in both languages and what each resolution would do."""
    return conflicts.story(coord, principal, conflict_id)
