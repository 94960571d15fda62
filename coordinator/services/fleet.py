"""The fleet as the dashboard sees it: the live snapshot, one kiosk in detail, alerts and
rollouts, each limited to what the caller may see (a store manager: their own store)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from coordinator.errors import ApiError, not_found
from coordinator.fleet import rollouts, timeline
from coordinator.fleet.live import LiveFleet
from coordinator.fleet.monitor import for_principal
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services import software
from coordinator.services.common import Out
from coordinator.services.software import SoftwareRollout


class StoreRef(Out):
    """A store's name and time zone."""

    store_id: str
    name: str
    timezone: str


class VersionState(Out):
    """A version the kiosk applied against the current one, and since when it is behind."""

    applied: int | None
    current: int
    behind_since_ms: int | None


class ReaderState(Out):
    """What a reader of the kiosk reports."""

    state: str | None
    detail: str
    since_ms: int | None


class StationState(Out):
    """A door station of the kiosk, as the kiosk's last heartbeat reported it."""

    room: str | None
    last_seen_ms: int | None = Field(description="When the kiosk last heard it.")
    fw: str
    reader: str = Field(description="ok, fault, or unknown (no hello since the kiosk started).")
    buffered: int = Field(description="Taps it holds for the kiosk (it could not reach it).")
    dropped: int = Field(description="Taps it could not keep (buffer full).")
    taps_accepted: int
    taps_refused: int
    refused_requests: int = Field(description="Requests the kiosk refused: forged, wrong key.")
    errors: dict[str, int] = Field(description="The station's own error counts.")


class KioskView(Out):
    """Every fact the fleet view shows for one kiosk, kept separate."""

    kiosk_id: str
    name: str
    store_id: str
    store_name: str
    timezone: str
    revoked: bool
    alive: bool
    alive_until_ms: int | None
    heartbeat_received_ms: int | None
    heartbeat_interval_s: int | None
    connected: bool
    status: str | None
    status_since_ms: int | None
    down_since_ms: int | None
    in_sync: bool
    events_caught_up: bool
    versions_current: bool
    applied_seq: int
    reported_last_seq: int | None
    held_events: int
    poisoned_count: int
    last_good_tap_ms: int | None
    outbox_depth: int | None
    oldest_unacked_age_s: int | None
    versions: dict[str, VersionState]
    readers: dict[str, ReaderState]
    stations: dict[str, StationState] = Field(
        default_factory=dict, description="The kiosk's door stations by id."
    )
    clock_offset_ms: int | None
    clock_offset_estimated: bool
    software_version: str | None
    uptime_s: int | None
    disk_free_bytes: int | None
    taps_accepted: int | None
    taps_refused: int | None
    alerts: list[str] = Field(default_factory=list)
    drops: int = Field(0, description="Connection drops within the flap window.")
    out_of_sync_since_ms: int | None = None
    sync_problem: bool | None = Field(
        None, description="Out of sync for longer than the grace period (monitor snapshots)."
    )


class Alert(Out):
    """An active alert on a kiosk."""

    kiosk_id: str
    store_id: str | None
    kind: str
    raised_ms: int
    raised_count: int
    detail: dict[str, Any]


class FleetSnapshot(Out):
    """Every kiosk the caller may see, by store, with the active alerts and thresholds."""

    server_ms: int
    stores: list[StoreRef]
    kiosks: list[KioskView]
    alerts: list[Alert]
    thresholds: dict[str, int | float]


class TimelineEntry(Out):
    """A change of a kiosk's facts or alerts."""

    at_ms: int
    fact: str
    value: str
    previous: str | None
    detail: dict[str, Any]


class KioskDetail(Out):
    """One kiosk's facts, active alerts and timeline (newest first)."""

    server_ms: int
    kiosk: KioskView
    alerts: list[Alert]
    timeline: list[TimelineEntry]


class AlertList(Out):
    """Active alerts the caller may see."""

    server_ms: int
    alerts: list[Alert]


class BundleRollout(Out):
    """A published bundle and which kiosks applied it."""

    bundle_id: int
    version: int
    store_ids: list[str]
    note: str
    published_by: str | None
    published_ms: int | None
    target: int | None
    applied: list[str]
    waiting: list[str]


class CampaignRollout(Out):
    """A campaign and which kiosks have the members version that carried it."""

    campaign_id: str
    title: str
    issued: int
    store_ids: list[str]
    home_store_id: str | None
    created_by: str
    created_ms: int
    target: int | None
    applied: list[str]
    waiting: list[str]


class RolloutStatus(Out):
    """Recent rule bundles and coupon campaigns, and which kiosks applied each."""

    server_ms: int
    bundles: list[BundleRollout]
    campaigns: list[CampaignRollout]


def live_of(coord: Coordinator) -> LiveFleet:
    """The live fleet (503 when the dashboard and its monitor are switched off)."""
    if coord.live is None:
        raise ApiError(503, "dashboard_off", "the fleet monitor is off (dashboard.enabled)")
    return coord.live


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
    coord: Coordinator,
    principal: Principal,
    store_id: str | None = None,
    problems: bool = False,
) -> dict[str, Any]:
    """The newest snapshot as the caller may see it, optionally one store and problems only
    (a plain dict: live pages and the event stream send it as it is)."""
    if store_id is not None:
        principal.require_store(store_id)
    snap = for_principal(live_of(coord).snapshot(), store_id or principal.store_filter())
    if problems:
        snap = {**snap, "kiosks": [k for k in snap["kiosks"] if has_problem(k)]}
    return snap


def kiosk_detail(
    coord: Coordinator, principal: Principal, kiosk_id: str, limit: int = 200
) -> KioskDetail:
    """One kiosk's facts read now, its active alerts and its timeline (newest first)."""
    live = live_of(coord)
    view = live.kiosk_view(kiosk_id)
    if view is None:
        raise not_found("kiosk", kiosk_id, "kiosk_id")
    principal.require_store(view["store_id"])
    with coord.db.read() as conn:
        changes = timeline.read(conn, kiosk_id, limit)
    alerts = [a for a in live.snapshot()["alerts"] if a["kiosk_id"] == kiosk_id]
    view["alerts"] = [a["kind"] for a in alerts]
    return KioskDetail.model_validate(
        {"server_ms": coord.clock.wall_ms(), "kiosk": view, "alerts": alerts, "timeline": changes}
    )


def alerts(coord: Coordinator, principal: Principal) -> AlertList:
    """Active alerts the caller may see."""
    snap = visible_snapshot(coord, principal)
    return AlertList.model_validate({"server_ms": snap["server_ms"], "alerts": snap["alerts"]})


def software_rollout(coord: Coordinator, principal: Principal) -> SoftwareRollout:
    """Each software channel and the version its kiosks report (of the caller's stores)."""
    snap = visible_snapshot(coord, principal)
    return software.rollout(coord, snap["kiosks"], snap["server_ms"], principal.store_filter())


def rollout_status(coord: Coordinator, principal: Principal) -> RolloutStatus:
    """Recent rule bundles and coupon campaigns, and which kiosks applied each."""
    snap = visible_snapshot(coord, principal)
    with coord.db.read() as conn:
        out = rollouts.status(conn, snap["kiosks"], principal.store_filter())
    return RolloutStatus.model_validate({"server_ms": snap["server_ms"], **out})
