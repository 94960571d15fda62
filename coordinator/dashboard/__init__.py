"""The ops dashboard and the store-owner reports, served by the coordinator.

:func:`install` adds the pages (``/dashboard/...``), their JSON routes
(``/api/v1/fleet/...``, ``/api/v1/reports/...``), the static assets and the fleet
collector on ``/metrics`` to a coordinator app, and returns the :class:`Dashboard` whose
``start``/``stop`` the app's lifespan calls. Nothing runs or connects at import time.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from coordinator.runtime import Coordinator


class Dashboard:
    """The fleet monitor, its snapshot hub and the report builder of one coordinator."""

    def __init__(self, coord: Coordinator):
        from coordinator.fleet.hub import SnapshotHub
        from coordinator.fleet.monitor import FleetMonitor
        from coordinator.reports.service import Reports

        self.coord = coord
        self.settings = coord.settings.dashboard
        self.hub = SnapshotHub()
        self.monitor = FleetMonitor(coord.db, self.settings, self.hub, coord.clock.wall_ms)
        self.reports = Reports(coord.db, coord.clock.wall_ms, self.settings.report_cache_s)
        self._tick_lock = threading.Lock()

    def start(self) -> None:
        """Bind the hub to the running loop and start the monitor (from the app's lifespan)."""
        self.hub.bind(asyncio.get_running_loop())
        self.monitor.start()

    def stop(self) -> None:
        """Stop the monitor (before the coordinator closes the database)."""
        self.monitor.stop()
        self.hub.unbind()

    def kiosk_view(self, kiosk_id: str) -> dict[str, Any] | None:
        """One kiosk's facts read now (not from the last snapshot), or None if unknown."""
        from coordinator.fleet import fleet_view as fleet

        now = self.coord.clock.wall_ms()
        with self.coord.db.read() as conn:
            rows = fleet.load_rows(conn, kiosk_id=kiosk_id)
            if not rows:
                return None
            ctx = fleet.load_context(conn, self.monitor.marks)
        return fleet.kiosk_view(rows[0], ctx, now)

    def snapshot(self) -> dict[str, Any]:
        """The newest fleet snapshot; one is taken now if the monitor has not run yet."""
        latest = self.hub.latest()
        if latest is not None:
            return latest
        with self._tick_lock:
            return self.hub.latest() or self.monitor.tick()


def install(app: FastAPI, coord: Coordinator) -> Dashboard | None:
    """Add the dashboard to ``app``; None when ``dashboard.enabled`` is off."""
    if not coord.settings.dashboard.enabled:
        return None
    from coordinator.api import fleet as fleet_api
    from coordinator.api import reports as reports_api
    from coordinator.dashboard import pages
    from coordinator.fleet.prom import FleetCollector

    dashboard = Dashboard(coord)
    app.state.dashboard = dashboard
    app.include_router(fleet_api.router)
    app.include_router(reports_api.router)
    pages.mount(app)
    coord.metrics.registry.register(FleetCollector(dashboard.hub.latest))
    return dashboard
