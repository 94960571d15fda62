"""Prometheus metrics of one coordinator (its own registry: several apps can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Every metric the coordinator exports at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.messages = Counter(
            "tapfleet_ingest_messages",
            "MQTT messages received, by channel",
            ["channel"],
            registry=r,
        )
        self.rejected = Counter(
            "tapfleet_ingest_rejected",
            "Messages or events refused, by reason and kiosk (_unknown when unregistered)",
            ["reason", "kiosk"],
            registry=r,
        )
        self.events_applied = Counter(
            "tapfleet_events_applied", "Kiosk events applied to the ledger", registry=r
        )
        self.events_duplicate = Counter(
            "tapfleet_events_duplicate", "Kiosk events received again (no-ops)", registry=r
        )
        self.events_held = Counter(
            "tapfleet_events_held", "Kiosk events held back behind a gap", registry=r
        )
        self.members_recomputed = Counter(
            "tapfleet_members_recomputed",
            "Members refolded from all events because a late event sorted earlier",
            registry=r,
        )
        self.conflicts = Counter(
            "tapfleet_conflicts_raised", "Conflicts recorded for ops", registry=r
        )
        self.self_service = Counter(
            "tapfleet_member_self_service",
            "Member self sign-up and self-access requests, by step and outcome",
            ["step", "outcome"],
            registry=r,
        )
        self.member_pushes = Counter(
            "tapfleet_member_pushes", "Member delta cycles published", registry=r
        )
        self.published = Counter(
            "tapfleet_mqtt_published", "Messages published, by type", ["type"], registry=r
        )
        self.queue_depth = Gauge(
            "tapfleet_ingest_queue_depth", "Messages received but not yet processed", registry=r
        )
        self.mqtt_connected = Gauge(
            "tapfleet_mqtt_connected", "1 while connected to the broker", registry=r
        )
        self.group_seconds = Histogram(
            "tapfleet_ingest_group_seconds",
            "Time to process and commit one group of messages",
            registry=r,
        )
