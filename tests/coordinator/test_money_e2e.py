"""Stored value end to end: a top-up through the API reaches a real kiosk (SQLite ledger +
MQTT link over a real Mosquitto) and a mini kiosk in another store; the real kiosk spends
offline while the other spends online; on reconnection the overdraw is recorded exactly
once, raised as a conflict with its story, resolved by HQ with an audited principal
adjustment, and both kiosks converge on the result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from device.ledger import KioskLedger
from device.link import KioskLink, LinkSettings
from device.ports import SystemClock
from shared.decide import Accepted
from simulators.waiting import poll_until
from tests.coordinator.harness import Harness


def _link(harness: Harness, ledger: KioskLedger) -> KioskLink:
    settings = LinkSettings(
        host=harness.broker.host,
        port=harness.broker.port,
        keepalive_s=5,
        heartbeat_interval_s=1,
        reconnect_min_s=0.05,
        reconnect_max_s=0.5,
        online_grace_s=0.3,
        sync_min_interval_s=0.3,
        resend_after_s=5,
    )
    link = KioskLink(settings, ledger)
    link.start()
    return link


@pytest.fixture
def real_ledger(harness: Harness, tmp_path: Path) -> Iterator[KioskLedger]:
    harness.add_store("s1", "Downtown")
    harness.add_store("s2", "Riverside")
    harness.add_kiosk("kA", "s1")
    ledger = KioskLedger.open(
        tmp_path / "kiosk" / "ledger.db", kiosk_id="kA", store_id="s1", clock=SystemClock()
    )
    try:
        yield ledger
    finally:
        ledger.close()


def test_an_offline_stored_value_overdraw_is_reconciled(
    harness: Harness, real_ledger: KioskLedger
) -> None:
    h, ledger = harness, real_ledger
    h.publish_rules()
    h.add_member("m1", name="李*华")
    h.call(
        "POST",
        "/api/v1/members/m1/stored-value/top-ups",
        json={"amount_fen": 10_000, "method": "wechat", "store_id": "s1"},
        expect=201,
    )
    h.call(
        "POST",
        "/api/v1/users",
        json={"username": "ops_anna", "password": "correct horse", "role": "hq_admin"},
        expect=201,
    )
    anna = h.login("ops_anna", "correct horse")
    link = _link(h, ledger)
    kb = h.kiosk("kB", "s2")
    try:
        assert poll_until(
            lambda: (s := ledger.member_summary("m1")) is not None and s.stored_value_fen == 10_000,
            timeout_s=20,
        )
        assert kb.wait_for(
            lambda: (
                (led := kb.ledger("m1")) is not None and led.stored_value.available_fen(0) == 10_000
            )
        )

        # The real kiosk loses the coordinator and charges ¥80 offline; store 2 charges ¥60
        # online on the same ¥100.
        link.stop(timeout_s=3)
        ledger.set_online(False)
        offline = ledger.spend_stored_value("m1", 8_000, purpose="personal training")
        assert offline.accepted, offline.decision
        assert offline.events[0].offline
        assert isinstance(kb.spend_stored_value("m1", 6_000), Accepted)
        assert kb.wait_settled()
        assert h.central("m1").stored_value.principal_fen == 4_000

        # Back online: the offline spend is delivered once and overdraws by ¥40.
        link = _link(h, ledger)
        last = ledger.outbox_stats().last_seq
        assert link.wait_for(lambda s: s.acked_seq >= last, timeout_s=20) is not None
        spends = [e for e in h.events(member_id="m1") if e.kind == "sv_spend"]
        assert sorted(e.kiosk_id for e in spends) == ["kA", "kB"]
        assert h.central("m1").stored_value.principal_fen == -4_000
        assert poll_until(lambda: len(h.conflicts(status="open")) == 1)
        (conflict,) = h.conflicts(status="open")
        assert conflict["kind"] == "stored_value_overdrawn" and conflict["amount"] == 4_000
        assert sorted(conflict["store_ids"]) == ["s1", "s2"]
        for needle in ("李*华", "Downtown (s1)", "Riverside (s2)", "kA", "offline", "8000 fen"):
            assert needle in conflict["explanation"], needle

        fixed = h.call(
            "POST",
            f"/api/v1/conflicts/{conflict['conflict_id']}/resolve",
            json={"note": "goodwill: overdraw forgiven", "principal_delta_fen": 4_000},
            headers=anna,
            expect=200,
        )
        assert fixed["status"] == "resolved" and fixed["resolved_by"] == "ops_anna"
        assert fixed["adjustment"]["body"]["principal_delta_fen"] == 4_000
        central = h.central("m1")
        assert central.stored_value.principal_fen == 0 and central == h.reference("m1")
        assert central.stored_value.balance_fen() == 10_000 - 14_000 + 4_000

        # Both kiosks converge.
        h.wait_members_caught_up(kb)
        assert kb.ledger("m1") == central
        assert poll_until(
            lambda: (
                (s := ledger.member_summary("m1")) is not None
                and s.pending_events == 0
                and s.stored_value_fen == 0
            ),
            timeout_s=20,
        )
    finally:
        link.stop(timeout_s=3)
