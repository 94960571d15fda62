"""Settings of the kiosk's MQTT link: broker address, credentials, TLS and flow control."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from shared.protocol import MAX_BATCH_EVENTS


class LinkSettings(BaseModel):
    """How the kiosk reaches the broker and how hard it may push its outbox.

    Embedded in the kiosk's settings; every field has a safe default for a kiosk on the
    store LAN except ``host`` and the credentials, which provisioning fills in.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", min_length=1, description="Broker host name or IP address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker TCP port (8883 is usual for TLS).")
    username: str | None = Field(
        None,
        min_length=1,
        description="Per-kiosk MQTT user name (the broker ACL limits it to its own topics).",
    )
    password: SecretStr | None = Field(None, description="Per-kiosk MQTT password.")
    ca_file: Path | None = Field(
        None, description="CA bundle that signed the broker's certificate; setting it turns TLS on."
    )
    cert_file: Path | None = Field(
        None, description="Client certificate (PEM) for mutual TLS; needs key_file and ca_file."
    )
    key_file: Path | None = Field(None, description="Private key (PEM) of cert_file.")
    keepalive_s: int = Field(
        30,
        ge=5,
        le=3600,
        description="MQTT keepalive; the broker publishes the last will about 1.5x this after "
        "the kiosk vanishes without closing its socket.",
    )
    session_expiry_s: int = Field(
        7 * 24 * 3600,
        ge=0,
        le=0xFFFFFFFE,
        description="How long the broker keeps the kiosk's session (subscriptions and queued "
        "QoS 1 downstream messages) while it is offline.",
    )
    heartbeat_interval_s: int = Field(
        10, ge=1, le=3600, description="Seconds between heartbeats while connected."
    )
    window_events: int = Field(
        2000,
        ge=1,
        le=60_000,
        description="At most this many events sent but not yet acknowledged by the coordinator; "
        "keeps memory flat and paho far below its 65,535 in-flight limit.",
    )
    batch_events: int = Field(
        200,
        ge=1,
        le=MAX_BATCH_EVENTS,
        description="Events per EventBatch (also capped by the payload size limit).",
    )
    resend_after_s: float = Field(
        15.0,
        gt=0,
        le=3600,
        description="With events outstanding and no Ack progress for this long, rewind to the "
        "last acked seq and send again (doubles on every silent round, up to 32x).",
    )
    reconnect_min_s: float = Field(
        1.0, gt=0, le=60, description="First reconnect delay; it doubles on every failure."
    )
    reconnect_max_s: float = Field(
        60.0, gt=0, le=3600, description="Upper bound of the reconnect delay (before jitter)."
    )
    online_grace_s: float = Field(
        3.0,
        ge=0,
        le=600,
        description="After connecting, count as online once the coordinator answers, or after "
        "this long if it has nothing to say.",
    )
    sync_min_interval_s: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="At most one SyncRequest per this many seconds when deltas do not fit.",
    )
    idle_poll_s: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="Safety net: the drainer looks at the outbox this often even when nobody "
        "calls notify_new_events().",
    )
    prune_interval_s: float = Field(
        3600.0,
        gt=0,
        le=7 * 86_400,
        description="How often acknowledged journal rows are pruned (see the two below).",
    )
    journal_keep_after_backup_s: int = Field(
        86_400,
        ge=0,
        description="Margin: an acknowledged row is pruned only when it was acknowledged this "
        "long before the coordinator's last verified backup (a restore still finds it in the "
        "kiosk otherwise).",
    )
    journal_min_keep_s: int = Field(
        7 * 86_400,
        ge=0,
        description="Acknowledged rows younger than this are always kept (undo, recent "
        "events on the staff screen, class sign-ins read them).",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: set both for mutual TLS, or none")
        if self.cert_file is not None and self.ca_file is None:
            raise ValueError("mutual TLS needs ca_file as well (the CA of the broker certificate)")
        if self.password is not None and self.username is None:
            raise ValueError("password is set but username is not: set the kiosk's MQTT user name")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self

    @property
    def tls(self) -> bool:
        """True when the link talks TLS to the broker."""
        return self.ca_file is not None
