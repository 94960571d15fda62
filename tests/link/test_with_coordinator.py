"""The real kiosk (KioskLedger + KioskLink) against the real coordinator, through Mosquitto."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from coordinator.app import create_app
from coordinator.settings import CoordinatorSettings
from device.link import KioskHealth, KioskLink
from shared import protocol as p
from shared.decide import Accepted
from simulators.broker import Broker
from simulators.waiting import poll_until
from tests.coordinator.harness import Harness
from tests.link.ledgers import RecordingLedger
from tests.support.links import fast_link_settings

CARD = "04A1B2C3D4E5F6"


def test_tap_reaches_the_coordinator_and_health_is_reported(
    broker: Broker, ledger: RecordingLedger, tmp_path: Path
) -> None:
    settings = CoordinatorSettings(
        dev_mode=True,
        database_url=f"sqlite:///{tmp_path / 'coordinator.db'}",
        mqtt_port=broker.port,
        mqtt_client_id=f"coord-{uuid.uuid4().hex[:8]}",
        member_push_interval_ms=30,
        housekeeping_interval_s=3600,
    )
    with TestClient(create_app(settings)) as client:
        h = Harness(client, broker)
        h.add_store("s1")
        h.add_kiosk("k1", "s1")
        h.add_member("m1")
        h.call("POST", "/api/v1/members/m1/cards", json={"uid": CARD}, expect=201)

        health = KioskHealth(readers={"nfc": p.ReaderStatus(state="ok")})
        link = KioskLink(
            fast_link_settings(broker.port, heartbeat_interval_s=1),
            ledger,
            health=lambda: health,
            disk_path=tmp_path,
        )
        link.start()
        try:
            # The coordinator answers the SyncRequest with rules, members and an Ack.
            assert link.wait_for(lambda s: s.online and s.last_ack_ms is not None, 15)
            assert poll_until(lambda: ledger.versions().members > 0 and ledger.versions().rules > 0)

            outcome = ledger.real.tap_card(CARD)
            assert isinstance(outcome.decision, Accepted), outcome
            link.notify_new_events()
            last = ledger.outbox_stats().last_seq
            assert link.wait_for(lambda s: s.acked_seq == last, 15), link.state()
            assert ledger.acked_seq == last
            assert h.applied_seq("k1") == last
            assert [e.event_id for e in h.events(source="k1")][-1] == outcome.events[-1].event_id

            def reported() -> bool:
                kiosk = h.call("GET", "/api/v1/kiosks/k1", expect=200)
                beat = kiosk["evidence"]["heartbeat"] or {}
                return bool(kiosk["connected"] and beat.get("acked_seq") == last)

            assert poll_until(reported)
            kiosk = h.call("GET", "/api/v1/kiosks/k1", expect=200)
            assert (
                kiosk["alive"] and kiosk["evidence"]["heartbeat"]["readers"]["nfc"]["state"] == "ok"
            )
        finally:
            link.stop()
        assert poll_until(lambda: not h.call("GET", "/api/v1/kiosks/k1", expect=200)["connected"])
