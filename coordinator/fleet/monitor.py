"""The fleet monitor: one loop that watches every kiosk for the dashboard and /metrics.

Each tick it reads every kiosk's facts (:mod:`coordinator.fleet.fleet_view`), writes what
changed to the kiosk's timeline, moves the alerts through their hysteresis
(:mod:`coordinator.fleet.alerts`) and publishes the resulting snapshot to the live
pages (:class:`~coordinator.fleet.hub.SnapshotHub`).

Several coordinator replicas may run it at once: every write is a compare-and-set on a
``change_no`` (or an insert guarded by a primary key), so a change is written by exactly
one replica and the others see it on their next tick. Nothing is written when nothing
changed.

A tick reads the whole fleet, so its cost grows with the kiosks (about a second of one
core per tick at 10,000 kiosks on a small machine). The loop waits ``monitor_interval_s``
between ticks, or longer when ticks are long: it never spends more than
``MAX_BUSY_SHARE`` of its time ticking, so the monitor of a large fleet cannot starve the
ingest; the live views then update every few seconds instead of every second.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.db import Database
from coordinator.fleet import fleet_view as fleet
from coordinator.fleet import refusal_rate as rejections
from coordinator.fleet import timeline
from coordinator.fleet.alerts import AlertKind, AlertState, RejectionStats, conditions, step
from coordinator.fleet.facts import changes, remembered
from coordinator.fleet.hub import SnapshotHub
from coordinator.fleet.settings import DashboardSettings
from coordinator.fleet.timeline import Change
from coordinator.reports.sqljson import json_str
from coordinator.schema import (
    fleet_alerts,
    kiosk_facts,
    rollout_targets,
    version_marks,
)

log = logging.getLogger(__name__)

MARK_NAMES = ("deny", "members")
MARK_RETENTION_MS = 2 * 86_400_000
PRUNE_EVERY_S = 3600.0
TARGETS_EVERY_S = 2.0
CAMPAIGN_LOOKBACK_MS = 7 * 86_400_000
CAMPAIGN_ISSUE_SLACK_MS = 300_000
MAX_BUSY_SHARE = 0.2
"""The share of its time the monitor loop may spend in ticks (a fifth of one core)."""


def pause_after(tick_s: float, interval_s: float) -> float:
    """Seconds to wait after a tick that took ``tick_s``: the interval, or long enough that
    ticking takes at most ``MAX_BUSY_SHARE`` of the loop's time."""
    return max(interval_s, tick_s * (1 - MAX_BUSY_SHARE) / MAX_BUSY_SHARE)


@dataclass
class _Stored:
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    fact_nos: dict[str, int] = field(default_factory=dict)
    alerts: dict[tuple[str, str], AlertState] = field(default_factory=dict)
    alert_nos: dict[tuple[str, str], int] = field(default_factory=dict)


