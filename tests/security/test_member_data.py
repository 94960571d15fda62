"""Member data on kiosks is minimised: after a real sync, the kiosk's SQLite files hold no full
name, phone number or birthday — not as a column, not as a value, not in stray pages — and
the screen shows masked names only, even when staff typed a full name as the display name."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

from device.readers.base import CardRead
from device.sessions import MemberSessions, StaffSessions
from device.tap_service import TapService
from device.ui.hub import EventHub
from shared.model import MemberRecord
from simulators.broker import Broker
from simulators.waiting import wait_until
from tests.security.stack import live_coordinator

MEMBERS = {
    # member: (display name as typed by staff, full name, phone, card, shown on kiosks)
    "m1": ("李*华", "李小华", "13800138000", "04A1A1A1", "李*华"),
    "m2": ("Anna Lee", "Anna Lee", "+86 139 0013 9000", "04A2A2A2", "Anna L."),
    "m3": ("王建国", "王建国", "13700137000", "04A3A3A3", "王*国"),
    "m4": ("Bob 13600136000", "Robert Smith", "13600136000", "04A4A4A4", "Bob *******6000"),
}
BIRTHDAY = "1987-06-05"
SECRETS = [
    BIRTHDAY,
    "李小华",
    "Anna Lee",
    "王建国",
    "Robert Smith",
    "13800138000",
    "139 0013 9000",
    "13900139000",
    "13700137000",
    "13600136000",
]
BIRTHDAY = "1990-07-23"
SECRETS.append(BIRTHDAY)
PERSONAL_COLUMN = re.compile(r"phone|mobile|birth|full_?name|address|email|id_?card", re.I)


def test_kiosks_hold_and_show_only_what_they_need(secure_broker: Broker, tmp_path: Path) -> None:
    assert set(MemberRecord.model_fields) == {
        "member_id", "display_name", "tier", "status", "cards", "lang", "ledger",
        "devices",  # the phone card's device public keys (verifying phone-signed codes)
    }  # fmt: skip
    with live_coordinator(tmp_path, secure_broker) as live:
        live.add_store("s1")
        for member, (shown, full, phone, card, _kiosk) in MEMBERS.items():
            live.add_member(member, display_name=shown, full_name=full, phone=phone)
            live.call("POST", f"/api/v1/members/{member}/cards", json={"uid": card}, expect=201)
        # HQ keeps the full record (the coordinator is where it belongs) ...
        assert live.call("GET", "/api/v1/members/m1")["phone"] == "13800138000"
        # ... birthday included (the front desk registers it, issue 13): HQ only, never a kiosk.
        live.call("PATCH", "/api/v1/members/m1", json={"birthday": BIRTHDAY}, expect=200)
        assert live.call("GET", "/api/v1/members/m1")["birthday"] == BIRTHDAY

        link, ledger = live.real_kiosk(tmp_path, live.provision("k1", "s1"))
        wait_until(
            lambda: all(ledger.real.member_summary(m) is not None for m in MEMBERS),
            what="kiosk synced every member",
        )
        for member, (*_typed, kiosk_name) in MEMBERS.items():
            summary = ledger.real.member_summary(member)
            assert summary is not None and summary.display_name == kiosk_name, member

        # The screen: a tap shows the masked name and nothing else about the person.
        hub = EventHub(sticky=("tap",))
        service = TapService(
            ledger.real,
            hub,
            clock=_Clock(),
            member_sessions=MemberSessions(_Clock(), 45),
            staff_sessions=StaffSessions(
                _Clock(),
                pin_hash=None,
                staff_id="s",
                cards=(),
                idle_s=60,
                max_attempts=3,
                lockout_s=60,
            ),
        )
        for member, (*_typed, card, kiosk_name) in MEMBERS.items():
            service.on_card(CardRead(uid=card, family="type2", read_at=time.monotonic()))
            message = hub.last("tap")
            assert message is not None
            assert message.data["member"]["display_name"] == kiosk_name, member
            screen = str(message.data)
            assert not [s for s in SECRETS if s in screen], (member, screen)

        link.notify_new_events()
        assert link.wait_for(lambda s: s.acked_seq == ledger.outbox_stats().last_seq, 15)
        path = ledger.real.path
    live_ledger_files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]

    # The kiosk's database, as SQL: no personal column, no personal value.
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert "members" in tables
        for table in tables:
            columns = [
                r[0] for r in conn.execute("SELECT name FROM pragma_table_info(?)", (table,))
            ]
            assert not [c for c in columns if PERSONAL_COLUMN.search(c)], (table, columns)
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # names from sqlite_master
                text = " ".join(str(v) for v in row)
                assert not [s for s in SECRETS if s in text], (table, text[:300])
    finally:
        conn.close()
    # ... and as bytes (database, WAL, journal): not even in free or stale pages.
    for file in live_ledger_files:
        data = file.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, (file.name, secret)
            assert secret.encode("utf-16-le") not in data, (file.name, secret)


class _Clock:
    """The real clock (the tap service's port)."""

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()
