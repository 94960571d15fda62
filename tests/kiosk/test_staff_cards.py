"""A staff member's own staff card at a running kiosk (real parts: nfcpy reading a simulated
card over its udp transport, SQLite ledger, the kiosk's HTTP UI): the card's keyed hash
comes in the rule bundle; tapping it signs that person in (the same staff session as their
own PIN) and a redemption they make records their staff id on the event. Another store's
card and a card whose hash left the bundle (unbound, or its owner disabled) sign nobody in:
tapped, they are member taps like any unknown card."""

from __future__ import annotations

import sqlite3

import httpx

from shared.model import StaffCard
from shared.protocol import RuleBundleMessage
from shared.staff_cards import hash_card_uid
from tests.kiosk.conftest import KioskFactory
from tests.kiosk.seed import ANNA
from tests.kiosk.test_api import EventStream

WANG_CARD = "04C3C3C3C3C3C3"
OTHER_STORE = "04D2D2D2D2D2D2"


def test_a_staff_card_signs_its_owner_in_and_the_event_names_them(
    kiosk_factory: KioskFactory,
) -> None:
    kiosk = kiosk_factory()
    ledger = kiosk.app.ledger
    assert ledger is not None
    current = ledger.rule_bundle()
    assert current is not None
    cards = (
        StaffCard(staff_id="wang", store_id="s1", card_hash=hash_card_uid(WANG_CARD)),
        StaffCard(staff_id="bo", store_id="s2", card_hash=hash_card_uid(OTHER_STORE)),
    )
    bundle = current.model_copy(update={"version": current.version + 1, "staff_cards": cards})
    ledger.apply_rule_bundle(RuleBundleMessage(bundle=bundle))
    # Kept (in memory and on the SD card) with this store's staff only.
    held = ledger.rule_bundle()
    assert held is not None and [c.staff_id for c in held.staff_cards] == ["wang"]
    with sqlite3.connect(kiosk.app.settings.ledger_path) as db:
        (stored,) = db.execute("SELECT bundle FROM rule_bundle").fetchone()
    assert '"wang"' in stored and '"bo"' not in stored
    stream = EventStream(kiosk.url)
    try:
        kiosk.tap(WANG_CARD)
        login = stream.wait_for("staff_login")
        assert login["staff_id"] == "wang" and login["via"] == "card"
        assert [n for n, _ in stream.events if n == "tap"] == []  # not a member tap
        assert kiosk.app.service is not None
        session = kiosk.app.service.staff.get(login["token"])
        assert session is not None and session.staff_id == "wang" and session.via == "card"
        staff = {"X-Staff-Session": login["token"]}
        with httpx.Client(base_url=kiosk.url, timeout=10) as http:
            redeemed = http.post(
                "/api/staff/redeem-points",
                json={"member_id": ANNA.member_id, "reward_id": "water"},
                headers=staff,
            )
            assert redeemed.status_code == 200 and redeemed.json()["outcome"] == "accepted"
            http.post("/api/staff/logout", headers=staff)
        events = [e.event for e in ledger.recent_events(5)]
        assert [e.kind for e in events] == ["points_redeem"]
        assert events[0].credential is not None and events[0].credential.staff_id == "wang"

        # Another store's staff card is nobody's here: an unknown card, no staff session.
        kiosk.tap(OTHER_STORE)

        def unknown(data: dict[str, object]) -> bool:
            return data.get("reason") == "unknown_card"

        refused = stream.wait_for("tap", where=unknown)
        assert refused["outcome"] == "refused" and refused["source"] == "card"

        # Unbound (the next bundle has no hash for it): the card stops signing anyone in.
        again = bundle.model_copy(update={"version": bundle.version + 1, "staff_cards": ()})
        ledger.apply_rule_bundle(RuleBundleMessage(bundle=again))
        kiosk.tap(WANG_CARD)
        stream.wait_for("tap", count=2, where=unknown)
        assert len([n for n, _ in stream.events if n == "staff_login"]) == 1
    finally:
        kiosk.app.stop()
        stream.close()
