"""Fleet alerts: when a kiosk needs a person, decided by pure functions with hysteresis.

:func:`conditions` says which alert conditions hold for a kiosk right now (each with the
evidence, or None); :func:`step` turns a condition into alert state with hysteresis:

* an alert is raised when its condition holds (conditions carry their own thresholds,
  e.g. "offline for longer than 5 minutes", so a short blip never raises one);
* it clears only after the condition has stayed false for ``clear_after_ms``; a condition
  that comes back before that keeps the same alert instead of raising a new one;
* a connection that drops again and again raises one ``flapping`` alert that carries the
  number of drops, instead of one alert (or one screen row) per drop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from coordinator.fleet.settings import DashboardSettings

NOT_A_PROBLEM = frozenset({"ok", "disabled"})


class AlertKind(StrEnum):
    """What an alert is about."""

    OFFLINE = "offline"
    SYNC_LAG = "sync_lag"
    VERSION_LAG = "version_lag"
    READER = "reader"
    CLOCK_SKEW = "clock_skew"
    REJECTIONS = "rejections"
    FLAPPING = "flapping"


@dataclass(frozen=True)
class RejectionStats:
    """Taps and refusals of one kiosk in the window and in the baseline period before it."""

    window_rejected: int = 0
    window_taps: int = 0
    baseline_rejected: int = 0
    baseline_taps: int = 0

    @property
    def window_rate(self) -> float:
        """Share of taps refused in the window."""
        return self.window_rejected / self.window_taps if self.window_taps else 0.0

    @property
    def baseline_rate(self) -> float | None:
        """Share refused in the baseline period (None: no taps then)."""
        return self.baseline_rejected / self.baseline_taps if self.baseline_taps else None


@dataclass(frozen=True)
class AlertState:
    """One (kiosk, kind) alert as stored."""

    active: bool
    raised_ms: int
    cleared_ms: int | None = None
    ok_since_ms: int | None = None
    raised_count: int = 1
    detail: Mapping[str, Any] = field(default_factory=dict)


def rejection_alert(stats: RejectionStats, settings: DashboardSettings) -> dict[str, Any] | None:
    """Evidence of a rising rejection rate, or None.

    Rising means: at least ``rejection_min_count`` refusals in the window, and a refused
    share above both ``rejection_min_rate`` and ``rejection_rate_factor`` times the
    kiosk's own baseline share (the floor alone when it had no taps in the baseline).
    """
    if stats.window_rejected < settings.rejection_min_count:
        return None
    baseline = stats.baseline_rate
    limit = settings.rejection_min_rate
    if baseline is not None:
        limit = max(limit, baseline * settings.rejection_rate_factor)
    if stats.window_rate <= limit:
        return None
    return {
        "window_rejected": stats.window_rejected,
        "window_taps": stats.window_taps,
        "window_rate": round(stats.window_rate, 4),
        "baseline_rate": None if baseline is None else round(baseline, 4),
        "limit": round(limit, 4),
    }


def conditions(
    view: Mapping[str, Any],
    reader_since: Mapping[str, int],
    stats: RejectionStats | None,
    drops: int,
    settings: DashboardSettings,
    now_ms: int,
) -> dict[AlertKind, dict[str, Any] | None]:
    """Which alert conditions hold for a kiosk (its fleet view) now, with evidence.

    ``reader_since`` is when each reader was first seen not ok; ``drops`` is how many
    times the connection dropped within the flap window. Facts from the last heartbeat
    (sync lag, versions, readers, clock) only count while the kiosk is alive: a dead
    kiosk raises ``offline`` and nothing it said before dying raises anything else.
    """
    out: dict[AlertKind, dict[str, Any] | None] = dict.fromkeys(AlertKind)
    down = view.get("down_since_ms")
    if down is not None and now_ms - down >= settings.offline_alert_after_s * 1000:
        out[AlertKind.OFFLINE] = {
            "since_ms": down,
            "alive": view["alive"],
            "connected": view["connected"],
        }
    if drops >= settings.flap_threshold:
        out[AlertKind.FLAPPING] = {"drops": drops, "window_s": settings.flap_window_s}
    if stats is not None and (evidence := rejection_alert(stats, settings)) is not None:
        out[AlertKind.REJECTIONS] = evidence
    if not view.get("alive"):
        return out

    oldest = view.get("oldest_unacked_age_s")
    if view.get("outbox_depth") and oldest is not None and oldest > settings.sync_lag_alert_s:
        out[AlertKind.SYNC_LAG] = {
            "oldest_unacked_age_s": oldest,
            "outbox_depth": view["outbox_depth"],
        }

    late = {
        name: v
        for name, v in view["versions"].items()
        if v.get("behind_since_ms") is not None
        and now_ms - v["behind_since_ms"] >= settings.version_apply_alert_s * 1000
    }
    if late:
        out[AlertKind.VERSION_LAG] = {
            name: {
                "applied": v["applied"],
                "current": v["current"],
                "behind_since_ms": v["behind_since_ms"],
            }
            for name, v in sorted(late.items())
        }

    bad = {
        name: r["state"]
        for name, r in view["readers"].items()
        if r["state"] not in NOT_A_PROBLEM
        and name in reader_since
        and now_ms - reader_since[name] >= settings.reader_alert_after_s * 1000
    }
    if bad:
        out[AlertKind.READER] = {"readers": dict(sorted(bad.items()))}

    offset = view.get("clock_offset_ms")
    if offset is not None and abs(offset) > settings.clock_skew_alert_ms:
        out[AlertKind.CLOCK_SKEW] = {
            "clock_offset_ms": offset,
            "estimated": view.get("clock_offset_estimated", False),
        }
    return out


def step(
    state: AlertState | None,
    evidence: Mapping[str, Any] | None,
    now_ms: int,
    clear_after_ms: int,
) -> tuple[AlertState | None, str | None]:
    """The next state of one alert; the change is ``"raised"``, ``"cleared"`` or None."""
    if evidence is not None:
        if state is None:
            return AlertState(active=True, raised_ms=now_ms, detail=dict(evidence)), "raised"
        if not state.active:
            return (
                AlertState(
                    active=True,
                    raised_ms=now_ms,
                    raised_count=state.raised_count + 1,
                    detail=dict(evidence),
                ),
                "raised",
            )
        return replace(state, ok_since_ms=None, detail=dict(evidence)), None
    if state is None or not state.active:
        return state, None
    ok_since = now_ms if state.ok_since_ms is None else state.ok_since_ms
    if now_ms - ok_since >= clear_after_ms:
        return replace(state, active=False, cleared_ms=now_ms, ok_since_ms=None), "cleared"
    return replace(state, ok_since_ms=ok_since), None
