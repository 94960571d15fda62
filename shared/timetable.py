"""A store's weekly class timetable and its expansion into dated class sessions.

Pure: no IO. A studio runs the same week again and again, so a timetable is a set of
weekly slots (room, class type, coach, store-local start time, length, capacity, sign-in
window, drop-in price in fen) plus exceptions (a cancelled session, a substitute coach, a
closure such as a holiday week). :func:`expand` turns it into the
:class:`~shared.model.ClassSession` values a rule bundle carries.

Daylight saving: a studio runs by its wall clock. A session starts and ends when the
store's clocks read the slot's start and end; both are resolved to UTC with one rule
(:func:`shared.local_days.local_instant`): a wall time that happens twice (clocks go back)
means its first occurrence, a wall time that never happens (clocks go forward) means the
first instant after the skipped span. That mapping never goes backwards in time, so slots
that do not overlap on the wall clock never overlap in real time either. The price: a session that
spans a clock change lasts its length minus the change (a 90-minute class across a
spring-forward hour lasts 30 real minutes, across a fall-back hour 150), and a session
that lies wholly inside a skipped span is not held that day (the hour does not exist).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, StringConstraints, field_validator, model_validator

from shared.local_days import local_instant
from shared.model import ClassSession, Count, Frozen, Id, RuleBundle, Text

WEEK_MINUTES = 7 * 1440
MAX_EXPAND_DAYS = 400
"""Longest range :func:`expand` accepts in one call (a year and a month)."""
HORIZON_DAYS = 21
"""Days of sessions a store's rule bundle carries (from yesterday on): enough for a kiosk
offline three weeks; the coordinator re-layers well before it runs out."""

SlotId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,48}$")]
"""A weekly slot's id; a session id is ``<slot_id>:<YYYYMMDD>`` and must fit an ``Id``."""

LocalTime = Annotated[str, StringConstraints(pattern=r"^(?:[01]\d|2[0-3]):[0-5]\d$")]
"""A store-local wall-clock time, ``HH:MM`` (24 h)."""

Weekday = Literal[0, 1, 2, 3, 4, 5, 6]
"""Monday is 0, Sunday is 6 (``date.weekday()``)."""


