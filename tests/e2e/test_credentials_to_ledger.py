"""Credentials end to end on the real stacks, into the real kiosk ledger.

* NFC: nfcpy's real reader code (``device.readers.NfcReader`` over nfcpy's ``udp``
  transport) reads a simulated NTAG215 (Type 2, 7-byte UID) and a simulated FeliCa card
  (Type 3); the tap service hands each read to the ledger, which records the right decision.
* QR: camera frames rendered with OpenCV (clean and degraded) go through the real decoder
  (zxing-cpp) and the offline signature check into a check-in; forged, expired, replayed and
  garbage codes are refused with the right reason, and empty frames decode to nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from device.ledger import KioskLedger
from device.ports import SystemClock
from device.readers.base import CardRead, QrRead
from device.readers.nfc_reader import NfcReader, NfcReaderConfig
from device.readers.qr import decode_frame
from device.sessions import MemberSessions, StaffSessions
from device.tap_service import TapService
from device.ui.hub import EventHub
from shared.events import CheckIn, ClassSignIn, Rejected
from shared.model import DenyEntry
from shared.protocol import DenyListUpdate, MemberUpdate
from shared.qrtoken import generate_keypair, issue_token
from simulators.camera.render import apply, phone_frame
from simulators.nfc import present_card
from simulators.ports import free_udp_port
from tests.kiosk.seed import ANNA, STUDENT, member_record, seed_ledger
from tests.support.readers import Collector

FELICA_IDM = "012E4CD3F1A2B3C4"
FELICA_MEMBER = STUDENT  # signs in to the open yoga class with her FeliCa card


@dataclass
class Kiosk:
    ledger: KioskLedger
    service: TapService
    hub: EventHub
    private_key: bytes
    key_id: str


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[Kiosk]:
    private_key, qr_key = generate_keypair("k2026")
    path = tmp_path / "ledger.sqlite"
    seed_ledger(path, kiosk_id="k1", store_id="s1", with_class=True, qr_keys=(qr_key,))
    clock = SystemClock()
    ledger = KioskLedger.open(path, kiosk_id="k1", store_id="s1", clock=clock)
    # The student's FeliCa phone card is bound at HQ: a member delta adds it to her record.
    now = clock.wall_ms()
    record = member_record(FELICA_MEMBER, now, store_id="s1")
    record = record.model_copy(update={"cards": (*record.cards, FELICA_IDM)})
    outcome = ledger.apply_member_update(
        MemberUpdate(store_id="s1", version=2, base_version=1, members=(record,))
    )
    assert outcome.value == "applied"
    hub = EventHub(sticky=("tap",))
    service = TapService(
        ledger,
        hub,
        clock=clock,
        member_sessions=MemberSessions(clock, 45),
        staff_sessions=StaffSessions(
            clock, pin_hash=None, staff_id="s", cards=(), idle_s=60, max_attempts=3, lockout_s=60
        ),
    )
    yield Kiosk(ledger, service, hub, private_key, "k2026")
    ledger.close()


def read_card(uid: str, card_type: str) -> CardRead:
    """Present a virtual card to nfcpy's real reader over udp; return what the reader read."""
    port = free_udp_port()
    reads: Collector[CardRead] = Collector()
    reader = NfcReader(NfcReaderConfig(path=f"udp:127.0.0.1:{port}", targets=("106A", "212F")))
    reader.start(reads)
    try:
        with present_card(uid, card_type, port=port, ndef_text="tapfleet member"):
            assert reads.wait_for(1, timeout=20), f"reader never saw the {card_type} card"
    finally:
        reader.stop()
    return reads.items[0]


def last_tap(kiosk: Kiosk) -> dict:  # type: ignore[type-arg]
    event = kiosk.hub.last("tap")
    assert event is not None
    return dict(event.data)


