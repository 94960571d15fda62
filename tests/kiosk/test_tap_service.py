"""The tap service on a real ledger, without readers or a browser: isolation of failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from device.ledger import KioskLedger
from device.ports import SystemClock
from device.readers.base import CardRead, QrRead
from device.sessions import MemberSessions, StaffSessions
from device.tap_service import TapService
from device.ui.hub import EventHub
from tests.kiosk.conftest import STAFF_PIN_HASH
from tests.kiosk.seed import ANNA, seed_ledger


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[KioskLedger]:
    path = tmp_path / "ledger.sqlite"
    seed_ledger(path, kiosk_id="k1", store_id="s1")
    led = KioskLedger.open(path, kiosk_id="k1", store_id="s1", clock=SystemClock())
    yield led
    led.close()


def service(ledger: KioskLedger, hub: EventHub) -> TapService:
    clock = SystemClock()
    return TapService(
        ledger,
        hub,
        clock=clock,
        member_sessions=MemberSessions(clock, 45),
        staff_sessions=StaffSessions(
            clock,
            pin_hash=STAFF_PIN_HASH,
            staff_id="s",
            cards=(),
            idle_s=60,
            max_attempts=3,
            lockout_s=60,
        ),
    )


def test_card_tap_pushes_the_result(ledger: KioskLedger) -> None:
    hub = EventHub(sticky=("tap",))
    svc = service(ledger, hub)
    svc.on_card(CardRead(uid=ANNA.card.lower(), family="type2"))
    tap = hub.last("tap")
    assert tap is not None and tap.data["outcome"] == "accepted"
    assert tap.data["member"]["points_balance"] == ANNA.points + 10
    assert svc.members.get(tap.data["session_token"]) is not None
    assert svc.counters.accepted == 1 and svc.counters.last_good_tap_ms is not None


def test_unreadable_qr_is_refused_with_a_message(ledger: KioskLedger) -> None:
    hub = EventHub(sticky=("tap",))
    svc = service(ledger, hub)
    svc.on_qr(QrRead(text="https://example.com/not-a-member-code", read_at=0.0))
    tap = hub.last("tap")
    assert tap is not None and tap.data["reason"] == "qr_malformed"
    assert tap.data["message_zh"] == "无法识别这个二维码，请打开会员页面的会员码。"
    assert svc.counters.qr_refused_unverified == 1
    # Journalled without a member (the code names nobody we can trust), for audit and alerts.
    (event,) = ledger.journal_events()
    assert event.kind == "rejected" and event.member_id is None
    assert event.body.reason == "qr_malformed"  # type: ignore[union-attr]
    assert event.credential is not None and event.credential.kind == "qr"


@pytest.mark.allow_logged_exceptions
def test_a_failing_tap_is_logged_counted_and_shown(ledger: KioskLedger) -> None:
    hub = EventHub(sticky=("tap",))
    svc = service(ledger, hub)
    ledger.close()  # every ledger call now raises LedgerClosed
    svc.on_card(CardRead(uid=ANNA.card, family="type2"))  # must not raise into the reader
    assert svc.counters.handler_errors == 1
    tap = hub.last("tap")
    assert tap is not None and tap.data["outcome"] == "refused"