class TimetableError(ValueError):
    """A timetable that cannot be held (overlap, unknown slot, bad range). ``field`` names
    the offending part for the API's error envelope."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone_exists(name: str) -> bool:
    """True when ``name`` is an IANA time zone this machine knows."""
    try:
        _zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


class WeeklySlot(Frozen):
    """One class held every week in one room at one store-local time."""

    slot_id: SlotId
    room: Id
    class_type: Id
    title_zh: Text
    title_en: Text
    coach: Text = ""
    """The coach's staff id or name (the front-desk issue's staff account)."""
    weekday: Weekday
    start: LocalTime
    length_min: Annotated[int, Field(ge=1, le=1440)]
    """Wall-clock minutes; at most a day."""
    capacity: Annotated[int, Field(ge=1, le=10_000)]
    signin_opens_before_s: Annotated[int, Field(ge=0, le=86_400)] = 1800
    signin_closes_after_s: Annotated[int, Field(ge=0, le=86_400)] = 900
    drop_in_price_fen: Count = 0
    first_day: date | None = None
    """First store-local day the slot runs (None: since always)."""
    last_day: date | None = None
    """Last store-local day the slot runs (None: until further notice)."""

    @model_validator(mode="after")
    def _days_in_order(self) -> WeeklySlot:
        if self.first_day and self.last_day and self.last_day < self.first_day:
            raise ValueError("last_day is before first_day")
        return self

    @property
    def start_minute(self) -> int:
        """Minutes after local midnight the slot starts."""
        hours, minutes = self.start.split(":")
        return int(hours) * 60 + int(minutes)

    def week_interval(self) -> tuple[int, int]:
        """``[start, end)`` in minutes after Monday 00:00 (end may pass the week's end)."""
        begin = self.weekday * 1440 + self.start_minute
        return begin, begin + self.length_min

    def runs_on(self, day: date) -> bool:
        """True when the slot's weekday is ``day``'s and ``day`` is within its validity."""
        return (
            day.weekday() == self.weekday
            and (self.first_day is None or day >= self.first_day)
            and (self.last_day is None or day <= self.last_day)
        )


class SessionCancelled(Frozen):
    """One dated session of a slot is not held."""

    kind: Literal["cancelled"] = "cancelled"
    slot_id: SlotId
    day: date
    note: Text = ""


class SubstituteCoach(Frozen):
    """One dated session of a slot is taught by another coach."""

    kind: Literal["substitute"] = "substitute"
    slot_id: SlotId
    day: date
    coach: Text


class Closure(Frozen):
    """No class is held on these days (a holiday week), in one room or the whole store."""

    kind: Literal["closure"] = "closure"
    first_day: date
    last_day: date
    room: Id | None = None
    note: Text = ""

    @model_validator(mode="after")
    def _days_in_order(self) -> Closure:
        if self.last_day < self.first_day:
            raise ValueError("last_day is before first_day")
        return self

    def covers(self, day: date, room: str) -> bool:
        """True when this closure stops classes in ``room`` on ``day``."""
        return self.first_day <= day <= self.last_day and self.room in (None, room)


TimetableException = Annotated[
    SessionCancelled | SubstituteCoach | Closure, Field(discriminator="kind")
]


class Timetable(Frozen):
    """A store's weekly timetable, in the store's time zone.

    Refused on construction: two slots of one room overlapping on the wall clock in any
    week both run (including a late class running past midnight into the next day's first
    one), and exceptions naming a slot that does not exist.
    """

    store_id: Id
    timezone: Annotated[str, StringConstraints(max_length=64)] = "Asia/Shanghai"
    slots: Annotated[tuple[WeeklySlot, ...], Field(max_length=500)] = ()
    exceptions: Annotated[tuple[TimetableException, ...], Field(max_length=5000)] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not zone_exists(value):
            raise ValueError(f"unknown time zone {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Timetable:
        ids = [s.slot_id for s in self.slots]
        duplicate = next((i for i in ids if ids.count(i) > 1), None)
        if duplicate is not None:
            raise ValueError(f"slot {duplicate} appears twice")
        clash = find_overlap(self.slots)
        if clash is not None:
            a, b = clash
            raise ValueError(
                f"slots {a.slot_id} and {b.slot_id} overlap in room {a.room} "
                f"(weekday {a.weekday} {a.start} for {a.length_min} min, "
                f"weekday {b.weekday} {b.start} for {b.length_min} min)"
            )
        known = set(ids)
        for exc in self.exceptions:
            if isinstance(exc, SessionCancelled | SubstituteCoach) and exc.slot_id not in known:
                raise ValueError(f"exception names unknown slot {exc.slot_id}")
        return self

    def slot(self, slot_id: str) -> WeeklySlot | None:
        """The slot with this id, or None."""
        return next((s for s in self.slots if s.slot_id == slot_id), None)


def _validity_meets(a: WeeklySlot, b: WeeklySlot) -> bool:
    """True when some week has both slots running (their validity ranges, widened by a
    day because a slot may run past midnight into the other's first day)."""
    lo_a = a.first_day or date.min
    hi_a = a.last_day or date.max
    lo_b = b.first_day or date.min
    hi_b = b.last_day or date.max
    slack = timedelta(days=1)
    return lo_a <= _add_days(hi_b, slack) and lo_b <= _add_days(hi_a, slack)


def _add_days(day: date, delta: timedelta) -> date:
    return date.max if day > date.max - delta else day + delta


def find_overlap(slots: tuple[WeeklySlot, ...]) -> tuple[WeeklySlot, WeeklySlot] | None:
    """The first pair of slots in one room whose weekly wall-clock intervals overlap, or
    None. Touching (one ends as the next starts) is not an overlap."""
    for i, a in enumerate(slots):
        a0, a1 = a.week_interval()
        for b in slots[i + 1 :]:
            if a.room != b.room or not _validity_meets(a, b):
                continue
            b0, b1 = b.week_interval()
            # The week wraps: compare b against a shifted a week either way.
            for shift in (-WEEK_MINUTES, 0, WEEK_MINUTES):
                if a0 + shift < b1 and b0 < a1 + shift:
                    return a, b
    return None


def _days(first_day: date, last_day: date) -> Iterator[date]:
    day = first_day
    while day <= last_day:
        yield day
        day += timedelta(days=1)


def session_id(slot_id: str, day: date) -> str:
    """The class session id of ``slot_id`` on store-local ``day``."""
    return f"{slot_id}:{day:%Y%m%d}"


def _ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def expand(timetable: Timetable, first_day: date, last_day: date) -> tuple[ClassSession, ...]:
    """The sessions held on store-local days ``first_day`` .. ``last_day`` (inclusive),
    ordered by start then id.

    A session belongs to the day it starts on. Cancelled sessions and closures are left
    out; a substitute coach replaces the slot's coach for that day. Expanding two adjacent
    ranges gives exactly the sessions of their union.
    """
    if last_day < first_day:
        raise TimetableError("last_day is before first_day", field="last_day")
    if (last_day - first_day).days >= MAX_EXPAND_DAYS:
        raise TimetableError(f"at most {MAX_EXPAND_DAYS} days at once", field="last_day")
    cancelled = {
        (e.slot_id, e.day) for e in timetable.exceptions if isinstance(e, SessionCancelled)
    }
    substitutes = {
        (e.slot_id, e.day): e.coach for e in timetable.exceptions if isinstance(e, SubstituteCoach)
    }
    closures = [e for e in timetable.exceptions if isinstance(e, Closure)]
    sessions: list[ClassSession] = []
    for day in _days(first_day, last_day):
        for slot in timetable.slots:
            if not slot.runs_on(day) or (slot.slot_id, day) in cancelled:
                continue
            if any(c.covers(day, slot.room) for c in closures):
                continue
            starts = local_instant(day, slot.start_minute, timetable.timezone)
            ends = local_instant(day, slot.start_minute + slot.length_min, timetable.timezone)
            if ends <= starts:
                continue  # wholly inside a skipped span: the hour does not exist today
            sessions.append(
                ClassSession(
                    class_session_id=session_id(slot.slot_id, day),
                    class_type=slot.class_type,
                    store_id=timetable.store_id,
                    title_zh=slot.title_zh,
                    title_en=slot.title_en,
                    starts_ms=_ms(starts),
                    ends_ms=_ms(ends),
                    signin_opens_before_s=slot.signin_opens_before_s,
                    signin_closes_after_s=slot.signin_closes_after_s,
                    capacity=slot.capacity,
                    instructor=substitutes.get((slot.slot_id, day), slot.coach),
                    room=slot.room,
                    slot_id=slot.slot_id,
                    drop_in_price_fen=slot.drop_in_price_fen,
                )
            )
    sessions.sort(key=lambda s: (s.starts_ms, s.class_session_id))
    return tuple(sessions)


def cancelled_on(timetable: Timetable, slot_id: str, day: date) -> bool:
    """True when the slot's session on ``day`` was cancelled or falls in a closure."""
    slot = timetable.slot(slot_id)
    if slot is None:
        return False
    for exc in timetable.exceptions:
        if isinstance(exc, SessionCancelled) and (exc.slot_id, exc.day) == (slot_id, day):
            return True
        if isinstance(exc, Closure) and exc.covers(day, slot.room):
            return True
    return False


def horizon(now_ms: int, timezone: str, days: int = HORIZON_DAYS) -> tuple[date, date]:
    """The store-local days a rule bundle published at ``now_ms`` carries sessions for:
    yesterday (a class running past midnight) through ``days`` days on."""
    today = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(_zone(timezone)).date()
    return today - timedelta(days=1), today + timedelta(days=days - 1)


def layer_store(base: RuleBundle, store_id: str, sessions: Sequence[ClassSession]) -> RuleBundle:
    """A store's bundle: chain defaults, then the store's overrides.

    From ``base`` (the chain-wide bundle, or the store's own bundle when one is newer) come
    the rules, rewards and QR keys, and the classes it lists for this store that did not
    come from a timetable; the store's timetable ``sessions`` then replace every
    timetable-made session (a slot removed from the timetable disappears) and win over a
    listed class with the same id. The scope is this store alone; the caller publishes it
    under a new version.
    """
    own = {s.class_session_id for s in sessions}
    kept = [
        c
        for c in base.classes
        if c.store_id == store_id and c.slot_id is None and c.class_session_id not in own
    ]
    classes = sorted([*kept, *sessions], key=lambda c: (c.starts_ms, c.class_session_id))
    return base.model_copy(update={"store_ids": (store_id,), "classes": tuple(classes)})
