"""A tap through a door station reaches the coordinator with its station: the optional
``Event.station`` field travels through the shared codec and is stored with the event."""

from __future__ import annotations

from shared.events import CheckIn, StationRef
from simulators.waiting import poll_until
from tests.coordinator.harness import Harness


def test_the_coordinator_keeps_the_station_an_event_came_through(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_member("m1")
    kiosk = h.kiosk("k1", "s1")
    ref = StationRef(station_id="st-studio-a", tap_no=17, read_ms=kiosk.clock() - 90_000)
    with kiosk._cond:
        event = kiosk.record("m1", CheckIn(points=0))
        kiosk.journal[-1] = event.model_copy(update={"station": ref})
    plain = kiosk.record("m1", CheckIn(points=0))  # the kiosk's own reader: no station
    kiosk.flush()
    assert poll_until(lambda: h.applied_seq("k1") == plain.seq)
    stored = {e.seq: e for e in h.events(source="k1")}
    assert stored[event.seq].station == ref
    assert stored[plain.seq].station is None
