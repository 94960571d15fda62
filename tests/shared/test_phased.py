"""Phased updates (shared/phased.py): stable, monotone in the percentage, fair across
machines, different canaries per release."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.phased import draw, in_phase, version_key

MACHINE = st.uuids().map(lambda u: u.hex)
PERCENT = st.integers(min_value=0, max_value=100)


@given(MACHINE, PERCENT, PERCENT)
def test_raising_the_percentage_never_drops_a_machine(machine: str, a: int, b: int) -> None:
    low, high = sorted((a, b))
    if in_phase("stable", "1.2.0", machine, low):
        assert in_phase("stable", "1.2.0", machine, high)


@given(MACHINE)
def test_nobody_at_zero_everybody_at_a_hundred_and_the_draw_is_stable(machine: str) -> None:
    assert not in_phase("stable", "1.2.0", machine, 0)
    assert in_phase("stable", "1.2.0", machine, 100)
    assert draw("stable", "1.2.0", machine) == draw("stable", "1.2.0", machine.upper() + "\n")


def test_a_percentage_picks_about_that_share_and_each_release_draws_anew() -> None:
    machines = [uuid.UUID(int=n * 7919 + 1).hex for n in range(3000)]
    picked = {m for m in machines if in_phase("stable", "1.2.0", m, 10)}
    assert 240 <= len(picked) <= 360  # 10 % of 3,000, well within binomial spread
    again = {m for m in machines if in_phase("stable", "1.3.0", m, 10)}
    assert len(picked & again) < len(picked) // 2  # not the same canaries every time
    other_channel = {m for m in machines if in_phase("beta", "1.2.0", m, 10)}
    assert other_channel != picked


def test_percentages_out_of_range_and_bad_versions_are_refused() -> None:
    with pytest.raises(ValueError, match=r"0\.\.100"):
        in_phase("stable", "1.2.0", "abc", 101)
    with pytest.raises(ValueError, match="release version"):
        version_key("1.2.0; rm -rf /")


def test_versions_order_numerically_with_prereleases_first() -> None:
    ordered = ["0.9.0", "0.10.0", "1.0.0rc1", "1.0.0", "1.0.1", "1.10"]
    assert sorted(reversed(ordered), key=version_key) == ordered
