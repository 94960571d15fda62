"""The class fill report on seeded data, checked by hand: fill rate per class type, coach
and hour, with bookings and no-shows (booked, never signed in, once sign-in has closed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from coordinator import schema
from shared.events import ClassSignIn
from tests.coordinator.harness import Harness

ZONE = ZoneInfo("Asia/Shanghai")


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


def test_fill_and_no_show_rates_by_type_coach_and_hour(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    for m in ("m1", "m2", "m3", "m4"):
        h.add_member(m)
        h.sell_pass(m, f"p-{m}", 10)
    k1 = h.kiosk("k1", "s1")
    now = datetime.fromtimestamp(h.coord.clock.wall_ms() / 1000, UTC).astimezone(ZONE)
    past = (now - timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    soon = now + timedelta(minutes=20)
    h.call(
        "PUT",
        "/api/v1/stores/s1/timetable",
        json={"slots": [_slot("past", past, "coach-li"), _slot("soon", soon, "coach-wang")]},
        expect=200,
    )
    past_id, soon_id = f"past:{past:%Y%m%d}", f"soon:{soon:%Y%m%d}"
    start_ms = int(past.timestamp() * 1000)
    with h.coord.db.write() as conn:  # booked before yesterday's class
        for m in ("m1", "m2", "m3"):
            conn.execute(
                sa.insert(schema.class_bookings).values(
                    class_session_id=past_id,
                    member_id=m,
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
    # Yesterday: m1 (booked) and m4 (walk-in) signed in; m2 and m3 never came.
    for m in ("m1", "m4"):
        k1.record(
            m,
            ClassSignIn(class_session_id=past_id, class_type="yoga", pass_id=f"p-{m}", sessions=1),
        )
    k1.flush()
    # Today: m1 booked and signed in at the kiosk; sign-in is still open (no no-shows yet).
    h.call(
        "POST", f"/api/v1/stores/s1/sessions/{soon_id}/bookings", json={"member_id": "m2"},
        expect=201,
    )  # fmt: skip
    assert k1.wait_for(
        lambda: (
            k1.bundle is not None
            and (c := k1.bundle.class_session(soon_id)) is not None
            and c.booked == ("m2",)
        )
    )
    k1.tap("m1")
    assert k1.wait_settled()

    report = h.coord.reports.build(store_id="s1", first=past.date(), last=now.date(), lang="en")
    fill = report.table("class_fill")
    assert fill is not None
    assert [c.label for c in fill.columns] == [
        "Class type", "Coach", "Hour", "Classes held", "Capacity", "Attended", "Fill",
        "Booked", "No-shows", "No-show rate",
    ]  # fmt: skip
    assert fill.rows == [
        ["yoga", "coach-li", "09:00", "1", "4", "2", "50.0%", "3", "2", "66.7%"],
        ["yoga", "coach-wang", f"{soon:%H}:00", "1", "4", "1", "25.0%", "0", "0", "—"],
    ]
    assert "No-show rate" in fill.csv().splitlines()[0]
