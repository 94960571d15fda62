"""The fleet as the dashboard sees it: live snapshot (JSON and Server-Sent Events), kiosk
detail with its timeline, alerts, rollouts (publish and watch) and conflict stories.

Every route takes the same caller as the rest of the API (bearer token, or the dashboard's
session cookie): store managers see their own store only, viewers read but never publish.
Publishing goes through the existing rule-bundle and campaign routes, so their checks
(roles, store scope, validation, audit) apply unchanged.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import Field

from coordinator import schema
from coordinator.api import conflicts as conflicts_api
from coordinator.api import coupons as coupons_api
from coordinator.api import rules as rules_api
from coordinator.api.deps import Body, CoordinatorDep, PrincipalDep
from coordinator.dashboard import Dashboard, conflict_story
from coordinator.errors import invalid, not_found
from coordinator.fleet import rollouts, timeline
from coordinator.fleet.monitor import for_principal
from coordinator.ledger.explain import Place
from coordinator.ledger.jsonrows import ledger_from_row
from coordinator.ledger.member_fold import member_events
from coordinator.security.auth import Principal
from shared.model import ClassSession, CouponKind, Id, Reward, Rules

router = APIRouter(prefix="/api/v1/fleet", tags=["fleet"])

STREAM_MAX_S = 15.0
"""An event stream ends after this long; EventSource reconnects at once (keeps proxies and
server shutdowns from waiting on endless responses)."""
KEEPALIVE_S = 10.0


def dashboard_of(request: Request) -> Dashboard:
    """The dashboard installed on this app."""
    dash: Dashboard = request.app.state.dashboard
    return dash


def has_problem(kiosk: dict[str, Any]) -> bool:
    """True when any fact of a kiosk needs attention (what "problems only" shows)."""
    if kiosk["revoked"]:
        return False
    return bool(
        kiosk.get("alerts")
        or not kiosk["alive"]
        or not kiosk["connected"]
        or kiosk.get("sync_problem", not kiosk["in_sync"])
        or any(r["state"] not in ("ok", "disabled") for r in kiosk["readers"].values())
    )


def visible_snapshot(
    dash: Dashboard, principal: Principal, store_id: str | None = None, problems: bool = False
) -> dict[str, Any]:
    """The snapshot the caller may see, optionally one store and problems only."""
    if store_id is not None:
        principal.require_store(store_id)
    snap = for_principal(dash.snapshot(), store_id or principal.store_filter())
    if problems:
        kiosks = [k for k in snap["kiosks"] if has_problem(k)]
        snap = {**snap, "kiosks": kiosks}
    return snap


@router.get("")
def fleet(
    request: Request,
    principal: PrincipalDep,
    store_id: Annotated[Id | None, Query()] = None,
    problems: Annotated[bool, Query(description="only kiosks with a problem")] = False,
) -> dict[str, Any]:
    """Every kiosk the caller may see, with its separate facts, and the active alerts."""
    return visible_snapshot(dashboard_of(request), principal, store_id, problems)


@router.get("/stream")
async def stream(request: Request, principal: PrincipalDep) -> StreamingResponse:
    """Server-Sent Events: a ``fleet`` event with the caller's snapshot on every change."""
    dash = dashboard_of(request)
    store = principal.store_filter()

    async def events() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        seen = -1
        started = time.monotonic()
        while time.monotonic() - started < STREAM_MAX_S:
            if await request.is_disconnected():
                return
            version = await dash.hub.wait_newer(seen, KEEPALIVE_S)
            snap = dash.hub.latest()
            if version == seen or snap is None:
                yield ": keep-alive\n\n"
                continue
            seen = version
            data = json.dumps(for_principal(snap, store), ensure_ascii=False, separators=(",", ":"))
            yield f"id: {version}\nevent: fleet\ndata: {data}\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/kiosks/{kiosk_id}")
