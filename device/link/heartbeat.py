"""Building the periodic health report from what the ledger and the kiosk app know."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from device.ports import OutboxStats
from shared import SOFTWARE_VERSION
from shared.hlc import HLC
from shared.protocol import Heartbeat, ReaderStatus, StationStatus, Versions


@dataclass(frozen=True)
class KioskHealth:
    """What the kiosk app knows beyond the ledger: reader health and tap outcomes.

    The kiosk app passes a callable returning one of these to the link; reader names are
    short lower-case words (``nfc``, ``camera``).
    """

    readers: Mapping[str, ReaderStatus] = field(default_factory=dict)
    last_good_tap_ms: int | None = None
    taps_accepted: int = 0
    taps_refused: int = 0
    stations: Mapping[str, StationStatus] = field(default_factory=dict)
    """The kiosk's door stations (see ``device.station_gate``)."""


def build_heartbeat(
    *,
    kiosk_id: str,
    store_id: str,
    now_ms: int,
    hlc: HLC,
    interval_s: int,
    uptime_s: int,
    stats: OutboxStats,
    versions: Versions,
    health: KioskHealth,
    disk_free_bytes: int | None,
    clock_offset_ms: int | None,
) -> Heartbeat:
    """The heartbeat for this instant; raises pydantic's ValidationError on impossible values."""
    return Heartbeat(
        kiosk_id=kiosk_id,
        store_id=store_id,
        sent_wall_ms=now_ms,
        hlc_ms=hlc.wall_ms,
        hlc_c=hlc.counter,
        interval_s=interval_s,
        uptime_s=uptime_s,
        software_version=SOFTWARE_VERSION,
        last_seq=stats.last_seq,
        acked_seq=stats.acked_seq,
        outbox_depth=stats.depth,
        oldest_unacked_age_s=stats.oldest_unacked_age_s,
        versions=versions,
        readers=dict(health.readers),
        last_good_tap_ms=health.last_good_tap_ms,
        disk_free_bytes=disk_free_bytes,
        clock_offset_ms=clock_offset_ms,
        taps_accepted=health.taps_accepted,
        taps_refused=health.taps_refused,
        stations=dict(health.stations),
    )
