"""Booking and the waitlist at the coordinator, with the bookings reaching the kiosk.

Real coordinator app, real Mosquitto, real SQLite; the kiosk is a mini kiosk on MQTT that
decides with the same pure functions as the real one.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from coordinator import schema
from coordinator.outbound import notify
from shared.decide import Refused
from shared.reasons import RejectReason
from simulators.waiting import poll_until
from tests.coordinator.harness import Harness
from tests.coordinator.real_studio import MEMBERS, Studio, card

ZONE = ZoneInfo("Asia/Shanghai")


def _slot(slot_id: str, room: str, start: datetime, capacity: int = 2) -> dict[str, Any]:
    return {
        "slot_id": slot_id,
        "room": room,
        "class_type": "yoga",
        "title_zh": "瑜伽",
        "title_en": "Yoga",
        "coach": "coach-li",
        "weekday": start.weekday(),
        "start": f"{start:%H:%M}",
        "length_min": 60,
        "capacity": capacity,
    }


def sid(slot_id: str, start: datetime) -> str:
    return f"{slot_id}:{start:%Y%m%d}"


def book(h: Harness, session: str, member: str, expect: int = 201) -> dict[str, Any]:
    return h.call(
        "POST",
        f"/api/v1/stores/s1/sessions/{session}/bookings",
        json={"member_id": member},
        expect=expect,
    )


def cancel(h: Harness, session: str, member: str, expect: int = 200) -> dict[str, Any]:
    return h.call(
        "DELETE", f"/api/v1/stores/s1/sessions/{session}/bookings/{member}", expect=expect
    )


def test_booking_waitlist_promotion_and_bad_input(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    for m in ("m1", "m2", "m3", "m4", "m5"):
        h.add_member(m)
    for m in ("m1", "m2", "m3", "m4"):
        h.sell_pass(m, f"p-{m}", 10)
    k1 = h.kiosk("k1", "s1")
    now = datetime.fromtimestamp(h.coord.clock.wall_ms() / 1000, UTC).astimezone(ZONE)
    later = (now + timedelta(days=2)).replace(hour=18, minute=30, second=0, microsecond=0)
    far = later + timedelta(days=21)
    past = (now - timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    soon = now + timedelta(minutes=20)  # sign-in open, and past the cancel cut-off
    h.call(
        "PUT",
        "/api/v1/stores/s1/timetable",
        json={
            "slots": [
                _slot("yoga", "a", later),
                _slot("spin", "b", later),  # same hour, another room
                _slot("early", "c", past),
                _slot("soon", "d", soon),
                _slot("far", "e", far),
            ],
            "exceptions": [
                {
                    "kind": "cancelled",
                    "slot_id": "yoga",
                    "day": (later + timedelta(days=7)).date().isoformat(),
                }
            ],
        },
        expect=200,
    )
    yoga, spin = sid("yoga", later), sid("spin", later)

    assert book(h, yoga, "m1")["status"] == "booked"
    assert book(h, yoga, "m2")["status"] == "booked"
    third = book(h, yoga, "m3")
    assert (third["status"], third["waitlist_position"]) == ("waitlisted", 1)
    assert book(h, yoga, "m4")["waitlist_position"] == 2

    # Bad input: each a clear error and nothing changed.
    errors = {
        "double": book(h, yoga, "m1", 409),
        "overlap": book(h, spin, "m1", 409),
        "no_pass": book(h, yoga, "m5", 422),
        "past": book(h, sid("early", past), "m1", 409),
        "cancelled": book(h, sid("yoga", later + timedelta(days=7)), "m1", 409),
        "not_open": book(h, sid("far", far), "m1", 422),
        "unknown_member": book(h, yoga, "nobody", 404),
        "unknown_session": book(h, "nope:20261207", "m1", 404),
    }
    codes = {k: v["error"]["code"] for k, v in errors.items()}
    assert codes == {
        "double": "already_booked",
        "overlap": "overlapping_booking",
        "no_pass": "no_usable_pass",
        "past": "session_past",
        "cancelled": "session_cancelled",
        "not_open": "booking_not_open",
        "unknown_member": "member_not_found",
        "unknown_session": "class_session_not_found",
    }
    roster = h.call("GET", f"/api/v1/stores/s1/sessions/{yoga}/roster", expect=200)
    assert [e["member_id"] for e in roster["booked"]] == ["m1", "m2"]
    assert [e["member_id"] for e in roster["waitlisted"]] == ["m3", "m4"]

    # The kiosk gets the session's booked members with the rules.
    def kiosk_booked(session: str) -> tuple[str, ...] | None:
        c = k1.bundle.class_session(session) if k1.bundle else None
        return c.booked if c else None

    assert k1.wait_for(lambda: kiosk_booked(yoga) == ("m1", "m2"))

    # A cancellation before the cut-off gives the seat to the first in line, who is told.
    freed = cancel(h, yoga, "m1")
    assert freed["late"] is False and freed["booking"]["status"] == "cancelled"
    assert freed["promoted"]["member_id"] == "m3"
    assert freed["promoted"]["status"] == "booked"
    with h.coord.db.read() as conn:
        told = notify.recent(conn, member_id="m3")
    assert [n["kind"] for n in told] == ["waitlist_seat"]
    assert k1.wait_for(lambda: kiosk_booked(yoga) == ("m2", "m3"))
    assert book(h, yoga, "m4", 409)["error"]["code"] == "already_booked"

    # Never auto-booked into two sessions at once: m4 takes the class next door, so when
    # m2 cancels, m4 (first in line) is passed over and nobody is promoted.
    assert book(h, spin, "m4")["status"] == "booked"
    nobody = cancel(h, yoga, "m2")
    assert nobody["promoted"] is None
    roster = h.call("GET", f"/api/v1/stores/s1/sessions/{yoga}/roster", expect=200)
    assert [e["member_id"] for e in roster["booked"]] == ["m3"]
    assert [e["member_id"] for e in roster["waitlisted"]] == ["m4"]
    assert cancel(h, yoga, "m2", 409)["error"]["code"] == "booking_not_active"

    # Past the cut-off: a late cancellation, and the waitlist is frozen.
    soon_id = sid("soon", soon)
    book(h, soon_id, "m1")
    book(h, soon_id, "m2")
    assert book(h, soon_id, "m3")["status"] == "waitlisted"
    late = cancel(h, soon_id, "m1")
    assert late["late"] is True and late["booking"]["status"] == "late_cancelled"
    assert late["promoted"] is None


def test_booked_members_are_admitted_at_the_kiosk_and_walk_ins_fill_the_rest(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    h.add_store("s1")
    h.add_kiosk("k1", "s1")
    members = MEMBERS[:4]
    for m in members:
        h.add_member(m)
        h.call("POST", f"/api/v1/members/{m}/cards", json={"uid": card(m)}, expect=201)
        h.sell_pass(m, f"p-{m}", 10)
    now = datetime.fromtimestamp(h.coord.clock.wall_ms() / 1000, UTC).astimezone(ZONE)
    soon = now + timedelta(minutes=20)
    h.call(
        "PUT",
        "/api/v1/stores/s1/timetable",
        json={"slots": [_slot("soon", "a", soon, capacity=3)]},
        expect=200,
    )
    session = sid("soon", soon)
    first, second, walk_in, late_walk_in = members
    book(h, session, first)
    last = book(h, session, second)
    assert last["status"] == "booked"
    with ExitStack() as stack:
        studio = Studio(h, tmp_path, stack, kiosks=("k1",))
        ledger = studio.ledgers["k1"]

        def ready() -> bool:
            bundle = ledger.rule_bundle()
            c = bundle.class_session(session) if bundle else None
            return (
                c is not None
                and c.booked == (first, second)
                and all((ms := ledger.member_summary(m)) is not None and ms.passes for m in members)
            )

        assert poll_until(ready, timeout_s=30)
        assert not isinstance(studio.tap("k1", walk_in, session), Refused)  # the one free seat
        assert poll_until(lambda: studio.confirmed("k1", walk_in), timeout_s=30)
        full = studio.tap("k1", late_walk_in, session)
        assert isinstance(full, Refused) and full.reason is RejectReason.CLASS_FULL
        # The staff screen's roster: both booked members still expected.
        [roster] = [r for r in ledger.class_rosters() if r.session.class_session_id == session]
        assert [m for m, _ in roster.booked_absent] == [first, second]
        assert {e.member_id for e in roster.signed_in} == {walk_in}
        for booked in (first, second):  # their seats were kept
            assert not isinstance(studio.tap("k1", booked, session), Refused)
        assert poll_until(lambda: studio.delivered("k1"), timeout_s=30)
        [roster] = [r for r in ledger.class_rosters() if r.session.class_session_id == session]
        assert roster.booked_absent == ()
    roster = h.call("GET", f"/api/v1/stores/s1/sessions/{session}/roster", expect=200)
    signed = {e["member_id"]: e["booked"] for e in roster["signed_in"]}
    assert signed == {first: True, second: True, walk_in: False}
    assert roster["no_shows"] == []


def test_no_shows_are_booked_members_who_never_signed_in(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_member("m1")
    now = datetime.fromtimestamp(h.coord.clock.wall_ms() / 1000, UTC).astimezone(ZONE)
    past = (now - timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    h.call("PUT", "/api/v1/stores/s1/timetable", json={"slots": [_slot("early", "a", past)]})
    session = sid("early", past)
    start_ms = int(past.timestamp() * 1000)
    with h.coord.db.write() as conn:  # booked last week, before the class
        conn.execute(
            sa.insert(schema.class_bookings).values(
                class_session_id=session,
                member_id="m1",
                store_id="s1",
                status="booked",
                class_type="yoga",
                starts_ms=start_ms,
                ends_ms=start_ms + 3_600_000,
                queued_ms=start_ms - 86_400_000,
                updated_ms=start_ms - 86_400_000,
                updated_by="admin",
            )
        )
    roster = h.call("GET", f"/api/v1/stores/s1/sessions/{session}/roster", expect=200)
    assert [e["member_id"] for e in roster["no_shows"]] == ["m1"]
    assert cancel(h, session, "m1", 409)["error"]["code"] == "session_started"


def test_a_member_books_and_cancels_from_the_phone_card(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    for m in ("m1", "m2"):
        h.add_member(m)
        h.sell_pass(m, f"p-{m}", 10)
    now = datetime.fromtimestamp(h.coord.clock.wall_ms() / 1000, UTC).astimezone(ZONE)
    later = (now + timedelta(days=2)).replace(hour=18, minute=30, second=0, microsecond=0)
    h.call(
        "PUT",
        "/api/v1/stores/s1/timetable",
        json={"slots": [_slot("yoga", "a", later, capacity=1)]},
        expect=200,
    )
    session = sid("yoga", later)
    links = {
        m: h.call("POST", f"/api/v1/members/{m}/page-link", expect=200)["link_token"]
        for m in ("m1", "m2")
    }

    def classes(member: str) -> dict[str, Any]:
        r = h.client.get("/api/v1/member/classes", params={"link": links[member], "store_id": "s1"})
        assert r.status_code == 200, r.text
        return {s["class_session_id"]: s for s in r.json()["sessions"]}

    listed = classes("m1")[session]
    assert (listed["seats_left"], listed["my_status"], listed["coach"]) == (1, None, "coach-li")

    def member_book(member: str) -> Any:
        return h.client.post(
            "/api/v1/member/bookings",
            params={"link": links[member]},
            json={"store_id": "s1", "class_session_id": session},
        )

    booked = member_book("m1")
    assert booked.status_code == 201 and booked.json()["status"] == "booked"
    waiting = member_book("m2")
    assert waiting.json()["status"] == "waitlisted"
    assert classes("m2")[session]["waitlist_position"] == 1
    assert classes("m2")[session]["seats_left"] == 0
    assert member_book("m1").json()["error"]["code"] == "already_booked"
    # A bad link books nothing.
    bad = h.client.post(
        "/api/v1/member/bookings",
        params={"link": "x" * 20},
        json={"store_id": "s1", "class_session_id": session},
    )
    assert bad.status_code == 401
    # The member cancels from the phone: the seat goes to the waitlist.
    gone = h.client.delete(
        "/api/v1/member/bookings",
        params={"link": links["m1"], "store_id": "s1", "class_session_id": session},
    )
    assert gone.status_code == 200, gone.text
    assert gone.json()["promoted"]["member_id"] == "m2"
    assert classes("m2")[session]["my_status"] == "booked"
    assert classes("m1")[session]["my_status"] is None