def kiosk_detail(
    request: Request,
    coord: CoordinatorDep,
    principal: PrincipalDep,
    kiosk_id: Annotated[Id, Path()],
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """One kiosk's facts, active alerts and timeline of status changes (newest first)."""
    dash = dashboard_of(request)
    view = dash.kiosk_view(kiosk_id)
    if view is None:
        raise not_found("kiosk", kiosk_id, "kiosk_id")
    principal.require_store(view["store_id"])
    with coord.db.read() as conn:
        changes = timeline.read(conn, kiosk_id, limit)
    alerts = [a for a in dash.snapshot()["alerts"] if a["kiosk_id"] == kiosk_id]
    view["alerts"] = [a["kind"] for a in alerts]
    return {
        "server_ms": coord.clock.wall_ms(),
        "kiosk": view,
        "alerts": alerts,
        "timeline": changes,
    }


@router.get("/alerts")
def alerts(request: Request, principal: PrincipalDep) -> dict[str, Any]:
    """Active alerts the caller may see."""
    snap = visible_snapshot(dashboard_of(request), principal)
    return {"server_ms": snap["server_ms"], "alerts": snap["alerts"]}


# -- rollouts --------------------------------------------------------------------------------


@router.get("/rollouts")
def rollout_status(
    request: Request, coord: CoordinatorDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Recent rule bundles and coupon campaigns, and which kiosks applied each."""
    snap = visible_snapshot(dashboard_of(request), principal)
    with coord.db.read() as conn:
        out = rollouts.status(conn, snap["kiosks"], principal.store_filter())
    return {"server_ms": snap["server_ms"], **out}


class RulesRollout(Body):
    """A rule bundle to publish now: content, and the stores (empty: every store)."""

    rules: Rules = Rules()
    classes: list[ClassSession] = []
    rewards: list[Reward] = []
    store_ids: list[Id] = []
    note: str = Field("", max_length=200)


@router.post("/rollouts/rules", status_code=201)
def publish_rules(
    coord: CoordinatorDep, principal: PrincipalDep, body: RulesRollout
) -> dict[str, Any]:
    """Draft and publish a rule bundle through the rule-bundle API; returns the bundle row."""
    principal.require_write()
    draft = rules_api.Draft(
        rules=body.rules,
        classes=body.classes,
        rewards=body.rewards,
        store_ids=body.store_ids,
        note=body.note,
    )
    row = rules_api.create_bundle(coord, principal, draft)
    return rules_api.publish_bundle(coord, principal, int(row["bundle_id"]), None)


class CampaignRollout(Body):
    """A coupon campaign: the coupon, where it is valid, and who gets it."""

    title: str = Field(min_length=1, max_length=200)
    kind: CouponKind = CouponKind.VOUCHER
    value: int = Field(0, ge=0, le=10**9)
    valid_days: int = Field(30, ge=1, le=3650)
    store_ids: list[Id] = []
    """Stores where the coupon is valid (empty: every store)."""
    audience: Literal["all", "home"] = "all"
    """``all`` members, or members whose home store is one of ``store_ids``."""


@router.post("/rollouts/campaign", status_code=201)
def issue_campaign(
    coord: CoordinatorDep, principal: PrincipalDep, body: CampaignRollout
) -> dict[str, Any]:
    """Issue a campaign through the campaigns API (one per store for ``audience=home``)."""
    principal.require_write()
    if body.audience == "home" and not body.store_ids:
        raise invalid("stores_required", "choose the stores whose members get it", "store_ids")
    now = coord.clock.wall_ms()
    stamp = datetime.fromtimestamp(now / 1000, tz=UTC).strftime("%Y%m%d%H%M") + secrets.token_hex(2)
    spec = coupons_api.CouponSpec(
        title=body.title,
        kind=body.kind,
        value=body.value,
        store_ids=body.store_ids,
        valid_from_ms=now,
        valid_until_ms=now + body.valid_days * 86_400_000,
    )
    segments: list[tuple[str, coupons_api.Segment]]
    if body.audience == "all":
        if principal.store_filter() is not None:
            segments = [(f"cp{stamp}", coupons_api.Segment(home_store_id=principal.store_id))]
        else:
            segments = [(f"cp{stamp}", coupons_api.Segment(all_members=True))]
    else:
        segments = [
            (f"cp{stamp}-{store}", coupons_api.Segment(home_store_id=store))
            for store in sorted(set(body.store_ids))
        ]
    results = [
        coupons_api.create_campaign(
            coord,
            principal,
            coupons_api.Campaign(campaign_id=campaign_id[:64], coupon=spec, segment=segment),
        )
        for campaign_id, segment in segments
    ]
    return {"campaigns": [{k: r[k] for k in ("campaign_id", "issued")} for r in results]}


# -- conflicts -------------------------------------------------------------------------------


@router.get("/conflicts/{conflict_id}/story")
def conflict_detail(
    coord: CoordinatorDep, principal: PrincipalDep, conflict_id: Annotated[Id, Path()]
) -> dict[str, Any]:
    """A conflict with its story in both languages and what each resolution would do."""
    view = conflicts_api.get_conflict(coord, principal, conflict_id)
    return story_of(coord, view)


def story_of(coord: Any, view: dict[str, Any]) -> dict[str, Any]:
    """Story steps and options for a conflict as the conflicts API shows it."""
    now = coord.clock.wall_ms()
    with coord.db.read() as conn:
        stores = conn.execute(sa.select(schema.stores)).all()
        kiosks = conn.execute(sa.select(schema.kiosks.c.kiosk_id, schema.kiosks.c.store_id)).all()
        place = Place(
            store_names={s.store_id: s.name for s in stores},
            store_timezones={s.store_id: s.timezone for s in stores},
            kiosk_stores={k.kiosk_id: k.store_id for k in kiosks},
        )
        member = view.get("member_id")
        events = member_events(conn, member) if member else []
        ms = schema.member_states
        state = (
            conn.execute(sa.select(ms.c.ledger).where(ms.c.member_id == member)).scalar()
            if member
            else None
        )
        name = (
            conn.execute(
                sa.select(schema.members.c.display_name).where(schema.members.c.member_id == member)
            ).scalar()
            if member
            else None
        )
    ledger = ledger_from_row(state) if state else None
    steps = conflict_story.story(view, events, place)
    opts = conflict_story.options(view, ledger, now) if view["status"] == "open" else []
    return {
        "conflict": view,
        "member_name": name,
        "store_names": dict(place.store_names),
        "steps": [
            {
                "n": s.n,
                "at_ms": s.at_ms,
                "when": s.when,
                "store_id": s.store_id,
                "kiosk_id": s.kiosk_id,
                "offline": s.offline,
                "target": s.target,
                "what": dict(s.what),
                "after": dict(s.after),
            }
            for s in steps
        ],
        "options": [{"key": o.key, "body": dict(o.body), "text": dict(o.text)} for o in opts],
    }
