"""The coordinator's one settings object.

Precedence, highest first (the same rule as the kiosk's, :mod:`shared.settings_sources`):
command-line flags, then ``TAPFLEET_COORD_*`` environment variables (nested fields with
``__``, e.g. ``TAPFLEET_COORD_DASHBOARD__OFFLINE_ALERT_AFTER_S``), then the TOML file
(``--config``; its fields at the top level or under ``[coordinator]``), then the defaults
below. Unknown keys are refused. Nothing reads the environment at import time:
:func:`load_settings` does it when asked. Secrets are ``SecretStr``: ``repr(settings)`` and
logs never show them; code that needs one calls ``.get_secret_value()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from coordinator.errors import CoordinatorError
from coordinator.fleet.settings import DashboardSettings
from coordinator.outbound.settings import WebhookSettings
from shared.password_hash import ScryptCost
from shared.settings_sources import (
    ConfigFileError,
    LayeredSettings,
    describe_problems,
    read_config_file,
)

ENV_PREFIX = "TAPFLEET_COORD_"

DEV_SECRET_KEY = "dev-only-secret-key-change-me"
DEV_ADMIN_PASSWORD = "admin"


class SettingsError(CoordinatorError):
    """The coordinator's configuration is missing, unreadable or invalid."""

    code = "settings_error"


