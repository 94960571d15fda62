"""Settings of outbound webhook delivery, nested in the coordinator's as ``webhooks``
(TOML: ``[coordinator.webhooks]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WebhookSettings(BaseModel):
    """How the coordinator delivers webhooks: cadence, timeouts, retries, target rules."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Run the webhook delivery loop on this replica.")
    poll_interval_s: float = Field(
        1.0, ge=0.01, le=60, description="How often the delivery loop looks for due deliveries."
    )
    batch_size: int = Field(
        50, ge=1, le=1000, description="Deliveries one replica takes (locks) at a time."
    )
    parallel_endpoints: int = Field(
        4,
        ge=1,
        le=32,
        description="Endpoints sent to side by side (a slow one holds up only its own).",
    )
    connect_timeout_s: float = Field(
        3.0, gt=0, le=60, description="Time to connect to an endpoint before the attempt fails."
    )
    timeout_s: float = Field(
        10.0, gt=0, le=120, description="Time for the whole answer before the attempt fails."
    )
    max_response_bytes: int = Field(
        4096, ge=0, le=1_048_576, description="Bytes of an answer read (the rest is cut)."
    )
    retry_min_s: float = Field(
        5.0, gt=0, le=3600, description="First retry delay (doubles, with jitter, per failure)."
    )
    retry_max_s: float = Field(
        36_000.0, gt=0, le=86_400, description="Longest delay between two retries (10 h)."
    )
    disable_after_failing_s: int = Field(
        5 * 86_400,
        ge=60,
        le=60 * 86_400,
        description="An endpoint failing every attempt for this long is disabled.",
    )
    allow_private_targets: bool | None = Field(
        None,
        description=(
            "Allow URLs on private, loopback and link-local addresses (SSRF guard off); "
            "None: only in dev_mode."
        ),
    )
