"""Report periods: store-local dates, their UTC bounds, and local day/hour of a bucket.

Times are UTC epoch milliseconds in the ledger and store-local on screens. Queries group
events into UTC buckets (an hour, or 15 minutes when a store's zone is not a whole number
of hours off UTC) and each bucket is placed on its store's local date and hour here, so
SQL stays free of time-zone functions (portable) and DST is handled by ``zoneinfo``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
QUARTER_MS = 900_000
DEFAULT_TZ = "Asia/Shanghai"
MAX_DAYS = 366


def zone(name: str | None) -> ZoneInfo:
    """The zone named (the chain default when unknown)."""
    try:
        return ZoneInfo(name or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


@dataclass(frozen=True)
class Period:
    """Local dates ``first``..``last`` inclusive."""

    first: date
    last: date

    @property
    def days(self) -> list[date]:
        """Every date of the period."""
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def utc_bounds(self, zones: Iterable[str]) -> tuple[int, int]:
        """[start, end) in UTC ms covering the period in every one of ``zones``."""
        starts, ends = [], []
        for name in set(zones) or {DEFAULT_TZ}:
            tz = zone(name)
            starts.append(_ms(datetime.combine(self.first, time(), tz)))
            ends.append(_ms(datetime.combine(self.last + timedelta(days=1), time(), tz)))
        return min(starts), max(ends)

    def contains(self, day: date) -> bool:
        """True when ``day`` is in the period."""
        return self.first <= day <= self.last


def period(first: date | None, last: date | None, today: date, default_days: int = 30) -> Period:
    """The period asked for, defaulting to the last ``default_days`` including today.

    Raises ValueError when it is reversed or longer than a year.
    """
    last = last or today
    first = first or last - timedelta(days=default_days - 1)
    if first > last:
        raise ValueError(f"the period starts ({first}) after it ends ({last})")
    if (last - first).days + 1 > MAX_DAYS:
        raise ValueError(f"a report covers at most {MAX_DAYS} days")
    return Period(first, last)


def today_in(tz_name: str | None, now_ms: int) -> date:
    """Today's local date in the zone."""
    return datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(zone(tz_name)).date()


def local(ms: int, tz_name: str | None) -> datetime:
    """Local date-time of an epoch ms."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(zone(tz_name))


def bucket_ms(zones: Iterable[str], start_ms: int, end_ms: int) -> int:
    """An hour, or 15 minutes when some zone is not a whole number of hours off UTC."""
    for name in set(zones):
        for ms in (start_ms, end_ms):
            offset = local(ms, name).utcoffset() or timedelta()
            if offset.total_seconds() % 3600:
                return QUARTER_MS
    return HOUR_MS


def day_number(day: date) -> int:
    """Days since 1970-01-01 (for gap arithmetic)."""
    return (day - date(1970, 1, 1)).days


def from_day_number(n: int) -> date:
    """Inverse of :func:`day_number`."""
    return date(1970, 1, 1) + timedelta(days=n)


def utc_offset_ms(tz_name: str | None, at_ms: int) -> int:
    """The zone's UTC offset at ``at_ms``, in ms (for day numbers computed in SQL)."""
    offset = local(at_ms, tz_name).utcoffset() or timedelta()
    return int(offset.total_seconds() * 1000)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