class CoordinatorSettings(LayeredSettings):
    """Everything the coordinator needs to run; defaults suit a developer's machine."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )

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
    mqtt_password: SecretStr | None = Field(None, description="Password of ``mqtt_username``.")
    mqtt_ca_file: Path | None = Field(
        None,
        description="CA bundle that signed the broker's certificate; setting it turns TLS on.",
    )
    mqtt_cert_file: Path | None = Field(
        None, description="Client certificate (PEM) for mutual TLS; needs mqtt_key_file."
    )
    mqtt_key_file: Path | None = Field(None, description="Private key (PEM) of mqtt_cert_file.")
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
    secret_key: SecretStr = Field(
        SecretStr(DEV_SECRET_KEY),
        min_length=16,
        description=(
            "Key that signs API bearer tokens and member page links. "
            "Must be changed outside dev mode."
        ),
    )
    admin_username: str = Field(
        "admin", description="HQ admin created on first start when no user exists."
    )
    admin_password: SecretStr = Field(
        SecretStr(DEV_ADMIN_PASSWORD),
        description="Password of the first HQ admin. Must be changed outside dev mode.",
    )
    password_hash: ScryptCost = Field(
        default_factory=ScryptCost,
        description=(
            "scrypt cost of ops users' password hashes (shared.password_hash; default: "
            "N=2**14, r=8, p=5, 16 MiB and ~0.2 s per login). A stored hash in an older "
            "format or at a lower cost is rewritten at this cost on the user's next login."
        ),
    )
    token_ttl_s: int = Field(8 * 3600, ge=60, description="Lifetime of an API bearer token.")
    member_push_interval_ms: int = Field(
        200,
        ge=10,
        le=60_000,
        description="Member changes are coalesced for this long into one delta per store.",
    )
    member_push_max_interval_ms: int = Field(
        1000,
        ge=10,
        le=60_000,
        description=(
            "While ingest has messages waiting, member changes are coalesced for up to this "
            "long (never less than member_push_interval_ms)."
        ),
    )
    catchup_delta_max_members: int = Field(
        2000,
        ge=0,
        description=(
            "A syncing kiosk at most this many changed members behind gets a delta, "
            "else a full snapshot."
        ),
    )
    fold_checkpoints_max: int = Field(
        50_000,
        ge=0,
        le=10_000_000,
        description=(
            "Fold states kept in memory so a late kiosk's events recompute members from just "
            "before them, not from their first event (0: always from the first event)."
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
    backup_dir: Path | None = Field(
        None,
        description=(
            "Folder of the scheduled online backups of a SQLite database (None: none taken; "
            "PostgreSQL: use pg_dump or base backups, docs/reliability.md)."
        ),
    )
    backup_interval_s: int = Field(
        6 * 3600,
        ge=60,
        description="How often a backup is taken and verified (with backup_dir).",
    )
    backup_keep: int = Field(
        14, ge=1, description="Verified backups kept in backup_dir; older ones are deleted."
    )
    qr_key_rotation_overlap_s: int = Field(
        3600,
        ge=0,
        description=(
            "After the switch to a new QR key the old key is still honoured this long for "
            "codes it signed (its not_after_ms = switch + overlap); at least a token lifetime."
        ),
    )
    qr_key_announce_s: int = Field(
        3 * 86_400,
        ge=0,
        description=(
            "A rotated-in QR key is published in the rule bundles this long before it starts "
            "signing, so kiosks that are offline for up to this long learn it in time."
        ),
    )
    qr_key_secret: SecretStr | None = Field(
        None,
        description=(
            "Key (16+ characters) that encrypts the QR signing keys in the database; "
            "None derives one from secret_key. Prefer qr_key_secret_file."
        ),
    )
    qr_key_secret_file: Path | None = Field(
        None,
        description="File holding qr_key_secret (first line), e.g. a systemd credential.",
    )
    broker_dir: Path | None = Field(
        None,
        description=(
            "Directory of the broker files written by `tapfleet broker-config` (passwords, "
            "acl, coordinator-users). When set, the coordinator rewrites passwords and acl "
            "after every kiosk enrollment, provisioning and revocation and makes Mosquitto "
            "reload them (SIGHUP to broker_pid_file)."
        ),
    )
    broker_pid_file: Path | None = Field(
        None, description="Mosquitto's pid file; default: mosquitto.pid in broker_dir."
    )
    kiosk_mqtt_host: str | None = Field(
        None,
        description="Broker host name kiosks are told at enrollment (default: mqtt_host).",
    )
    kiosk_mqtt_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Broker port kiosks are told at enrollment (default: mqtt_port).",
    )
    kiosk_mqtt_ca_file: Path | None = Field(
        None,
        description=(
            "CA certificate (PEM) kiosks need to verify the broker's TLS certificate; handed "
            "to a kiosk at enrollment, which then connects with TLS."
        ),
    )
    enrollment_code_ttl_s: int = Field(
        900,
        ge=60,
        le=7 * 86_400,
        description="Default lifetime of a one-time kiosk enrollment code.",
    )
    login_max_failures: int = Field(
        5,
        ge=1,
        le=1000,
        description="Failed logins per user and client address within login_window_s before 429.",
    )
    login_max_failures_per_address: int = Field(
        50,
        ge=1,
        le=100_000,
        description=(
            "Failed logins (any user) or enrollment attempts from one client address within "
            "login_window_s before 429."
        ),
    )
    login_window_s: int = Field(
        300, ge=1, le=86_400, description="Window of the login and enrollment failure limits."
    )
    metrics_token: SecretStr | None = Field(
        None,
        description=(
            "Bearer token Prometheus must send for /metrics; None leaves /metrics open "
            "(only for a scrape network nobody else reaches)."
        ),
    )
    http_host: str = Field("127.0.0.1", description="Address the HTTP API listens on (CLI only).")
    http_port: int = Field(8080, ge=0, le=65535, description="Port of the HTTP API (CLI only).")
    forwarded_allow_ips: str | None = Field(
        None,
        max_length=1000,
        description=(
            "Comma-separated addresses of the load balancers whose X-Forwarded-For and "
            "X-Forwarded-Proto are trusted (uvicorn's forwarded_allow_ips; CLI only). None: "
            "the client address is the TCP peer, which behind a proxy is the proxy itself, "
            "so every client would share one login limit."
        ),
    )
    log_level: str = Field(
        "INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$", description="Log level of the service."
    )
    dashboard: DashboardSettings = Field(
        default_factory=DashboardSettings,
        description="Ops dashboard: fleet monitor cadence, alert thresholds, page sessions.",
    )
    webhooks: WebhookSettings = Field(
        default_factory=WebhookSettings,
        description="Outbound webhooks: delivery cadence, timeouts, retries, SSRF guard.",
    )

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> CoordinatorSettings:
        if self.dev_mode:
            return self
        if self.secret_key.get_secret_value() == DEV_SECRET_KEY:
            raise ValueError(
                "secret_key is the built-in development key; set TAPFLEET_COORD_SECRET_KEY "
                "(or secret_key in the config file) to a long random value, or enable dev_mode"
            )
        if self.admin_password.get_secret_value() == DEV_ADMIN_PASSWORD:
            raise ValueError(
                "admin_password is the built-in development password; set "
                "TAPFLEET_COORD_ADMIN_PASSWORD, or enable dev_mode"
            )
        if self.mqtt_password is not None and len(self.mqtt_password.get_secret_value()) < 8:
            raise ValueError("mqtt_password is shorter than 8 characters")
        return self

    @model_validator(mode="after")
    def _check_tls_and_keys(self) -> CoordinatorSettings:
        if (self.mqtt_cert_file is None) != (self.mqtt_key_file is None):
            raise ValueError("mqtt_cert_file and mqtt_key_file go together: set both, or none")
        if self.mqtt_cert_file is not None and self.mqtt_ca_file is None:
            raise ValueError("mutual TLS needs mqtt_ca_file (the CA of the broker certificate)")
        if self.qr_key_secret is not None and self.qr_key_secret_file is not None:
            raise ValueError("set qr_key_secret or qr_key_secret_file, not both")
        if self.qr_key_secret is not None and len(self.qr_key_secret.get_secret_value()) < 16:
            raise ValueError("qr_key_secret is shorter than 16 characters")
        return self


def load_settings(config_file: Path | None = None, **overrides: Any) -> CoordinatorSettings:
    """Settings from ``overrides`` (flags), the environment, ``config_file`` (TOML), defaults.

    ``None`` overrides are ignored (a flag not given). Raises SettingsError with every
    problem on one line, each naming its field.
    """
    values: dict[str, Any] = {}
    where = f" in {config_file}" if config_file is not None else ""
    try:
        if config_file is not None:
            data = read_config_file(config_file)
            values = data.get("coordinator", data)
        given = {k: v for k, v in overrides.items() if v is not None}
        return CoordinatorSettings.load(values, given)
    except ConfigFileError as exc:
        raise SettingsError(str(exc)) from exc
    except ValidationError as exc:
        problems = describe_problems(exc, ENV_PREFIX)
        raise SettingsError(f"invalid coordinator settings{where}: {problems}") from exc
    except SourceError as exc:
        raise SettingsError(f"invalid coordinator settings from the environment: {exc}") from exc
