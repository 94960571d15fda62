"""The weekly timetable: validation, and expansion into sessions across clock changes.

Property tests drive random timetables over random date ranges in zones with daylight
saving (north and south, midnight changes in Santiago, a 30-minute change on Lord Howe)
and one without, around month ends and the year's clock changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.local_days import local_instant
from shared.model import ClassSession, RuleBundle, Rules
from shared.timetable import (
    Closure,
    SessionCancelled,
    SubstituteCoach,
    Timetable,
    TimetableError,
    WeeklySlot,
    cancelled_on,
    expand,
    layer_store,
)

ZONES = [
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Asia/Shanghai",
]


def slot(slot_id: str = "yoga-mon", **over: object) -> WeeklySlot:
    fields: dict[str, object] = {
        "slot_id": slot_id,
        "room": "studio-a",
        "class_type": "yoga",
        "title_zh": "瑜伽",
        "title_en": "Yoga",
        "coach": "coach-li",
        "weekday": 0,
        "start": "18:30",
        "length_min": 60,
        "capacity": 12,
        "drop_in_price_fen": 8800,
    }
    fields.update(over)
    return WeeklySlot.model_validate(fields)


def wall(instant_ms: int, zone: str) -> datetime:
    return datetime.fromtimestamp(instant_ms / 1000, UTC).astimezone(ZoneInfo(zone))


# --- validation --------------------------------------------------------------------------


def test_a_weekly_slot_expands_to_dated_sessions_in_store_time() -> None:
    table = Timetable(store_id="s1", timezone="Asia/Shanghai", slots=(slot(),))
    sessions = expand(table, date(2026, 11, 30), date(2026, 12, 13))
    assert [s.class_session_id for s in sessions] == ["yoga-mon:20261130", "yoga-mon:20261207"]
    first = sessions[0]
    # 18:30 in Shanghai (UTC+8) is 10:30 UTC.
    assert first.starts_ms == int(datetime(2026, 11, 30, 10, 30, tzinfo=UTC).timestamp() * 1000)
    assert first.ends_ms - first.starts_ms == 3_600_000
    assert (first.capacity, first.instructor, first.room) == (12, "coach-li", "studio-a")
    assert (first.slot_id, first.drop_in_price_fen, first.store_id) == ("yoga-mon", 8800, "s1")


@pytest.mark.parametrize("capacity", [0, -1])
def test_capacity_zero_or_negative_is_refused(capacity: int) -> None:
    with pytest.raises(ValidationError) as err:
        slot(capacity=capacity)
    assert err.value.errors()[0]["loc"] == ("capacity",)


def test_a_session_longer_than_a_day_is_refused() -> None:
    assert slot(length_min=1440).length_min == 1440
    with pytest.raises(ValidationError) as err:
        slot(length_min=1441)
    assert err.value.errors()[0]["loc"] == ("length_min",)


def test_overlapping_slots_in_one_room_are_refused() -> None:
    with pytest.raises(ValidationError, match="yoga-mon and spin-mon overlap in room studio-a"):
        Timetable(store_id="s1", slots=(slot(), slot("spin-mon", start="19:00")))


def test_slots_that_touch_or_use_other_rooms_are_fine() -> None:
    table = Timetable(
        store_id="s1",
        slots=(
            slot(),
            slot("spin-mon", start="19:30"),
            slot("pilates-mon", start="18:30", room="studio-b"),
        ),
    )
    assert len(expand(table, date(2026, 11, 30), date(2026, 11, 30))) == 3


def test_a_late_class_running_past_midnight_clashes_with_the_next_morning() -> None:
    late = slot("late-sun", weekday=6, start="23:00", length_min=120)
    early = slot("early-mon", weekday=0, start="00:30")
    with pytest.raises(ValidationError, match="overlap"):
        Timetable(store_id="s1", slots=(late, early))


def test_slots_running_in_different_seasons_do_not_clash() -> None:
    summer = slot(last_day=date(2026, 8, 31))
    autumn = slot("spin-mon", start="19:00", first_day=date(2026, 9, 7))
    table = Timetable(store_id="s1", slots=(summer, autumn))
    days = expand(table, date(2026, 8, 31), date(2026, 9, 7))
    assert [s.class_session_id for s in days] == ["yoga-mon:20260831", "spin-mon:20260907"]


def test_exceptions_naming_unknown_slots_and_unknown_zones_are_refused() -> None:
    with pytest.raises(ValidationError, match="unknown slot"):
        Timetable(
            store_id="s1",
            slots=(slot(),),
            exceptions=(SessionCancelled(slot_id="nope", day=date(2026, 11, 30)),),
        )
    with pytest.raises(ValidationError, match="unknown time zone"):
        Timetable(store_id="s1", timezone="Mars/Olympus", slots=(slot(),))
    with pytest.raises(ValidationError, match="appears twice"):
        Timetable(store_id="s1", slots=(slot(), slot(room="studio-b")))


def test_expand_refuses_a_reversed_or_huge_range() -> None:
    table = Timetable(store_id="s1", slots=(slot(),))
    with pytest.raises(TimetableError):
        expand(table, date(2026, 12, 2), date(2026, 12, 1))
    with pytest.raises(TimetableError):
        expand(table, date(2026, 1, 1), date(2027, 6, 1))


def test_cancelled_substitute_and_holiday_week() -> None:
    table = Timetable(
        store_id="s1",
        slots=(slot(), slot("spin-wed", weekday=2, room="studio-b")),
        exceptions=(
            SessionCancelled(slot_id="yoga-mon", day=date(2026, 12, 7)),
            SubstituteCoach(slot_id="spin-wed", day=date(2026, 12, 9), coach="coach-wang"),
            Closure(first_day=date(2026, 12, 28), last_day=date(2027, 1, 3)),
            Closure(first_day=date(2026, 12, 16), last_day=date(2026, 12, 16), room="studio-b"),
        ),
    )
    sessions = expand(table, date(2026, 12, 7), date(2027, 1, 10))
    ids = [s.class_session_id for s in sessions]
    assert ids == [
        "spin-wed:20261209",
        "yoga-mon:20261214",
        "yoga-mon:20261221",
        "spin-wed:20261223",
        "yoga-mon:20270104",
        "spin-wed:20270106",
    ]
    coaches = {s.class_session_id: s.instructor for s in sessions}
    assert coaches["spin-wed:20261209"] == "coach-wang"
    assert coaches["spin-wed:20261223"] == "coach-li"
    assert cancelled_on(table, "yoga-mon", date(2026, 12, 7))
    assert cancelled_on(table, "spin-wed", date(2026, 12, 30))
    assert cancelled_on(table, "spin-wed", date(2026, 12, 16))
    assert not cancelled_on(table, "yoga-mon", date(2026, 12, 14))


# --- clock changes, by hand ----------------------------------------------------------------


def test_a_skipped_wall_time_starts_when_the_clocks_resume() -> None:
    # New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    instant = local_instant(date(2026, 3, 8), 2 * 60 + 30, "America/New_York")
    assert instant == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT
    # A repeated wall time (2026-11-01, 01:30 happens twice) is its first occurrence.
    instant = local_instant(date(2026, 11, 1), 90, "America/New_York")
    assert instant == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT


def test_a_class_across_the_clock_change_keeps_its_wall_clock_times() -> None:
    zone = "Europe/Berlin"
    # 2026-03-29 is a Sunday: 02:00 CET becomes 03:00 CEST.
    table = Timetable(
        store_id="s1",
        timezone=zone,
        slots=(
            slot("night", weekday=6, start="01:30", length_min=90),
            slot("gap", weekday=6, start="02:00", length_min=30, room="studio-b"),
            slot("day", weekday=6, start="10:00", length_min=60),
        ),
    )
    spring = {s.slot_id: s for s in expand(table, date(2026, 3, 29), date(2026, 3, 29))}
    assert "gap" not in spring  # 02:00-02:30 does not exist that night
    night = spring["night"]
    assert wall(night.starts_ms, zone).strftime("%H:%M") == "01:30"
    assert wall(night.ends_ms, zone).strftime("%H:%M") == "03:00"
    assert night.ends_ms - night.starts_ms == 30 * 60_000
    assert spring["day"].ends_ms - spring["day"].starts_ms == 60 * 60_000
    # 2026-10-25: 03:00 CEST goes back to 02:00 CET; 01:30-03:00 lasts two and a half hours.
    autumn = {s.slot_id: s for s in expand(table, date(2026, 10, 25), date(2026, 10, 25))}
    assert autumn["night"].ends_ms - autumn["night"].starts_ms == 150 * 60_000
    assert autumn["gap"].ends_ms - autumn["gap"].starts_ms == 30 * 60_000


# --- properties ------------------------------------------------------------------------------


NIGHT_STARTS = [d * 1440 + m for d in (5, 6) for m in range(0, 240, 15)]
"""Saturday and Sunday nights, where clocks change (Santiago's at midnight)."""


@st.composite
def weekly_slots(draw: st.DrawFn) -> tuple[WeeklySlot, ...]:
    """Up to 8 slots in two rooms, packed so that no room overlaps, often starting on the
    weekend nights when clocks change."""
    week = 7 * 1440
    slots: list[WeeklySlot] = []
    for room in ("a", "b"):
        origin = draw(st.one_of(st.sampled_from(NIGHT_STARTS), st.integers(0, week - 1)))
        cursor = origin
        for i in range(draw(st.integers(0, 4))):
            length = draw(st.sampled_from([15, 30, 45, 60, 90, 150, 1440]))
            begin = cursor + draw(st.one_of(st.just(0), st.integers(0, 900)))
            # Keep the room's week free of overlap, its last slot included when it wraps.
            if begin + length > origin + week:
                break
            cursor = begin + length
            weekday, minute = divmod(begin % week, 1440)
            slots.append(
                slot(
                    f"{room}{i}",
                    room=room,
                    weekday=weekday,
                    start=f"{minute // 60:02d}:{minute % 60:02d}",
                    length_min=length,
                )
            )
    return tuple(slots)


@cache
def clock_changes(zone: str) -> list[date]:
    """The days of 2025-2027 on which ``zone``'s offset changes (found, not hard-coded)."""
    tz = ZoneInfo(zone)
    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(3 * 366)]
    noon = [datetime(d.year, d.month, d.day, 12, tzinfo=tz).utcoffset() for d in days]
    return [days[i] for i in range(1, len(days)) if noon[i] != noon[i - 1]]


