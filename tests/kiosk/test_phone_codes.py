"""Phone-signed codes at the kiosk: the QR path verifies them offline with the device keys the
coordinator pushed in the member record, remembers each nonce, and says what is wrong."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from device.ledger import KioskLedger
from device.ports import SystemClock
from device.readers.base import QrRead
from device.ui.hub import EventHub
from shared import phonecode
from shared.model import DeviceKey
from shared.protocol import MemberUpdate
from tests.kiosk.seed import ANNA, BOB, member_record, seed_ledger
from tests.kiosk.test_tap_service import service
from tests.shared.test_phonecode import device


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[KioskLedger]:
    path = tmp_path / "ledger.sqlite"
    seed_ledger(path, kiosk_id="k1", store_id="s1")
    led = KioskLedger.open(path, kiosk_id="k1", store_id="s1", clock=SystemClock())
    yield led
    led.close()


def push_devices(ledger: KioskLedger, version: int, **devices: tuple[DeviceKey, ...]) -> None:
    """A member delta from the coordinator carrying these members' device keys."""
    now = time.time_ns() // 1_000_000
    people = {"anna": ANNA, "bob": BOB}
    records = tuple(
        member_record(people[name], now, store_id="s1").model_copy(update={"devices": keys})
        for name, keys in devices.items()
    )
    outcome = ledger.apply_member_update(
        MemberUpdate(store_id="s1", version=version, base_version=version - 1, members=records)
    )
    assert outcome is not None


def show(ledger: KioskLedger, text: str) -> dict[str, Any]:
    hub = EventHub(sticky=("tap",))
    service(ledger, hub).on_qr(QrRead(text=text, read_at=0.0))
    tap = hub.last("tap")
    assert tap is not None
    data: dict[str, Any] = tap.data
    return data


def test_a_phone_signed_code_checks_in_once_per_kiosk(ledger: KioskLedger) -> None:
    private, key = device("d1")
    push_devices(ledger, 2, anna=(key,))
    code = phonecode.sign_code(private, "d1", ANNA.member_id, ledger.now_ms())
    accepted = show(ledger, code)
    assert accepted["outcome"] == "accepted", accepted
    assert accepted["member"]["display_name"] == ANNA.display_name
    again = show(ledger, code)
    assert again["outcome"] == "refused" and again["reason"] == "qr_replayed"
    (event, _refusal) = ledger.journal_events()
    assert event.credential is not None and event.credential.qr_key_id == "d1"


def test_forged_foreign_revoked_and_clock_off_codes_are_refused_with_words(
    ledger: KioskLedger,
) -> None:
    anna_private, anna_key = device("dA")
    bob_private, bob_key = device("dB")
    lost_private, lost_key = device("dL", revoked_ms=ledger.now_ms() - 1000)
    push_devices(ledger, 2, anna=(anna_key, lost_key), bob=(bob_key,))
    now = ledger.now_ms()
    forger, _ = device("dA")
    cases = {
        "qr_bad_signature": phonecode.sign_code(forger, "dA", ANNA.member_id, now),
        "device_unknown": phonecode.sign_code(bob_private, "dB", ANNA.member_id, now),
        "device_revoked": phonecode.sign_code(lost_private, "dL", ANNA.member_id, now),
        "phone_clock_off": phonecode.sign_code(anna_private, "dA", ANNA.member_id, now + 3_600_000),
    }
    for reason, code in cases.items():
        tap = show(ledger, code)
        assert (tap["outcome"], tap["reason"]) == ("refused", reason)
        assert tap["message_en"] and tap["message_zh"]
    clock_off = show(ledger, cases["phone_clock_off"])
    assert "clock" in clock_off["message_en"] and "手机时间" in clock_off["message_zh"]
    assert all(e.kind == "rejected" for e in ledger.journal_events())


def test_a_phone_unknown_to_this_kiosk_is_refused(ledger: KioskLedger) -> None:
    private, _ = device("d1")  # registered after the kiosk's last update
    tap = show(ledger, phonecode.sign_code(private, "d1", ANNA.member_id, ledger.now_ms()))
    assert tap["reason"] == "device_unknown"
    tap = show(ledger, phonecode.sign_code(private, "d1", "nobody", ledger.now_ms()))
    assert tap["reason"] == "device_unknown"