def test_type2_card_checks_in_and_type3_card_signs_into_class(kiosk: Kiosk) -> None:
    ntag = read_card(ANNA.card, "ntag215")
    assert ntag.uid.upper() == ANNA.card and len(ntag.uid) == 14 and ntag.family == "type2"
    kiosk.service.on_card(ntag)
    assert last_tap(kiosk)["outcome"] == "accepted"

    felica = read_card(FELICA_IDM, "felica")
    assert felica.uid.upper() == FELICA_IDM and felica.family == "type3"
    kiosk.service.on_card(felica)
    tap = last_tap(kiosk)
    assert tap["outcome"] == "accepted", tap

    events = kiosk.ledger.journal_events()
    kinds = [(e.member_id, e.kind) for e in events]
    # Anna is in a class window too but has a yoga pass: she is signed in; so is the student.
    assert (ANNA.member_id, "class_signin") in kinds
    assert (FELICA_MEMBER.member_id, "class_signin") in kinds
    student_signin = next(
        e for e in events if e.member_id == FELICA_MEMBER.member_id and e.kind == "class_signin"
    )
    assert isinstance(student_signin.body, ClassSignIn) and student_signin.body.sessions == 1
    assert student_signin.credential is not None
    assert student_signin.credential.uid == FELICA_IDM
    summary = kiosk.ledger.member_summary(FELICA_MEMBER.member_id)
    assert summary is not None

    # The same card again: already signed in, nothing more deducted, the refusal journalled.
    kiosk.service.on_card(read_card(FELICA_IDM, "felica"))
    assert last_tap(kiosk)["reason"] == "already_signed_in"
    deductions = [
        e
        for e in kiosk.ledger.journal_events()
        if e.member_id == FELICA_MEMBER.member_id and e.kind == "class_signin"
    ]
    assert len(deductions) == 1


def test_revoked_and_unknown_cards_are_refused(kiosk: Kiosk) -> None:
    now = int(time.time() * 1000)
    kiosk.ledger.apply_deny_update(
        DenyListUpdate(version=1, full=True, added=(DenyEntry(uid=ANNA.card, revoked_ms=now),))
    )
    kiosk.service.on_card(read_card(ANNA.card, "ntag215"))
    assert last_tap(kiosk)["reason"] == "card_revoked"
    kiosk.service.on_card(read_card("04999999999999", "ntag213"))
    assert last_tap(kiosk)["reason"] == "unknown_card"
    rejected = [e for e in kiosk.ledger.journal_events() if isinstance(e.body, Rejected)]
    assert [e.body.reason for e in rejected] == ["card_revoked", "unknown_card"]  # type: ignore[union-attr]
    assert not any(e.kind in ("checkin", "class_signin") for e in kiosk.ledger.journal_events())


def scan(kiosk: Kiosk, frame: np.ndarray) -> list[str]:
    """Decode a frame with the real decoder and show every code found to the tap service."""
    texts = decode_frame(frame, "zxing")
    for text in texts:
        kiosk.service.on_qr(QrRead(text=text, read_at=time.monotonic()))
    return texts


@pytest.mark.parametrize(
    ("condition", "level"),
    [("clean", 0), ("rotate", 25), ("blur", 1.5), ("perspective", 0.12), ("low_contrast", 0.4)],
)
def test_rendered_qr_frames_check_in_once(kiosk: Kiosk, condition: str, level: float) -> None:
    now = int(time.time() * 1000)
    token = issue_token(kiosk.private_key, kiosk.key_id, BOB_ID, now, 60)
    frame = apply(phone_frame(token), condition, level, seed=7)
    assert scan(kiosk, frame) == [token]
    tap = last_tap(kiosk)
    assert tap["outcome"] == "accepted", tap
    # A screenshot of the same code shown again at this kiosk is refused.
    assert scan(kiosk, phone_frame(token)) == [token]
    assert last_tap(kiosk)["reason"] == "qr_replayed"
    checkins = [e for e in kiosk.ledger.journal_events() if isinstance(e.body, CheckIn)]
    assert len(checkins) == 1 and checkins[0].member_id == BOB_ID
    assert checkins[0].credential is not None and checkins[0].credential.kind == "qr"


BOB_ID = "M-1002"


def test_forged_expired_and_garbage_codes_are_refused(kiosk: Kiosk) -> None:
    now = int(time.time() * 1000)
    other_key, _ = generate_keypair("k2026")  # same key id, wrong key: a forgery
    cases = {
        "qr_bad_signature": issue_token(other_key, "k2026", BOB_ID, now, 60),
        "qr_expired": issue_token(kiosk.private_key, "k2026", BOB_ID, now - 600_000, 60),
        "qr_unknown_key": issue_token(other_key, "old-key", BOB_ID, now, 60),
        "qr_malformed": "https://example.com/definitely-not-a-member-code",
    }
    for reason, token in cases.items():
        assert scan(kiosk, phone_frame(token)) == [token]
        assert last_tap(kiosk)["reason"] == reason
    journal = kiosk.ledger.journal_events()
    assert [e.body.reason for e in journal] == list(cases)  # type: ignore[union-attr]
    assert all(e.member_id is None for e in journal)  # an unverified code names nobody


def test_empty_and_noise_frames_decode_to_nothing() -> None:
    rng = np.random.default_rng(3)
    blank = apply(phone_frame("x"), "empty", 0, seed=1)
    assert decode_frame(blank, "zxing") == []
    for _ in range(50):
        noise = rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
        assert decode_frame(noise, "zxing") == []
