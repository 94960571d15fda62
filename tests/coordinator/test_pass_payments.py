"""Paid pass extensions and session top-ups (会员充次), on SQLite and PostgreSQL: the price
and how it was paid are on the ledger event, stored value is charged in the same
transaction (refused, with nothing recorded, when short), revenue/RFM count what was not
paid from stored value, and the staff commission report includes the top-ups staff made."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from coordinator import schema
from coordinator.reports import queries
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal, Role
from coordinator.services import money, passes, products, reports, rules
from coordinator.services.passes import PassChange, SellPass
from shared.events import PurchaseMethod
from shared.model import CommissionRule
from shared.money import PaymentMethod
from tests.coordinator.test_front_desk import (  # noqa: F401 (the fixture)
    ADMIN,
    DAY_MS,
    DESK,
    START_MS,
    SetClock,
    desk,
    refused,
)

FD2 = Principal("fd2", Role.FRONT_DESK, "s1")


def bodies(coord: Coordinator, kind: str) -> list[dict[str, Any]]:
    """The bodies of m1's events of one kind, in order."""
    ev = schema.events
    with coord.db.read() as conn:
        rows = conn.execute(
            sa.select(ev.c.body).where(ev.c.member_id == "m1", ev.c.kind == kind).order_by(ev.c.id)
        ).scalars()
        return [json.loads(row)["body"] for row in rows]


def test_paid_top_ups_reach_the_ledger_revenue_and_commission(
    desk: tuple[Coordinator, SetClock],  # noqa: F811 (the imported fixture)
) -> None:
    coord, clock = desk
    body = products.NewProduct(product_id="yoga", name="yoga", kind="punch", price_fen=98000,
                               sessions=10, validity_days=90)  # fmt: skip
    products.create_product(coord, ADMIN, body)
    draft = rules.Draft(
        commission=[
            CommissionRule(product_id="yoga", permille=55),
            CommissionRule(permille=30, fixed_fen=500),
        ]
    )
    rules.rollout_rules(coord, ADMIN, draft)
    sold = products.sell_product(coord, DESK, "m1", "yoga")
    assert sold.sale.pass_ is not None
    yoga = sold.sale.pass_.pass_id
    free = SellPass(pass_id="p-free", kind="time", name="月卡", store_ids=["s1"],
                    valid_from_ms=START_MS, valid_until_ms=START_MS + 30 * DAY_MS)  # fmt: skip
    passes.sell_pass(coord, DESK, "m1", free)
    money.top_up(coord, DESK, "m1", money.TopUp(amount_fen=50000, method=PaymentMethod.CASH))

    # Five sessions more, paid from stored value: one sv_spend, the price on the event.
    clock.ms += 60_000
    five = PassChange(sessions_total=15, price_fen=40000,
                      payment_method=PurchaseMethod.STORED_VALUE)  # fmt: skip
    after = passes.extend_pass(coord, DESK, "m1", yoga, five)
    assert after.pass_ is not None and after.pass_.sessions_total == 15
    assert money.balance(coord, DESK, "m1").available_fen == 10000
    assert [b["amount_fen"] for b in bodies(coord, "sv_spend")] == [40000]
    update = bodies(coord, "pass_update")[-1]
    assert (update["price_fen"], update["payment_method"]) == (40000, "stored_value")

    # Bad input changes nothing: a price with no method, a method with no price, too little
    # stored value.
    before = len(bodies(coord, "pass_update"))
    no_method = PassChange(sessions_total=20, price_fen=100)
    refused("payment_method_required", passes.extend_pass, coord, DESK, "m1", yoga, no_method)
    no_price = PassChange(sessions_total=20, payment_method=PurchaseMethod.CASH)
    refused("amount_not_positive", passes.extend_pass, coord, DESK, "m1", yoga, no_price)
    short = PassChange(sessions_total=20, price_fen=10001,
                       payment_method=PurchaseMethod.STORED_VALUE)  # fmt: skip
    refused("insufficient_balance", passes.extend_pass, coord, DESK, "m1", yoga, short)
    assert len(bodies(coord, "pass_update")) == before
    assert money.balance(coord, DESK, "m1").available_fen == 10000

    # Extensions paid by WeChat and cash by another desk; a free extension is no sale.
    longer = PassChange(valid_until_ms=START_MS + 200 * DAY_MS, price_fen=20000,
                        payment_method=PurchaseMethod.WECHAT)  # fmt: skip
    passes.extend_pass(coord, FD2, "m1", yoga, longer)
    month = PassChange(valid_until_ms=START_MS + 60 * DAY_MS, price_fen=10000,
                       payment_method=PurchaseMethod.CASH)  # fmt: skip
    passes.extend_pass(coord, FD2, "m1", "p-free", month)
    gift = PassChange(valid_until_ms=START_MS + 61 * DAY_MS)
    passes.extend_pass(coord, FD2, "m1", "p-free", gift)

    # Revenue: the sale 98000 + WeChat 20000 + cash 10000 (the stored-value top-up is
    # counted as the 50000 topped up, once).
    with coord.db.read() as conn:
        assert queries.pass_revenue(conn, 0, None) == {"m1": 128000}
        assert queries.money_revenue(conn, 0, None) == {"m1": 50000}

    # Commission by hand: fd1 sold yoga 98000 * 5.5 % = 5390 and topped it up 40000 * 5.5 %
    # = 2200; fd2 extended yoga 20000 * 5.5 % = 1100 and the catalogue-less pass by the
    # default rule 10000 * 3 % + 500 = 800.
    report = reports.build(coord, ADMIN, store_id=None, first=None, last=None, lang="en")
    table = report.table("staff_commission")
    assert table is not None
    assert table.rows == [
        ["fd1", "s1", "2", "1380.00", "75.90"],
        ["fd2", "s1", "2", "300.00", "19.00"],
    ]
