"""The live fleet of one coordinator: the monitor thread and the snapshot hub it feeds.

:class:`LiveFleet` is built by the runtime (when the dashboard is enabled) and started by
the app's lifespan, which owns the event loop live pages wait on. Nothing runs or connects
at import time.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from coordinator.clock import Clock
from coordinator.db import Database
from coordinator.fleet import fleet_view
from coordinator.fleet.hub import SnapshotHub
from coordinator.fleet.monitor import FleetMonitor
from coordinator.fleet.settings import DashboardSettings


class LiveFleet:
    """The fleet monitor and its snapshot hub."""

    def __init__(self, db: Database, settings: DashboardSettings, clock: Clock):
        self.db = db
        self.clock = clock
        self.settings = settings
        self.hub = SnapshotHub()
        self.monitor = FleetMonitor(db, settings, self.hub, clock.wall_ms)
        self._tick_lock = threading.Lock()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind the hub to the loop serving live pages and start the monitor thread."""
        self.hub.bind(loop)
        self.monitor.start()

    def stop(self) -> None:
        """Stop the monitor (before the coordinator closes the database)."""
        self.monitor.stop()
        self.hub.unbind()

    def kiosk_view(self, kiosk_id: str) -> dict[str, Any] | None:
        """One kiosk's facts read now (not from the last snapshot), or None if unknown."""
        now = self.clock.wall_ms()
        with self.db.read() as conn:
            rows = fleet_view.load_rows(conn, kiosk_id=kiosk_id)
            if not rows:
                return None
            ctx = fleet_view.load_context(conn, self.monitor.marks)
        return fleet_view.kiosk_view(rows[0], ctx, now)

    def snapshot(self) -> dict[str, Any]:
        """The newest fleet snapshot; one is taken now if the monitor has not run yet."""
        latest = self.hub.latest()
        if latest is not None:
            return latest
        with self._tick_lock:
            return self.hub.latest() or self.monitor.tick()
