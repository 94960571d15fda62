"""Settings of the ops dashboard: the live fleet monitor, alert thresholds and page sessions.

A plain pydantic model nested in :class:`~coordinator.settings.CoordinatorSettings` as
``dashboard`` (TOML: ``[coordinator.dashboard]``), so it is read, validated and documented
with the rest of the coordinator's settings. Unknown keys are refused.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DashboardSettings(BaseModel):
    """Fleet monitor cadence, alert thresholds, page sessions and report caching."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Serve the dashboard pages and run the fleet monitor.")
    monitor_interval_s: float = Field(
        1.0,
        ge=0.05,
        le=60,
        description=(
            "How often the fleet monitor re-reads kiosk facts, records status changes and "
            "evaluates alerts (also the live view's update cadence)."
        ),
    )
    sync_grace_s: int = Field(
        60,
        ge=0,
        description=(
            "A kiosk out of sync for less than this is not a problem and not a timeline entry "
            "(every member push leaves kiosks one version behind until their next heartbeat); "
            "keep it above the kiosks' heartbeat interval."
        ),
    )
    offline_alert_after_s: int = Field(
        300,
        ge=0,
        description="Alert when a kiosk has been disconnected or silent (dead) this long.",
    )
    sync_lag_alert_s: int = Field(
        600,
        ge=1,
        description="Alert when a kiosk's oldest unacknowledged event is older than this.",
    )
    version_apply_alert_s: int = Field(
        900,
        ge=1,
        description=(
            "Alert when a kiosk still runs an older rule, deny-list or members version this "
            "long after the newer one was published."
        ),
    )
    reader_alert_after_s: int = Field(
        60,
        ge=0,
        description="Alert when a card reader or camera has not been ok for this long.",
    )
    clock_skew_alert_ms: int = Field(
        30_000,
        ge=1,
        description="Alert when a kiosk's clock is further than this from the coordinator's.",
    )
    rejection_window_s: int = Field(
        3600, ge=60, description="Window over which a kiosk's rejection rate is measured."
    )
    rejection_baseline_s: int = Field(
        7 * 86_400,
        ge=3600,
        description="Period before the window that gives the kiosk's usual rejection rate.",
    )
    rejection_rate_factor: float = Field(
        2.0,
        ge=1.0,
        description=(
            "Alert when the window's rejection rate exceeds the baseline rate this many times."
        ),
    )
    rejection_min_rate: float = Field(
        0.1,
        ge=0,
        le=1,
        description="...and exceeds this share of taps (a floor for kiosks with a clean baseline).",
    )
    rejection_min_count: int = Field(
        10, ge=1, description="...and at least this many taps were refused in the window."
    )
    rejection_refresh_s: float = Field(
        30.0, gt=0, description="How often the rejection rates are recounted from the ledger."
    )
    alert_clear_after_s: int = Field(
        60,
        ge=0,
        description=(
            "Hysteresis: an alert clears only after its condition has stayed false this long "
            "(a flapping condition keeps one alert instead of many)."
        ),
    )
    flap_window_s: int = Field(
        600, ge=10, description="Window in which connection drops are counted as flapping."
    )
    flap_threshold: int = Field(
        3,
        ge=2,
        description="Connection drops within the flap window that raise one 'flapping' alert.",
    )
    timeline_retention_days: int = Field(
        90, ge=1, description="Kiosk status changes older than this are pruned."
    )
    session_ttl_s: int = Field(
        12 * 3600, ge=60, description="Lifetime of a dashboard login (session cookie)."
    )
    cookie_secure: bool = Field(
        True,
        description=(
            "Mark the session cookie Secure (sent over HTTPS only; browsers also accept it "
            "on http://localhost). Turn off only behind a trusted plain-HTTP hop."
        ),
    )
    report_cache_s: float = Field(
        60.0, ge=0, description="Reports are cached this long per store, period and language."
    )
