"""The commission rule: the product's own rule, else the default, in integer fen (the
permille part rounded down), never more than the sale plus the fixed amount; over 100 % is
refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.model import CommissionRule, commission_fen


def test_product_rule_wins_over_the_default() -> None:
    listed = [CommissionRule(permille=30, fixed_fen=500), CommissionRule(product_id="yoga",
                                                                       permille=55)]  # fmt: skip
    assert commission_fen(listed, "yoga", 98000) == 5390
    assert commission_fen(listed, "month", 39950) == 1198 + 500
    assert commission_fen([CommissionRule(product_id="yoga", permille=55)], "swim", 500) == 0
    assert commission_fen([], "yoga", 98000) == 0


def test_over_a_hundred_percent_is_refused() -> None:
    with pytest.raises(ValidationError, match="over 100 %"):
        CommissionRule(permille=1001)
    assert CommissionRule(permille=1000).permille == 1000


@given(
    price=st.integers(0, 10**9),
    permille=st.integers(0, 1000),
    fixed=st.integers(0, 10**6),
)
def test_never_more_than_the_sale_plus_the_fixed_part(
    price: int, permille: int, fixed: int
) -> None:
    got = commission_fen([CommissionRule(permille=permille, fixed_fen=fixed)], "p", price)
    assert fixed <= got <= price + fixed
    assert (got - fixed) * 1000 <= price * permille < (got - fixed + 1) * 1000
