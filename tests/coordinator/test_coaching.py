"""Coaches: a coach sees only their own sessions and rosters, marks a session taught, and
the staff commission report credits the classes taught with their attendance (by hand).

Real coordinator app, real Mosquitto, real SQLite; sign-ins come from a mini kiosk on MQTT.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from coordinator import schema
from coordinator.security.auth import Principal, Role
from coordinator.services import rules, staff
from coordinator.services.users import NewUser
from shared.events import ClassSignIn
from tests.coordinator.harness import Harness

ZONE = ZoneInfo("Asia/Shanghai")
ADMIN = Principal("admin", Role.HQ_ADMIN, None)


def _slot(slot_id: str, start: datetime, coach: str) -> dict[str, Any]:
    return {
        "slot_id": slot_id,
        "room": slot_id,
        "class_type": "yoga",
        "title_zh": "瑜伽",
        "title_en": "Yoga",
        "coach": coach,
        "weekday": start.weekday(),
        "start": f"{start:%H:%M}",
        "length_min": 60,
        "capacity": 4,
    }


def test_a_coach_sees_and_marks_only_their_own_classes(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_store("s2")
    for m in ("m1", "m2", "m3"):
        h.add_member(m)
        h.sell_pass(m, f"p-{m}", 10)
    for name, role, store in (
        ("coach-li", Role.COACH, "s1"),
        ("coach-wang", Role.COACH, "s1"),
        ("fd1", Role.FRONT_DESK, "s1"),
    ):
        body = NewUser(username=name, password="long-enough-1", role=role, store_id=store)
        staff.create_staff(h.coord, ADMIN, body)
    li = h.login("coach-li", "long-enough-1")
    # The coach's own kiosk PIN reaches the store's kiosks with the role (own roster only).
    staff.set_pin(h.coord, ADMIN, "coach-li", staff.PinChange(pin="1357"))
    shown = rules.current_bundle(h.coord, ADMIN, "s1")
    assert [(p.staff_id, p.role) for p in shown.staff] == [("coach-li", "coach")]
    desk = h.login("fd1", "long-enough-1")
    k1 = h.kiosk("k1", "s1")
    now = datetime.fromtimestamp(h.coord.clock.wall_ms() / 1000, UTC).astimezone(ZONE)
    # Two hours ago (started, over) and in two days: Li teaches both, Wang the third.
    past = (now - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    later = (now + timedelta(days=2)).replace(hour=18, minute=0, second=0, microsecond=0)
    slots = [_slot("li", past, "coach-li"), _slot("wang", past, "coach-wang")]
    slots.append(_slot("li2", later, "coach-li"))
    h.call("PUT", "/api/v1/stores/s1/timetable", json={"slots": slots}, expect=200)
    li_id, wang_id, li2_id = f"li:{past:%Y%m%d}", f"wang:{past:%Y%m%d}", f"li2:{later:%Y%m%d}"
    h.call("POST", f"/api/v1/stores/s1/sessions/{li2_id}/bookings", json={"member_id": "m1"},
           expect=201)  # fmt: skip

    # Li's week: only Li's sessions (the later one may fall in next week).
    for day in (past.date(), later.date()):
        mine = h.call("GET", "/api/v1/me/classes", params={"day": day.isoformat()}, headers=li)
        assert mine["coach"] == "coach-li"
        assert {s["class_session_id"] for s in mine["sessions"]} <= {li_id, li2_id}
    week = h.call("GET", "/api/v1/me/classes", params={"day": later.date().isoformat()},
                  headers=li)  # fmt: skip
    upcoming = next(s for s in week["sessions"] if s["class_session_id"] == li2_id)
    assert (upcoming["booked"], upcoming["taught"]) == (1, False)
    assert li_id in {
        s["class_session_id"]
        for s in h.call(
            "GET", "/api/v1/me/classes", params={"day": past.date().isoformat()}, headers=li
        )["sessions"]
    }
    # Not a coach: no "my classes".
    assert h.call("GET", "/api/v1/me/classes", headers=desk, expect=403)["error"]["code"] == (
        "coach_only"
    )
    # Rosters: Li reads Li's, not Wang's; the front desk reads both.
    roster = f"/api/v1/stores/s1/sessions/{li2_id}/roster"
    assert [e["member_id"] for e in h.call("GET", roster, headers=li)["booked"]] == ["m1"]
    other = h.call("GET", f"/api/v1/stores/s1/sessions/{wang_id}/roster", headers=li, expect=403)
    assert other["error"]["code"] == "not_your_class"
    h.call("GET", f"/api/v1/stores/s1/sessions/{wang_id}/roster", headers=desk)

    # Sign-ins to Li's class (m1, m2) and Wang's (m3) at the kiosk.
    for m, session in (("m1", li_id), ("m2", li_id), ("m3", wang_id)):
        k1.record(m, ClassSignIn(class_session_id=session, class_type="yoga", pass_id=f"p-{m}",
                                 sessions=1))  # fmt: skip
    k1.flush()

    def signed_in() -> int:
        with h.coord.db.read() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(schema.events)
                    .where(schema.events.c.kind == "class_signin")
                ).scalar_one()
            )

    assert k1.wait_for(lambda: signed_in() == 3)

    # Marking: not before the start, not somebody else's class, not the front desk.
    taught = "/api/v1/stores/s1/sessions/{}/taught"
    assert h.call("POST", taught.format(li2_id), headers=li, expect=422)["error"]["code"] == (
        "class_not_started"
    )
    assert h.call("POST", taught.format(wang_id), headers=li, expect=403)["error"]["code"] == (
        "not_your_class"
    )
    h.call("POST", taught.format(li_id), headers=desk, expect=403)
    h.call("POST", "/api/v1/stores/s2/sessions/x:20260101/taught", headers=li, expect=403)
    first = h.call("POST", taught.format(li_id), headers=li)
    assert (first["coach"], first["attendance"], first["marked_by"]) == ("coach-li", 2, "coach-li")
    # Marking again answers the first record; a manager (admin here) may mark Wang's.
    assert h.call("POST", taught.format(li_id), headers=li) == first
    assert h.call("POST", taught.format(wang_id))["attendance"] == 1
    with h.coord.db.read() as conn:
        audited = conn.execute(
            sa.select(schema.audit_log.c.actor, schema.audit_log.c.target).where(
                schema.audit_log.c.action == "class.taught"
            )
        ).all()
    assert sorted(audited) == [("admin", wang_id), ("coach-li", li_id)]

    # The commission report credits them: Li 1 class / 2 students, Wang 1 / 1 (by hand).
    report = h.coord.reports.build(store_id="s1", first=past.date(), last=now.date(), lang="en")
    table = report.table("classes_taught")
    assert table is not None
    assert [c.label for c in table.columns] == ["Coach", "Store", "Classes taught", "Attendance"]
    assert [r[0:1] + r[2:] for r in table.rows] == [
        ["coach-li", "1", "2"],
        ["coach-wang", "1", "1"],
    ]
    zh = h.coord.reports.build(store_id="s1", first=past.date(), last=now.date(), lang="zh")
    taught_zh = zh.table("classes_taught")
    assert taught_zh is not None and taught_zh.title == "教练授课"