class FleetMonitor:
    """Watches the fleet on a background thread; :meth:`tick` is one pass (tests call it)."""

    def __init__(
        self,
        db: Database,
        settings: DashboardSettings,
        hub: SnapshotHub,
        wall_ms: Any,
    ):
        self._db = db
        self._settings = settings
        self._hub = hub
        self._wall_ms = wall_ms
        self._marks: dict[str, list[tuple[int, int]]] = {name: [] for name in MARK_NAMES}
        self._marks_loaded = False
        self._rejections: dict[str, RejectionStats] = {}
        self._rejections_at = 0.0
        self._pruned_at = time.monotonic()
        self._targets_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._digest = ""
        self._lock = threading.Lock()
        self.ticks = 0
        self.last_tick_s = 0.0
        """How long the last tick of the loop took (seconds)."""

    @property
    def marks(self) -> dict[str, list[tuple[int, int]]]:
        """When each deny-list and members version was first seen (a copy)."""
        with self._lock:
            return {name: list(marks) for name, marks in self._marks.items()}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="tapfleet-fleet-monitor", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop and wait for the current tick to finish."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.tick()
            except sa.exc.OperationalError as exc:
                log.warning("fleet monitor: database busy or unreachable (%s); next tick", exc)
            except Exception:
                log.exception("fleet monitor tick failed; trying again next tick")
            self.last_tick_s = time.monotonic() - started
            self._stop.wait(pause_after(self.last_tick_s, self._settings.monitor_interval_s))

    # -- one pass ----------------------------------------------------------------------------

    def tick(self, now_ms: int | None = None) -> dict[str, Any]:
        """Read, record changes, step alerts, publish; returns the snapshot."""
        with self._lock:
            return self._tick(self._wall_ms() if now_ms is None else now_ms)

    def _tick(self, now: int) -> dict[str, Any]:
        s = self._settings
        with self._db.read() as conn:
            if not self._marks_loaded:
                self._load_marks(conn, now)
            ctx = fleet.load_context(conn)
            new_marks = self._note_versions(ctx, now)
            ctx.marks = self._marks
            rows = fleet.load_rows(conn)
            stores = fleet.load_stores(conn)
            stored = _read_stored(conn)
            drops = timeline.drops_since(conn, now - s.flap_window_s * 1000)
            if time.monotonic() - self._rejections_at >= s.rejection_refresh_s:
                self._rejections = rejections.stats(
                    conn, now, s.rejection_window_s, s.rejection_baseline_s
                )
                self._rejections_at = time.monotonic()

        views = [fleet.kiosk_view(row, ctx, now) for row in rows]
        fact_writes: dict[str, tuple[dict[str, Any], list[Change]]] = {}
        alert_writes: dict[tuple[str, str], tuple[AlertState, Change | None]] = {}
        states: dict[tuple[str, str], AlertState] = dict(stored.alerts)
        for view in views:
            kiosk = view["kiosk_id"]
            before = stored.facts.get(kiosk)
            now_facts = remembered(view, before, now, s.sync_grace_s * 1000)
            view["out_of_sync_since_ms"] = now_facts["out_of_sync_since"]
            view["sync_problem"] = not now_facts["in_sync"]
            if now_facts != before:
                fact_writes[kiosk] = (now_facts, changes(view, before, now_facts, now))
            if view["revoked"]:
                evidence: Mapping[AlertKind, dict[str, Any] | None] = dict.fromkeys(AlertKind)
            else:
                evidence = conditions(
                    view,
                    now_facts["reader_since"],
                    self._rejections.get(kiosk),
                    drops.get(kiosk, 0),
                    s,
                    now,
                )
            for kind, detail in evidence.items():
                key = (kiosk, kind.value)
                old = stored.alerts.get(key)
                new, change = step(old, detail, now, s.alert_clear_after_s * 1000)
                if new is None or new == old:
                    continue
                states[key] = new
                entry = None
                if change is not None:
                    entry = Change(
                        kiosk, f"alert:{kind.value}", change, None, now, dict(new.detail)
                    )
                alert_writes[key] = (new, entry)

        if fact_writes or alert_writes or new_marks:
            self._write(stored, fact_writes, alert_writes, new_marks, now)
        self._housekeeping(now)
        snapshot = _snapshot(views, stores, states, drops, now, s)
        digest = json.dumps({k: v for k, v in snapshot.items() if k != "server_ms"}, sort_keys=True)
        if digest != self._digest or self._hub.latest() is None:
            self._digest = digest
            self._hub.publish(snapshot)
        self.ticks += 1
        return snapshot

    # -- versions ----------------------------------------------------------------------------

    def _load_marks(self, conn: Connection, now_ms: int) -> None:
        vm = version_marks
        for row in conn.execute(
            sa.select(vm.c.name, vm.c.version, vm.c.first_seen_ms)
            .where(vm.c.first_seen_ms >= now_ms - MARK_RETENTION_MS)
            .order_by(vm.c.name, vm.c.version)
        ):
            if row.name in self._marks:
                self._marks[row.name].append((int(row.version), int(row.first_seen_ms)))
        self._marks_loaded = True

    def _note_versions(self, ctx: fleet.FleetContext, now_ms: int) -> list[tuple[str, int]]:
        new: list[tuple[str, int]] = []
        for name, value in (("deny", ctx.deny_version), ("members", ctx.members_version)):
            marks = self._marks[name]
            if value > 0 and (not marks or value > marks[-1][0]):
                marks.append((value, now_ms))
                new.append((name, value))
            while marks and marks[0][1] < now_ms - MARK_RETENTION_MS and len(marks) > 1:
                marks.pop(0)
        return new

    # -- writes ------------------------------------------------------------------------------

    def _write(
        self,
        stored: _Stored,
        fact_writes: Mapping[str, tuple[dict[str, Any], list[Change]]],
        alert_writes: Mapping[tuple[str, str], tuple[AlertState, Change | None]],
        new_marks: list[tuple[str, int]],
        now_ms: int,
    ) -> None:
        with self._db.write() as conn:
            for name, version in new_marks:
                _insert_once(
                    conn, version_marks, {"name": name, "version": version, "first_seen_ms": now_ms}
                )
            won: list[Change] = []
            for kiosk, (facts, entries) in sorted(fact_writes.items()):
                values = {"facts": json.dumps(facts, sort_keys=True), "updated_ms": now_ms}
                if _cas(conn, kiosk_facts, {"kiosk_id": kiosk}, stored.fact_nos.get(kiosk), values):
                    won.extend(entries)
            for (kiosk, kind), (state, entry) in sorted(alert_writes.items()):
                values = {
                    "active": state.active,
                    "raised_ms": state.raised_ms,
                    "cleared_ms": state.cleared_ms,
                    "ok_since_ms": state.ok_since_ms,
                    "raised_count": state.raised_count,
                    "detail": json.dumps(dict(state.detail), sort_keys=True),
                    "updated_ms": now_ms,
                }
                key = {"kiosk_id": kiosk, "kind": kind}
                stored_no = stored.alert_nos.get((kiosk, kind))
                if _cas(conn, fleet_alerts, key, stored_no, values) and entry is not None:
                    won.append(entry)
            timeline.insert(conn, won)

    def _housekeeping(self, now_ms: int) -> None:
        if time.monotonic() - self._targets_at >= TARGETS_EVERY_S:
            self._targets_at = time.monotonic()
            resolve_campaign_targets(self._db, now_ms)
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            with self._db.write() as conn:
                if not self._db.try_job_lock(conn, "fleet_prune"):
                    return  # another replica prunes now
                timeline.prune(conn, now_ms - self._settings.timeline_retention_days * 86_400_000)
                conn.execute(
                    sa.delete(version_marks).where(
                        version_marks.c.first_seen_ms < now_ms - MARK_RETENTION_MS
                    )
                )


