"""The coordinator's one settings object.

Read from ``TAPFLEET_COORD_*`` environment variables, a TOML file (``--config``) and
command-line overrides, in that order of increasing priority. Nothing reads the
environment at import time: :func:`load_settings` does it when asked.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from coordinator.dashboard.settings import DashboardSettings

DEV_SECRET_KEY = "dev-only-secret-key-change-me"
DEV_ADMIN_PASSWORD = "admin"


class CoordinatorSettings(BaseSettings):
    """Everything the coordinator needs to run; defaults suit a developer's machine."""

    model_config = SettingsConfigDict(env_prefix="TAPFLEET_COORD_", extra="forbid")

    dev_mode: bool = Field(
        False,
        description="Developer mode: allows the built-in default secrets. Never in production.",
    )
    database_url: str = Field(
        "sqlite:///var/coordinator.db",
        description=(
            "SQLAlchemy URL of the central ledger "
            "(sqlite:///path or postgresql+psycopg://user@host/db)."
        ),
    )
    database_schema: str | None = Field(
        None,
        description="PostgreSQL schema to use (search_path); None keeps the server default.",
    )
    mqtt_host: str = Field("127.0.0.1", description="Mosquitto host name or address.")
    mqtt_port: int = Field(1883, ge=1, le=65535, description="Mosquitto TCP port.")
    mqtt_username: str | None = Field(
        None, description="Broker user of the coordinator (None when the broker allows anonymous)."
    )
    mqtt_password: str | None = Field(None, description="Password of ``mqtt_username``.")
    mqtt_client_id: str = Field(
        "tapfleet-coordinator-1",
        pattern=r"^[A-Za-z0-9_.\-]{1,64}$",
        description=(
            "Stable MQTT client id of this replica (its persistent session survives restarts)."
        ),
    )
    mqtt_share_group: str | None = Field(
        "coordinators",
        description=(
            "MQTT v5 shared-subscription group so replicas split ingest; None subscribes plainly."
        ),
    )
    mqtt_session_expiry_s: int = Field(
        7 * 86_400,
        ge=0,
        description=(
            "How long the broker keeps this replica's session (and its queued QoS 1 messages) "
            "while the replica is down."
        ),
    )
    mqtt_receive_maximum: int = Field(
        1000,
        ge=1,
        le=65_535,
        description=(
            "Unacknowledged QoS 1 messages the broker may have in flight to us (back-pressure)."
        ),
    )
    mqtt_keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive interval.")
    mqtt_enabled: bool = Field(
        True, description="Connect to the broker at startup (False: API only, e.g. for tooling)."
    )
    secret_key: str = Field(
        DEV_SECRET_KEY,
        min_length=16,
        description=(
            "Key that signs API bearer tokens and member page links. "
            "Must be changed outside dev mode."
        ),
    )
    admin_username: str = Field(
        "admin", description="HQ admin created on first start when no user exists."
    )
    admin_password: str = Field(
        DEV_ADMIN_PASSWORD,
        description="Password of the first HQ admin. Must be changed outside dev mode.",
    )
    token_ttl_s: int = Field(8 * 3600, ge=60, description="Lifetime of an API bearer token.")
    member_push_interval_ms: int = Field(
        200,
        ge=10,
        le=60_000,
        description="Member changes are coalesced for this long into one delta per store.",
    )
    catchup_delta_max_members: int = Field(
        2000,
        ge=0,
        description=(
            "A syncing kiosk at most this many changed members behind gets a delta, "
            "else a full snapshot."
        ),
    )
    max_held_per_kiosk: int = Field(
        5000,
        ge=1,
        description="Out-of-order events held per kiosk while waiting for a gap to be resent.",
    )
    ingest_group_max_messages: int = Field(
        64,
        ge=1,
        le=10_000,
        description=(
            "Incoming MQTT messages committed together in one database transaction at most."
        ),
    )
    claim_ttl_s: int = Field(
        120,
        ge=5,
        description="A granted coupon claim lapses if its redemption event never arrives.",
    )
    housekeeping_interval_s: float = Field(
        30.0,
        gt=0,
        description="How often points expiry, tier review and claim expiry run.",
    )
    qr_key_rotation_overlap_s: int = Field(
        3600,
        ge=0,
        description="After a QR key rotation the old key is honoured this long (its not_after_ms).",
    )
    http_host: str = Field("127.0.0.1", description="Address the HTTP API listens on (CLI only).")
    http_port: int = Field(8080, ge=0, le=65535, description="Port of the HTTP API (CLI only).")
    log_level: str = Field(
        "INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$", description="Log level of the service."
    )
    dashboard: DashboardSettings = Field(
        default_factory=DashboardSettings,
        description="Ops dashboard: fleet monitor cadence, alert thresholds, page sessions.",
    )

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> CoordinatorSettings:
        if self.dev_mode:
            return self
        if self.secret_key == DEV_SECRET_KEY:
            raise ValueError(
                "secret_key is the built-in development key; set TAPFLEET_COORD_SECRET_KEY "
                "(or secret_key in the config file) to a long random value, or enable dev_mode"
            )
        if self.admin_password == DEV_ADMIN_PASSWORD:
            raise ValueError(
                "admin_password is the built-in development password; set "
                "TAPFLEET_COORD_ADMIN_PASSWORD, or enable dev_mode"
            )
        if self.mqtt_password is not None and len(self.mqtt_password) < 8:
            raise ValueError("mqtt_password is shorter than 8 characters")
        return self


def load_settings(config_file: Path | None = None, **overrides: Any) -> CoordinatorSettings:
    """Settings from the environment, then ``config_file`` (TOML), then ``overrides``.

    Unknown keys in the file are refused with the key named, like unknown overrides.
    """
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            with config_file.open("rb") as handle:
                data = tomllib.load(handle)
        except OSError as exc:
            raise ValueError(f"cannot read coordinator config {config_file}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"coordinator config {config_file} is not valid TOML: {exc}") from exc
        values.update(data.get("coordinator", data))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return CoordinatorSettings(**values)
