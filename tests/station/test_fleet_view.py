"""Stations under their kiosk in the fleet view: the coordinator reads them from the stored
heartbeat (decoded with the shared codec) into the view the dashboard renders."""

from __future__ import annotations

from coordinator.fleet.fleet_view import FleetContext, KioskRow, kiosk_view
from shared.protocol import Heartbeat, StationStatus, decode, encode


def test_the_fleet_view_lists_each_station_of_a_kiosk() -> None:
    beat = Heartbeat(
        kiosk_id="k1",
        store_id="s1",
        sent_wall_ms=1_000,
        hlc_ms=1_000,
        stations={
            "st-studio-a": StationStatus(
                room="studio-a",
                last_seen_ms=900,
                fw="0.1.0",
                reader="ok",
                buffered=2,
                taps_accepted=5,
                taps_refused=1,
                refused_requests=3,
                errors={"kiosk": 4},
            )
        },
    )
    stored = decode(encode(beat))  # what the coordinator's ingest stores is the shared codec's
    assert isinstance(stored, Heartbeat)
    row = KioskRow(
        kiosk_id="k1",
        name="k1",
        store_id="s1",
        store_name="Studio",
        timezone="Asia/Shanghai",
        revoked=False,
        created_ms=0,
        applied_seq=0,
        heartbeat=stored.model_dump_json(),
        heartbeat_received_ms=1_000,
        heartbeat_interval_s=10,
    )
    view = kiosk_view(row, FleetContext(), now_ms=2_000)
    assert view["stations"] == {
        "st-studio-a": {
            "room": "studio-a",
            "last_seen_ms": 900,
            "fw": "0.1.0",
            "reader": "ok",
            "buffered": 2,
            "dropped": 0,
            "taps_accepted": 5,
            "taps_refused": 1,
            "refused_requests": 3,
            "errors": {"kiosk": 4},
        }
    }


def test_a_kiosk_without_stations_shows_none() -> None:
    row = KioskRow("k2", "k2", "s1", "Gym", "Asia/Shanghai", False, 0, 0)
    assert kiosk_view(row, FleetContext(), now_ms=0)["stations"] == {}