def _read_stored(conn: Connection) -> _Stored:
    stored = _Stored()
    for row in conn.execute(sa.select(kiosk_facts)):
        stored.facts[row.kiosk_id] = json.loads(row.facts)
        stored.fact_nos[row.kiosk_id] = int(row.change_no)
    for row in conn.execute(sa.select(fleet_alerts)):
        key = (row.kiosk_id, row.kind)
        stored.alerts[key] = AlertState(
            active=bool(row.active),
            raised_ms=int(row.raised_ms),
            cleared_ms=row.cleared_ms,
            ok_since_ms=row.ok_since_ms,
            raised_count=int(row.raised_count),
            detail=json.loads(row.detail or "{}"),
        )
        stored.alert_nos[key] = int(row.change_no)
    return stored


def _cas(
    conn: Connection,
    table: sa.Table,
    key: Mapping[str, Any],
    change_no: int | None,
    values: Mapping[str, Any],
) -> bool:
    """Write ``values`` if the row still has ``change_no`` (None: insert a new row)."""
    if change_no is None:
        return _insert_once(conn, table, {**key, **values, "change_no": 1})
    where = [table.c[k] == v for k, v in key.items()]
    result = conn.execute(
        sa.update(table)
        .where(*where, table.c.change_no == change_no)
        .values(**values, change_no=change_no + 1)
    )
    return bool(result.rowcount)


def _insert_once(conn: Connection, table: sa.Table, values: Mapping[str, Any]) -> bool:
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(table).values(**values))
    except sa.exc.IntegrityError:
        return False  # another replica was first
    return True


