"""Lapsed members (会员流失): not seen for longer than their *own* usual visit cycle.

A member's usual cycle is the median gap, in days, between their distinct visit days. A
member with at least ``min_visits`` visit days is lapsed when the days since their last
visit exceed ``factor`` times that cycle: a weekly regular is lapsed after two weeks, a
monthly one only after two months. Pure functions over day numbers (store-local days).
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

DEFAULT_FACTOR = 2.0
DEFAULT_MIN_VISITS = 3


@dataclass(frozen=True)
class LapsedMember:
    """A member past their usual cycle, with the numbers that say so."""

    member_id: str
    visits: int
    """Distinct visit days."""
    usual_cycle_days: float
    """Median gap between visit days."""
    last_visit_day: int
    days_since: int
    overdue: float
    """``days_since / usual_cycle_days``: 2.5 means two and a half cycles without a visit."""


def usual_cycle(days: Sequence[int]) -> float | None:
    """Median gap between distinct visit days (None with fewer than two distinct days)."""
    distinct = sorted(set(days))
    if len(distinct) < 2:
        return None
    return float(statistics.median(b - a for a, b in itertools.pairwise(distinct)))


def find_lapsed(
    visits: Mapping[str, Iterable[int]],
    today: int,
    *,
    factor: float = DEFAULT_FACTOR,
    min_visits: int = DEFAULT_MIN_VISITS,
) -> list[LapsedMember]:
    """Members whose days since the last visit exceed ``factor`` x their usual cycle.

    ``visits`` maps member id -> visit day numbers (any order, repeats allowed); ``today``
    is today's day number. Most overdue first (ties by member id).
    """
    found: list[LapsedMember] = []
    for member_id, days in visits.items():
        distinct = sorted(set(days))
        if len(distinct) < max(2, min_visits):
            continue
        since = today - distinct[-1]
        if factor >= 0 and since <= factor:
            continue  # a cycle is at least a day: not lapsed, whatever the median gap
        cycle = usual_cycle(distinct)
        assert cycle is not None and cycle > 0
        if since > factor * cycle:
            found.append(
                LapsedMember(
                    member_id=member_id,
                    visits=len(distinct),
                    usual_cycle_days=cycle,
                    last_visit_day=distinct[-1],
                    days_since=since,
                    overdue=since / cycle,
                )
            )
    found.sort(key=lambda m: (-m.overdue, m.member_id))
    return found
