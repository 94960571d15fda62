"""Store-local wall-clock arithmetic: days counted on the store's clocks, resolved to UTC.

Pure (no IO beyond the system's time-zone database). A pass that runs "30 days" or a class
at "18:30" means the store's wall clock, so both resolve wall times with one rule
(:func:`local_instant`): a wall time that happens twice (clocks go back) means its first
occurrence, one that never happens (clocks go forward) means the first instant after the
skipped span. The mapping never goes backwards: a later wall time never resolves to an
earlier instant.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo


@cache
def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (cached; raises ``ZoneInfoNotFoundError`` when unknown)."""
    return ZoneInfo(name)


def local_instant(day: date, minute: int, timezone: str) -> datetime:
    """The UTC instant the store's clocks read ``day`` + ``minute`` minutes (may pass into
    the next days).

    A wall time that happens twice means its first occurrence; one that never happens
    (clocks went forward over it) means the first instant after the skipped span. The
    mapping never goes backwards: a later wall time never resolves to an earlier instant.
    """
    tz = zone(timezone)
    wall = datetime(day.year, day.month, day.day) + timedelta(minutes=minute)
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # Skipped wall time: the first instant whose wall clock reads at least ``wall`` lies
    # between the two readings of the offset (fold=1 uses the later offset). Offsets are
    # whole seconds, so a search over whole seconds finds the transition exactly.
    a = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    b = int(first.timestamp())
    lo, hi = min(a, b), max(a, b)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(tz).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def add_local_days(at_ms: int, days: int, timezone: str) -> int:
    """The instant ``days`` store-local days after ``at_ms``: the same wall-clock time on
    the store's calendar ``days`` dates later (UTC epoch ms), whatever daylight saving did
    in between (a 30-day pass sold at 18:00 ends at 18:00, not 17:00 or 19:00)."""
    tz = zone(timezone)
    local = datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(tz)
    day = local.date() + timedelta(days=days)
    ms_into_day = ((local.hour * 60 + local.minute) * 60 + local.second) * 1000 + (
        local.microsecond // 1000
    )
    minute, rest_ms = divmod(ms_into_day, 60_000)
    return int(local_instant(day, minute, timezone).timestamp() * 1000) + rest_ms