def _snapshot(
    views: list[dict[str, Any]],
    stores: list[dict[str, str]],
    states: Mapping[tuple[str, str], AlertState],
    drops: Mapping[str, int],
    now_ms: int,
    settings: DashboardSettings,
) -> dict[str, Any]:
    store_of = {v["kiosk_id"]: v["store_id"] for v in views}
    alerts = [
        {
            "kiosk_id": kiosk,
            "store_id": store_of.get(kiosk),
            "kind": kind,
            "raised_ms": state.raised_ms,
            "raised_count": state.raised_count,
            "detail": dict(state.detail),
        }
        for (kiosk, kind), state in sorted(states.items())
        if state.active and kiosk in store_of
    ]
    by_kiosk: dict[str, list[str]] = {}
    for (kiosk, kind), state in sorted(states.items()):
        if state.active and kiosk in store_of:
            by_kiosk.setdefault(kiosk, []).append(kind)
    for view in views:
        view["alerts"] = by_kiosk.get(view["kiosk_id"], [])
        view["drops"] = drops.get(view["kiosk_id"], 0)
    return {
        "server_ms": now_ms,
        "stores": stores,
        "kiosks": views,
        "alerts": alerts,
        "thresholds": {
            "offline_alert_after_s": settings.offline_alert_after_s,
            "sync_lag_alert_s": settings.sync_lag_alert_s,
            "version_apply_alert_s": settings.version_apply_alert_s,
            "reader_alert_after_s": settings.reader_alert_after_s,
            "clock_skew_alert_ms": settings.clock_skew_alert_ms,
            "flap_threshold": settings.flap_threshold,
            "flap_window_s": settings.flap_window_s,
        },
    }


def for_principal(snapshot: Mapping[str, Any], store_id: str | None) -> dict[str, Any]:
    """The part of a snapshot one caller may see (``store_id``: a store manager's store)."""
    if store_id is None:
        return dict(snapshot)
    return {
        **snapshot,
        "stores": [s for s in snapshot["stores"] if s["store_id"] == store_id],
        "kiosks": [k for k in snapshot["kiosks"] if k["store_id"] == store_id],
        "alerts": [a for a in snapshot["alerts"] if a["store_id"] == store_id],
    }


def resolve_campaign_targets(db: Database, now_ms: int) -> int:
    """Record the members version that carried each recent campaign; returns how many.

    A campaign's coupons reach kiosks with the next member pushes; once none of its
    members is waiting for a push, the highest members version among them is the version a
    kiosk must have applied to hold the campaign.
    """
    camp = schema.campaigns
    ev = schema.events
    ms = schema.member_states
    done = 0
    with db.read() as conn:
        pending = conn.execute(
            sa.select(camp.c.campaign_id, camp.c.created_ms)
            .where(
                camp.c.created_ms >= now_ms - CAMPAIGN_LOOKBACK_MS,
                ~camp.c.campaign_id.in_(sa.select(rollout_targets.c.campaign_id)),
            )
            .order_by(camp.c.created_ms)
            .limit(50)
        ).all()
        found: list[dict[str, Any]] = []
        dialect = conn.dialect.name
        for campaign_id, created_ms in pending:
            members = list(
                conn.execute(
                    sa.select(ev.c.member_id)
                    .where(
                        ev.c.kind == "coupon_issue",
                        ev.c.hlc_ms >= created_ms - CAMPAIGN_ISSUE_SLACK_MS,
                        ev.c.hlc_ms <= created_ms + CAMPAIGN_ISSUE_SLACK_MS,
                        json_str(ev.c.body, dialect, "body", "coupon", "campaign_id")
                        == campaign_id,
                    )
                    .distinct()
                ).scalars()
            )
            if not members:
                found.append(_target(campaign_id, 0, 0, now_ms))
                continue
            rows = conn.execute(
                sa.select(ms.c.dirty, ms.c.version).where(ms.c.member_id.in_(members))
            ).all()
            if len(rows) < len(members) or any(r.dirty or not r.version for r in rows):
                continue  # not pushed yet
            found.append(
                _target(campaign_id, max(int(r.version) for r in rows), len(members), now_ms)
            )
    if found:
        with db.write() as conn:
            for values in found:
                done += _insert_once(conn, rollout_targets, values)
    return done


def _target(campaign_id: str, version: int, count: int, now_ms: int) -> dict[str, Any]:
    return {
        "campaign_id": campaign_id,
        "members_version": version,
        "member_count": count,
        "resolved_ms": now_ms,
    }