@st.composite
def zone_and_first_day(draw: st.DrawFn) -> tuple[str, date]:
    """A zone and a first day near one of its clock changes or near a month end."""
    zone = draw(st.sampled_from(ZONES))
    month_starts = [date(y, m, 1) for y in (2025, 2026, 2027) for m in range(1, 13)]
    pivot = draw(st.sampled_from(clock_changes(zone) or month_starts))
    if draw(st.booleans()):
        pivot = draw(st.sampled_from(month_starts))
    return zone, pivot + timedelta(days=draw(st.integers(-8, 3)))


def _offset(instant_ms: int, zone: str) -> timedelta:
    offset = wall(instant_ms, zone).utcoffset()
    assert offset is not None
    return offset


def _slot_of(table: Timetable, slot_id: str | None) -> WeeklySlot:
    assert slot_id is not None
    found = table.slot(slot_id)
    assert found is not None
    return found


@settings(max_examples=300, deadline=None)
@given(
    where=zone_and_first_day(),
    slots=weekly_slots(),
    span=st.integers(0, 45),
    cut=st.integers(0, 45),
)
def test_expansion_properties(
    where: tuple[str, date], slots: tuple[WeeklySlot, ...], span: int, cut: int
) -> None:
    zone, first = where
    table = Timetable(store_id="s1", timezone=zone, slots=slots)
    last = first + timedelta(days=span)
    sessions = expand(table, first, last)
    tz = ZoneInfo(zone)

    # Ids are unique and every session belongs to a day in range on its slot's weekday.
    assert len({s.class_session_id for s in sessions}) == len(sessions)
    for s in sessions:
        day = date.fromisoformat(
            f"{s.class_session_id[-8:-4]}-{s.class_session_id[-4:-2]}-{s.class_session_id[-2:]}"
        )
        source = _slot_of(table, s.slot_id)
        assert first <= day <= last and day.weekday() == source.weekday
        wall_start = datetime(day.year, day.month, day.day) + timedelta(minutes=source.start_minute)
        wall_end = wall_start + timedelta(minutes=source.length_min)
        local_start = wall(s.starts_ms, zone).replace(tzinfo=None)
        local_end = wall(s.ends_ms, zone).replace(tzinfo=None)
        # The clocks read the slot's times, unless that reading never happened (then the
        # first instant after it): never earlier, never before the preceding second.
        assert local_start >= wall_start and local_end >= wall_end
        before = datetime.fromtimestamp(s.starts_ms / 1000 - 1, UTC).astimezone(tz)
        assert before.replace(tzinfo=None) < wall_start
        if local_start == wall_start and local_end == wall_end:
            # Real length is the wall length less the change of offset in between.
            offset_change = _offset(s.ends_ms, zone) - _offset(s.starts_ms, zone)
            real = timedelta(milliseconds=s.ends_ms - s.starts_ms)
            assert real == timedelta(minutes=source.length_min) - offset_change
        assert s.ends_ms > s.starts_ms

    # No two sessions of one room overlap in real time.
    by_room: dict[str | None, list[tuple[int, int]]] = {}
    for s in sessions:
        by_room.setdefault(s.room, []).append((s.starts_ms, s.ends_ms))
    for spans in by_room.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in pairwise(spans))

    # Every running day of every slot yields its session unless the hour is skipped.
    expected = sum(
        1 for i in range(span + 1) for sl in slots if sl.runs_on(first + timedelta(days=i))
    )
    assert len(sessions) <= expected
    if zone == "Asia/Shanghai":
        assert len(sessions) == expected

    # Expanding two adjacent ranges gives exactly the union (month ends included).
    split = first + timedelta(days=min(cut, span))
    if split < last:
        halves = expand(table, first, split) + expand(table, split + timedelta(days=1), last)
        assert sorted(halves, key=lambda s: s.class_session_id) == sorted(
            sessions, key=lambda s: s.class_session_id
        )


def test_layering_keeps_chain_rules_and_replaces_timetable_sessions() -> None:
    listed = ClassSession(
        class_session_id="workshop",
        class_type="yoga",
        store_id="s1",
        title_zh="工作坊",
        title_en="Workshop",
        starts_ms=1,
        ends_ms=2,
    )
    elsewhere = listed.model_copy(update={"class_session_id": "other", "store_id": "s2"})
    table = Timetable(store_id="s1", slots=(slot(),))
    old = expand(table, date(2026, 11, 23), date(2026, 11, 23))[0]
    chain = RuleBundle(
        version=7, rules=Rules(points_per_checkin=5), classes=(listed, elsewhere, old)
    )
    new = expand(table, date(2026, 11, 30), date(2026, 12, 6))
    layered = layer_store(chain, "s1", new)
    assert layered.store_ids == ("s1",)
    assert layered.rules.points_per_checkin == 5 and layered.version == 7
    # The store's own listed class stays; another store's class and the old timetable
    # session (a previous layering's) go; the new sessions come on top.
    assert [c.class_session_id for c in layered.classes] == ["workshop", "yoga-mon:20261130"]
