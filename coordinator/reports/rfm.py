"""RFM: recency, frequency and monetary value of members, with frequency x value quadrants.

* **Recency**: days since the last visit (fewer is better; never visited is worst).
* **Frequency**: distinct visit days in the period.
* **Monetary**: what the member paid where the ledger knows it: pass sales (``price_fen``),
  top-ups less refunds, and purchases paid other than from stored value.

Scores are 1..5 by standing among the members analysed: a member's score is
``1 + floor(5 * share of members strictly worse)``, capped at 5, so ties share a score and
an all-equal group scores 1. Quadrants split frequency at its median and value at the
median of the *known* (positive) values:

* ``champions``: frequent and high value;
* ``loyal``: frequent, low or unknown value (upsell);
* ``big_spenders``: infrequent, high value (win back);
* ``occasional``: neither.

Pure functions.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

QUADRANTS = ("champions", "loyal", "big_spenders", "occasional")


@dataclass(frozen=True)
class MemberActivity:
    """What the ledger knows about one member for RFM."""

    member_id: str
    last_visit_day: int | None
    visits: int
    monetary_fen: int = 0


@dataclass(frozen=True)
class RfmRow:
    """One member's RFM values, scores and quadrant."""

    member_id: str
    recency_days: int | None
    frequency: int
    monetary_fen: int
    r_score: int
    f_score: int
    m_score: int
    quadrant: str


@dataclass(frozen=True)
class RfmResult:
    """Every member's row, the quadrant splits and the members per quadrant."""

    rows: tuple[RfmRow, ...]
    frequency_split: float | None
    monetary_split: float | None
    quadrant_counts: dict[str, int]


def score(values: Sequence[float], value: float) -> int:
    """1..5: ``1 + floor(5 * share of values strictly below value)``, capped at 5."""
    return _Scorer(values)(value)


class _Scorer:
    """:func:`score` against one population, in O(log n) per member (sorted once)."""

    def __init__(self, values: Sequence[float]):
        self._sorted = sorted(values)

    def __call__(self, value: float) -> int:
        if not self._sorted:
            return 1
        below = bisect.bisect_left(self._sorted, value)
        return min(5, 1 + math.floor(5 * below / len(self._sorted)))


def quadrant(high_frequency: bool, high_value: bool) -> str:
    """The quadrant name for the two halves."""
    if high_frequency:
        return "champions" if high_value else "loyal"
    return "big_spenders" if high_value else "occasional"


def rfm(activities: Sequence[MemberActivity], today: int) -> RfmResult:
    """RFM rows (best first: quadrant order, then R+F+M scores, then id) and quadrants."""
    members = [a for a in activities if a.visits > 0 or a.monetary_fen > 0]
    if not members:
        return RfmResult((), None, None, dict.fromkeys(QUADRANTS, 0))
    recency = {
        a.member_id: (None if a.last_visit_day is None else max(0, today - a.last_visit_day))
        for a in members
    }
    # Higher is better for every scored value: recency is negated, never visited is -inf.
    r_values = [-math.inf if d is None else -float(d) for d in recency.values()]
    f_values = [float(a.visits) for a in members]
    m_values = [float(a.monetary_fen) for a in members]
    known = [a.monetary_fen for a in members if a.monetary_fen > 0]
    f_split = float(statistics.median(f_values))
    m_split = float(statistics.median(known)) if known else None

    r_score, f_score, m_score = _Scorer(r_values), _Scorer(f_values), _Scorer(m_values)
    rows: list[RfmRow] = []
    counts = dict.fromkeys(QUADRANTS, 0)
    for a in members:
        days = recency[a.member_id]
        high_f = a.visits >= f_split
        high_m = m_split is not None and a.monetary_fen > 0 and a.monetary_fen >= m_split
        name = quadrant(high_f, high_m)
        counts[name] += 1
        rows.append(
            RfmRow(
                member_id=a.member_id,
                recency_days=days,
                frequency=a.visits,
                monetary_fen=a.monetary_fen,
                r_score=r_score(-math.inf if days is None else -float(days)),
                f_score=f_score(float(a.visits)),
                m_score=m_score(float(a.monetary_fen)),
                quadrant=name,
            )
        )
    order = {name: n for n, name in enumerate(QUADRANTS)}
    rows.sort(key=lambda r: (order[r.quadrant], -(r.r_score + r.f_score + r.m_score), r.member_id))
    return RfmResult(tuple(rows), f_split, m_split, counts)
