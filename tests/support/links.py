"""Kiosk link settings for tests: quick reconnects, no idle polling, no early heartbeats."""

from __future__ import annotations

from typing import Any

from device.link import LinkSettings


def fast_link_settings(port: int, **overrides: Any) -> LinkSettings:
    """Link settings to a broker on 127.0.0.1:``port`` (``username``/``password`` and any
    other field as ``overrides``): quick reconnects, no idle polling (only notify wakes it)."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "keepalive_s": 5,
        "heartbeat_interval_s": 3600,
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.5,
        "online_grace_s": 0.3,
        "sync_min_interval_s": 0.5,
        "idle_poll_s": 3600,
        "resend_after_s": 30,
    }
    values.update(overrides)
    return LinkSettings(**values)
