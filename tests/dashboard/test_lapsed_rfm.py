"""Lapsed members and RFM against hand-computed expectations."""

from __future__ import annotations

import pytest

from coordinator.reports.lapsed import find_lapsed, usual_cycle
from coordinator.reports.rfm import MemberActivity, quadrant, rfm, score


def test_usual_cycle_is_the_median_gap_between_distinct_visit_days() -> None:
    assert usual_cycle([1, 8, 15, 22]) == 7.0
    assert usual_cycle([10, 0, 9, 2]) == 2.0  # gaps 2, 7, 1
    assert usual_cycle([5, 5, 6]) == 1.0  # two visits on day 5 are one visit day
    assert usual_cycle([0, 1, 3, 7]) == 2.0  # gaps 1, 2, 4
    assert usual_cycle([0, 2, 5, 9, 14]) == 3.5  # gaps 2, 3, 4, 5: even count, mean of middle
    assert usual_cycle([3]) is None
    assert usual_cycle([]) is None


VISITS = {
    # cycle 7, last visit 29 days ago: 29 > 14, lapsed 29/7 cycles.
    "weekly": [50, 57, 64, 71],
    # cycle 7, seen yesterday.
    "regular": [80, 87, 94, 99],
    # cycle 30, 40 days away: a monthly member is not lapsed at 40 days (40 < 60).
    "monthly": [0, 30, 60],
    # two visit days only: never judged (min 3), however long ago.
    "twice": [10, 20],
    # cycle 5, 20 days away: lapsed, 4.0 cycles.
    "five": [70, 75, 80],
    # cycle 4, exactly 8 days away: 8 is not more than 2 x 4.
    "boundary": [84, 88, 92],
    # gaps 1, 1, 38: median 1, 60 days away: lapsed, 60 cycles.
    "irregular": [0, 1, 2, 40],
    # repeats collapse to 3 visit days; last visit today.
    "dupes": [90, 90, 95, 95, 100],
}


def test_lapsed_means_past_twice_their_own_cycle() -> None:
    found = find_lapsed(VISITS, today=100)
    assert [m.member_id for m in found] == ["irregular", "weekly", "five"]
    irregular, weekly, five = found
    assert (irregular.visits, irregular.usual_cycle_days, irregular.days_since) == (4, 1.0, 60)
    assert irregular.overdue == 60.0 and irregular.last_visit_day == 40
    assert (weekly.visits, weekly.usual_cycle_days, weekly.days_since) == (4, 7.0, 29)
    assert weekly.overdue == pytest.approx(29 / 7)
    assert (five.usual_cycle_days, five.days_since, five.overdue) == (5.0, 20, 4.0)


def test_lapsed_factor_and_minimum_visits_are_parameters() -> None:
    assert [m.member_id for m in find_lapsed(VISITS, 100, factor=5)] == ["irregular"]
    assert [m.member_id for m in find_lapsed(VISITS, 100, min_visits=4)] == [
        "irregular",
        "weekly",
    ]
    assert find_lapsed({}, 100) == []


def test_scores_count_members_strictly_worse() -> None:
    values = [10.0, 8.0, 2.0, 1.0, 0.0, 1.0]
    assert [score(values, v) for v in values] == [5, 4, 3, 1, 1, 1]
    assert score([3.0, 3.0, 3.0], 3.0) == 1  # all equal: nobody is worse
    assert score([], 7.0) == 1
    assert score([1.0, 2.0], 2.0) == 3  # 1 + floor(5 * 1/2)
    assert quadrant(True, True) == "champions"
    assert quadrant(True, False) == "loyal"
    assert quadrant(False, True) == "big_spenders"
    assert quadrant(False, False) == "occasional"


def test_rfm_rows_scores_and_quadrants_by_hand() -> None:
    members = [
        MemberActivity("A", last_visit_day=98, visits=10, monetary_fen=50_000),
        MemberActivity("B", last_visit_day=60, visits=8, monetary_fen=0),
        MemberActivity("C", last_visit_day=99, visits=2, monetary_fen=80_000),
        MemberActivity("D", last_visit_day=30, visits=1, monetary_fen=0),
        MemberActivity("E", last_visit_day=None, visits=0, monetary_fen=20_000),
        MemberActivity("F", last_visit_day=None, visits=0, monetary_fen=0),  # nothing known
        MemberActivity("G", last_visit_day=90, visits=1, monetary_fen=90_000),
    ]
    result = rfm(members, today=100)
    # Frequency split: median of 10, 8, 2, 1, 0, 1 = (1 + 2) / 2. Value split: median of the
    # known values 50000, 80000, 20000, 90000 = (50000 + 80000) / 2.
    assert result.frequency_split == 1.5
    assert result.monetary_split == 65_000
    assert result.quadrant_counts == {
        "champions": 1,
        "loyal": 2,
        "big_spenders": 1,
        "occasional": 2,
    }
    rows = {r.member_id: r for r in result.rows}
    assert "F" not in rows
    expected = {
        #     recency, R, F, M, quadrant
        "A": (2, 4, 5, 3, "loyal"),
        "B": (40, 2, 4, 1, "loyal"),
        "C": (1, 5, 3, 4, "champions"),
        "D": (70, 1, 1, 1, "occasional"),
        "E": (None, 1, 1, 2, "occasional"),
        "G": (10, 3, 1, 5, "big_spenders"),
    }
    for member_id, (recency, r, f, m, quad) in expected.items():
        row = rows[member_id]
        assert (row.recency_days, row.r_score, row.f_score, row.m_score, row.quadrant) == (
            recency,
            r,
            f,
            m,
            quad,
        ), member_id
    # Best first: quadrant order, then R+F+M, then id.
    assert [r.member_id for r in result.rows] == ["C", "A", "B", "G", "E", "D"]


def test_rfm_without_known_values_splits_on_frequency_only() -> None:
    result = rfm(
        [
            MemberActivity("x", 10, 5),
            MemberActivity("y", 9, 1),
            MemberActivity("z", 1, 3),
        ],
        today=10,
    )
    assert result.monetary_split is None and result.frequency_split == 3
    assert {r.member_id: r.quadrant for r in result.rows} == {
        "x": "loyal",
        "z": "loyal",
        "y": "occasional",
    }
    assert rfm([], today=1).rows == ()
