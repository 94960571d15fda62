"""Each door station's health as the kiosk sees it, for the heartbeat and the staff page."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from shared.protocol import StationStatus
from shared.station_wire import HelloRequest


class StationBook:
    """Thread-safe record of what each enrolled station reported and how it was answered."""

    def __init__(self, stations: Iterable[tuple[str, str | None]]) -> None:
        self._lock = threading.Lock()
        self._status: dict[str, StationStatus] = {
            station_id: StationStatus(room=room) for station_id, room in stations
        }
        self.unknown_requests = 0
        """Requests naming no enrolled station (or no station at all)."""

    def _update(self, station_id: str, **changes: object) -> None:
        current = self._status.get(station_id)
        if current is not None:
            self._status[station_id] = current.model_copy(update=changes)

    def heard(self, station_id: str, now_ms: int, fw: str) -> None:
        """A valid request came from the station."""
        with self._lock:
            self._update(station_id, last_seen_ms=now_ms, fw=fw)

    def hello(self, request: HelloRequest, now_ms: int) -> None:
        """The station's own health report."""
        with self._lock:
            self._update(
                request.station_id,
                last_seen_ms=now_ms,
                fw=request.fw,
                uptime_s=request.uptime_s,
                buffered=request.buffered,
                dropped=request.dropped,
                reader=request.reader,
                errors=dict(request.errors),
            )

    def tap(self, station_id: str, accepted: bool) -> None:
        """One tap decided for the station."""
        with self._lock:
            current = self._status.get(station_id)
            if current is None:
                return
            if accepted:
                self._update(station_id, taps_accepted=current.taps_accepted + 1)
            else:
                self._update(station_id, taps_refused=current.taps_refused + 1)

    def refused(self, station_id: str | None) -> None:
        """A request was refused (bad MAC, replayed, malformed, unknown station)."""
        with self._lock:
            current = self._status.get(station_id) if station_id else None
            if current is None:
                self.unknown_requests += 1
                return
            self._update(station_id or "", refused_requests=current.refused_requests + 1)

    def status(self) -> dict[str, StationStatus]:
        """Every enrolled station's status, by id."""
        with self._lock:
            return dict(self._status)
