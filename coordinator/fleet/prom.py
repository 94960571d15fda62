"""Fleet facts and alerts on ``/metrics``: a Prometheus collector over the monitor's snapshot.

A custom collector (not gauges set by the loop) so a kiosk that is removed disappears from
the exposition instead of lingering with stale labels. Alert series are exported for every
kiosk and alert kind (0 or 1), so alerting rules can be written as ``== 1``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from coordinator.fleet.alerts import AlertKind

PREFIX = "tapfleet_"


class FleetCollector(Collector):
    """Exports the newest fleet snapshot (``snapshot()`` returns it, or None before the first)."""

    def __init__(self, snapshot: Callable[[], dict[str, Any] | None]):
        self._snapshot = snapshot

    def describe(self) -> list[Any]:
        """No fixed description: series depend on the fleet."""
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One family per fact and one for the alerts."""
        snap = self._snapshot()
        if snap is None:
            return
        kiosks = [k for k in snap["kiosks"] if not k["revoked"]]
        labels = ["kiosk", "store"]

        def family(name: str, doc: str, value: Callable[[dict[str, Any]], float | None]) -> Any:
            fam = GaugeMetricFamily(PREFIX + name, doc, labels=labels)
            for k in kiosks:
                v = value(k)
                if v is not None:
                    fam.add_metric([k["kiosk_id"], k["store_id"]], float(v))
            return fam

        yield family("kiosk_alive", "1 while heartbeats arrive within 1.5x their interval",
                     lambda k: k["alive"])  # fmt: skip
        yield family("kiosk_connected", "1 while the retained status says online",
                     lambda k: k["connected"])  # fmt: skip
        yield family("kiosk_in_sync", "1 when all events are applied and versions are current",
                     lambda k: k["in_sync"])  # fmt: skip
        yield family("kiosk_outbox_depth", "Events the kiosk has not had acknowledged",
                     lambda k: k["outbox_depth"])  # fmt: skip
        yield family("kiosk_oldest_unacked_age_seconds", "Age of the oldest unacknowledged event",
                     lambda k: k["oldest_unacked_age_s"])  # fmt: skip
        yield family("kiosk_clock_offset_seconds", "Kiosk clock minus the coordinator's",
                     lambda k: _seconds(k["clock_offset_ms"]))  # fmt: skip
        yield family("kiosk_last_good_tap_timestamp_seconds", "Time of the newest accepted tap",
                     lambda k: _seconds(k["last_good_tap_ms"]))  # fmt: skip
        yield family("kiosk_connection_drops", "Connection drops within the flap window",
                     lambda k: k.get("drops", 0))  # fmt: skip

        lag = GaugeMetricFamily(
            PREFIX + "kiosk_version_lag",
            "Current version minus the version the kiosk applied",
            labels=[*labels, "name"],
        )
        readers = GaugeMetricFamily(
            PREFIX + "kiosk_reader_ok", "1 while the reader reports ok", labels=[*labels, "reader"]
        )
        for k in kiosks:
            for name, v in k["versions"].items():
                if v["applied"] is not None:
                    lag.add_metric(
                        [k["kiosk_id"], k["store_id"], name], v["current"] - v["applied"]
                    )
            for name, r in k["readers"].items():
                readers.add_metric([k["kiosk_id"], k["store_id"], name], r["state"] == "ok")
        yield lag
        yield readers

        active = {(a["kiosk_id"], a["kind"]) for a in snap["alerts"]}
        alert = GaugeMetricFamily(
            PREFIX + "fleet_alert",
            "1 while the alert is active for the kiosk (hysteresis applied)",
            labels=[*labels, "alert"],
        )
        totals = GaugeMetricFamily(
            PREFIX + "fleet_alerts_active", "Active alerts by kind", labels=["alert"]
        )
        for kind in AlertKind:
            n = 0
            for k in kiosks:
                on = (k["kiosk_id"], kind.value) in active
                n += on
                alert.add_metric([k["kiosk_id"], k["store_id"], kind.value], float(on))
            totals.add_metric([kind.value], float(n))
        yield alert
        yield totals


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000
