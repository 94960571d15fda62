"""Late-cancel and no-show penalties act, with an injected clock, on SQLite and PostgreSQL:
after a session is over (plus the grace hour) housekeeping deducts a session from the punch
pass of a late canceller (an audited hq adjustment event) and strikes a no-show, once per
booking however often it runs; a member who came, or cancelled in time, pays nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from coordinator import schema
from coordinator.app import create_app
from coordinator.ledger.booking_penalties import strikes
from coordinator.ledger.hq_events import HqFact
from coordinator.ledger.jsonrows import event_from_row, ledger_from_row
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal, Role
from coordinator.services import bookings, members, passes, rules, stores, timetables
from coordinator.services.passes import SellPass
from shared.booking import PENALTY_GRACE_MS, PENALTY_LOOKBACK_MS
from shared.events import Adjustment, ClassSignIn
from shared.model import BookingRules, Rules
from tests.dashboard.live import settings_for

ZONE = ZoneInfo("Asia/Shanghai")
START_MS = 1_780_000_000_000
HOUR_MS = 3_600_000
ADMIN = Principal("admin", Role.HQ_ADMIN, None)


class SetClock:
    """A wall clock the test moves."""

    def __init__(self, ms: int):
        self.ms = ms

    def wall_ms(self) -> int:
        """The set time."""
        return self.ms


@pytest.fixture
def studio(tmp_path: Path, database: Any) -> Iterator[tuple[Coordinator, SetClock]]:
    """A coordinator (no MQTT) with store s1 and members m1..m4, each with a 10x yoga pass."""
    clock = SetClock(START_MS)
    app = create_app(settings_for(tmp_path, None), database=database, clock=clock)
    with TestClient(app):
        coord: Coordinator = app.state.coordinator
        stores.create_store(coord, ADMIN, stores.NewStore(store_id="s1", name="s1"))
        for m in ("m1", "m2", "m3", "m4"):
            body = members.NewMember(member_id=m, display_name=m, home_store_id="s1")
            members.create_member(coord, ADMIN, body)
            sale = SellPass(pass_id=f"p-{m}", kind="punch", name="10x", sessions_total=10,
                            valid_from_ms=START_MS - 86_400_000,
                            valid_until_ms=START_MS + 90 * 86_400_000)  # fmt: skip
            passes.sell_pass(coord, ADMIN, m, sale)
        yield coord, clock


def _left(coord: Coordinator, member_id: str) -> int:
    """Sessions left on the member's pass in the coordinator's folded ledger."""
    ms = schema.member_states
    with coord.db.read() as conn:
        row = conn.execute(sa.select(ms.c.ledger).where(ms.c.member_id == member_id)).scalar()
    return ledger_from_row(row).passes[0].sessions_left


def test_late_cancel_deducts_and_no_show_strikes_once(
    studio: tuple[Coordinator, SetClock],
) -> None:
    coord, clock = studio
    chain = Rules(booking=BookingRules(cancel_cutoff_min=120, late_cancel_penalty="deduct_session",
                                       no_show_penalty="strike"))  # fmt: skip
    rules.rollout_rules(coord, ADMIN, rules.Draft(rules=chain))
    start = datetime.fromtimestamp((START_MS + 86_400_000) / 1000, UTC).astimezone(ZONE)
    start = start.replace(hour=18, minute=0, second=0, microsecond=0)
    slot = {"slot_id": "yoga", "room": "a", "class_type": "yoga", "title_zh": "瑜伽",
            "title_en": "Yoga", "coach": "coach-li", "weekday": start.weekday(),
            "start": "18:00", "length_min": 60, "capacity": 10}  # fmt: skip
    body = timetables.TimetableIn.model_validate({"slots": [slot]})
    timetables.put_timetable(coord, ADMIN, "s1", body)
    session = f"yoga:{start:%Y%m%d}"
    starts_ms = int(start.timestamp() * 1000)
    for m in ("m1", "m2", "m3", "m4"):
        bookings.book(coord, ADMIN, "s1", session, bookings.BookIn(member_id=m))
    # m4 cancels in time (nothing owed); m3 an hour before the start (late).
    assert not bookings.cancel(coord, ADMIN, "s1", session, "m4").late
    clock.ms = starts_ms - HOUR_MS
    assert bookings.cancel(coord, ADMIN, "s1", session, "m3").late
    # m1 comes (a folded sign-in); m2 never does.
    clock.ms = starts_ms + 60_000
    signin = ClassSignIn(class_session_id=session, class_type="yoga", pass_id="p-m1", sessions=1)
    with coord.db.write() as conn:
        coord.recorder.record(conn, [HqFact("m1", signin, "s1")], clock.ms)
    before = {m: _left(coord, m) for m in ("m1", "m2", "m3", "m4")}
    assert before == {"m1": 9, "m2": 10, "m3": 10, "m4": 10}

    # A booking of a session that ended long before penalties were on is never judged.
    old_start = starts_ms - PENALTY_LOOKBACK_MS - 3 * HOUR_MS
    with coord.db.write() as conn:
        conn.execute(
            sa.insert(schema.class_bookings).values(
                class_session_id=f"yoga:{datetime.fromtimestamp(old_start / 1000, ZONE):%Y%m%d}",
                member_id="m4", store_id="s1", status="booked", class_type="yoga",
                starts_ms=old_start, ends_ms=old_start + HOUR_MS, queued_ms=old_start - HOUR_MS,
                updated_ms=old_start - HOUR_MS, updated_by="admin",
            )
        )  # fmt: skip
    # Over, but within the grace hour: nothing judged yet.
    clock.ms = starts_ms + HOUR_MS + PENALTY_GRACE_MS - 1
    coord.housekeeping()
    with coord.db.read() as conn:
        assert conn.execute(sa.select(schema.booking_penalties)).first() is None

    clock.ms = starts_ms + HOUR_MS + PENALTY_GRACE_MS
    coord.housekeeping()
    coord.housekeeping()  # once per booking, however often it runs
    clock.ms += 3 * HOUR_MS
    coord.housekeeping()

    after = {m: _left(coord, m) for m in ("m1", "m2", "m3", "m4")}
    assert after == {"m1": 9, "m2": 10, "m3": 9, "m4": 10}
    with coord.db.read() as conn:
        judged = {
            r.member_id: (r.reason, r.penalty)
            for r in conn.execute(sa.select(schema.booking_penalties))
        }
        assert judged == {
            "m1": ("attended", "none"),
            "m2": ("no_show", "strike"),
            "m3": ("late_cancel", "deduct_session"),
        }
        assert (strikes(conn, "m2"), strikes(conn, "m3")) == (1, 0)
        audit = conn.execute(
            sa.select(schema.audit_log.c.actor, schema.audit_log.c.action).where(
                schema.audit_log.c.target == session,
                schema.audit_log.c.action.like("booking.%_%"),
                schema.audit_log.c.actor == "housekeeping",
            )
        ).all()
        assert sorted(audit) == [
            ("housekeeping", "booking.late_cancel"),
            ("housekeeping", "booking.no_show"),
        ]
    adjustments = [e for e in coord_events(coord, "m3") if isinstance(e.body, Adjustment)]
    assert len(adjustments) == 1
    assert adjustments[0].kiosk_id == "hq"
    assert (adjustments[0].body.pass_id, adjustments[0].body.sessions_delta) == ("p-m3", -1)


def test_a_member_without_a_punch_pass_gets_a_strike(studio: tuple[Coordinator, SetClock]) -> None:
    from shared.booking import BookingStatus, penalty_due
    from shared.model import MemberLedger

    deduct = BookingRules(late_cancel_penalty="deduct_session", no_show_penalty="none")
    empty = MemberLedger()
    late = penalty_due(BookingStatus.LATE_CANCELLED, False, empty, "yoga", "s1", START_MS, deduct)
    assert (late.reason, late.penalty, late.pass_id) == ("late_cancel", "strike", None)
    missed = penalty_due(BookingStatus.BOOKED, False, empty, "yoga", "s1", START_MS, deduct)
    assert (missed.reason, missed.penalty) == ("no_show", "none")
    came = penalty_due(BookingStatus.BOOKED, True, empty, "yoga", "s1", START_MS, deduct)
    assert (came.reason, came.penalty) == ("attended", "none")


def coord_events(coord: Coordinator, member_id: str) -> list[Any]:
    ev = schema.events
    with coord.db.read() as conn:
        rows = conn.execute(sa.select(ev.c.body).where(ev.c.member_id == member_id)).scalars()
        return [event_from_row(r) for r in rows]


def test_waitlist_conversions_and_peak_hours_by_hand(studio: tuple[Coordinator, SetClock]) -> None:
    """Seeded: yoga at 18:00 for two (m1, m2 booked; m3, m4 on the waitlist; m1 cancels in
    time and m3 is promoted; m2 and m3 come) and spin at 09:00 the same day (m4 walks in).
    By hand: yoga had 1 class with a waitlist, 2 joined, 1 promoted (50.0%), 1 of them came;
    the heat map's row of that weekday is 1 at 09:00 and 2 at 18:00, every other cell 0."""
    coord, clock = studio
    start = datetime.fromtimestamp((START_MS + 86_400_000) / 1000, UTC).astimezone(ZONE)
    start = start.replace(hour=18, minute=0, second=0, microsecond=0)
    base = {"title_zh": "课", "title_en": "Class", "coach": "coach-li",
            "weekday": start.weekday(), "length_min": 60}  # fmt: skip
    slots = [
        {**base, "slot_id": "yoga", "room": "a", "class_type": "yoga", "start": "18:00",
         "capacity": 2},
        {**base, "slot_id": "spin", "room": "b", "class_type": "spin", "start": "09:00",
         "capacity": 10},
    ]  # fmt: skip
    timetables.put_timetable(
        coord, ADMIN, "s1", timetables.TimetableIn.model_validate({"slots": slots})
    )
    yoga, spin = f"yoga:{start:%Y%m%d}", f"spin:{start:%Y%m%d}"
    states = [bookings.book(coord, ADMIN, "s1", yoga, bookings.BookIn(member_id=m)).status
              for m in ("m1", "m2", "m3", "m4")]  # fmt: skip
    assert states == ["booked", "booked", "waitlisted", "waitlisted"]
    promoted = bookings.cancel(coord, ADMIN, "s1", yoga, "m1").promoted
    assert promoted is not None and promoted.member_id == "m3"
    clock.ms = int(start.timestamp() * 1000)
    facts = [
        HqFact(m, ClassSignIn(class_session_id=s, class_type=t, pass_id=f"p-{m}", sessions=1),
               "s1")
        for m, s, t in (("m2", yoga, "yoga"), ("m3", yoga, "yoga"), ("m4", spin, "spin"))
    ]  # fmt: skip
    with coord.db.write() as conn:
        coord.recorder.record(conn, facts, clock.ms)

    for lang, day in (("en", "Mon"), ("zh", "周一")):
        report = coord.reports.build(store_id="s1", first=start.date(), last=start.date(),
                                     lang=lang)  # fmt: skip
        waitlist = report.table("waitlist_conversions")
        assert waitlist is not None and waitlist.rows == [["yoga", "1", "2", "1", "50.0%", "1"]]
        peak = report.table("peak_hours")
        assert peak is not None
        assert [c.label for c in peak.columns][1:] == ["09:00", "18:00"]
        assert peak.rows[0][0] == day
        expected = [["0", "0"] for _ in range(7)]
        expected[start.weekday()] = ["1", "2"]
        assert [r[1:] for r in peak.rows] == expected
    en = coord.reports.build(store_id="s1", first=start.date(), last=start.date(), lang="en")
    section = next(s for s in en.sections if s.key == "classes")
    assert any("Peak hours" in chart for chart in section.charts)
