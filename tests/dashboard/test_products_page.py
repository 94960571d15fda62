"""The product catalogue and selling from it: managers add products (price in yuan, kept as
integer fen), bad products are refused with nothing added, the front desk sells a pass from
the member page in two clicks, and a product the store does not sell is refused."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from coordinator import schema
from coordinator.dashboard.i18n import yuan
from tests.dashboard.conftest import login
from tests.dashboard.live import Live
from tests.dashboard.test_members_page import csrf, seed

pytestmark = pytest.mark.browser


def add(page: Any, name: str, kind: str, price: str, **fields: Any) -> None:
    """Fill and send the add-product form (the confirmation is accepted)."""
    page.fill("#product-name", name)
    page.select_option("#product-kind", kind)
    page.fill("#product-price", price)
    page.fill("#product-sessions", str(fields.get("sessions", 0)))
    page.fill("#product-days", str(fields.get("days", 30)))
    page.fill("#product-value", fields.get("value", "0"))
    page.fill("#product-classes", fields.get("classes", ""))
    if fields.get("first_use"):
        page.check("#product-first-use")
    for store in fields.get("stores", ()):
        page.check(f'input[name="store_ids"][value="{store}"]')
    page.click("#product-submit")


def product_ids(live: Live) -> list[str]:
    """The catalogue's ids, from the database."""
    p = schema.products
    with live.coord.db.read() as conn:
        return list(conn.execute(sa.select(p.c.product_id).order_by(p.c.product_id)).scalars())


def test_yuan_is_exact() -> None:
    assert [yuan(x) for x in (0, 5, 98000, 39950, 123456789, -250)] == [
        "¥0.00", "¥0.05", "¥980.00", "¥399.50", "¥1,234,567.89", "-¥2.50"
    ]  # fmt: skip


def test_catalogue_and_selling_a_pass(live: Live, page: Any) -> None:
    seed(live)
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, live, "admin", "admin", "/dashboard/products?lang=en")
    expect(page.locator("#no-products")).to_be_visible()
    add(page, "10x yoga", "punch", "980", sessions=10, days=90, classes="yoga", stores=["s1"])
    expect(page.locator("#action-notice")).to_be_visible()
    add(page, "Month pass", "time", "399.5", days=30, first_use=True)
    add(page, "Top up 1000 get 1100", "stored_value", "1000", value="1100", days=0)
    add(page, "Riverside swim", "punch", "500", sessions=5, days=60, stores=["s2"])
    rows = page.locator("#products tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator("#products .price")).to_contain_text(
        ["¥500.00", "¥980.00", "¥1,000.00", "¥399.50"]  # by kind, then price
    )
    p = schema.products
    with live.coord.db.read() as conn:
        prices = dict(conn.execute(sa.select(p.c.name, p.c.price_fen)).all())
    assert prices == {"10x yoga": 98000, "Month pass": 39950, "Top up 1000 get 1100": 100000,
                      "Riverside swim": 50000}  # fmt: skip

    # Bad products: each a message, nothing added.
    before = product_ids(live)
    add(page, "No sessions", "punch", "100", sessions=0, days=30)
    expect(page.locator("#action-error")).to_contain_text("sessions")
    add(page, "Odd price", "punch", "9.999", sessions=1, days=30)
    expect(page.locator("#action-error")).to_contain_text("980.50")
    add(page, "No value", "stored_value", "100", value="0")
    expect(page.locator("#action-error")).to_contain_text("value_fen")
    assert product_ids(live) == before

    # The front desk of s1: sees what s1 sells, adds nothing, sells in two clicks.
    password = live.add_user("fd1", "front_desk", "s1")
    page.context.clear_cookies()
    login(page, live, "fd1", password, "/dashboard/products?lang=en")
    expect(page.locator("#products tbody tr")).to_have_count(3)  # not the s2-only product
    expect(page.locator("#product-form")).to_have_count(0)
    r = page.request.post(
        f"{live.url}/dashboard/products",
        form={
            "csrf": csrf(page),
            "name": "x",
            "kind": "punch",
            "price": "1",
            "sessions": "1",
            "validity_days": "1",
            "store_ids": "s1",
        },
    )
    assert r.status == 403 and "front-desk" in r.text()

    page.goto(f"{live.url}/dashboard/members/m1?lang=en")
    offered = page.locator("#catalogue li")
    expect(offered).to_have_count(2)  # passes sold in s1: no stored value, no s2 product
    with live.coord.db.read() as conn:
        ids = dict(conn.execute(sa.select(p.c.name, p.c.product_id)).all())
    yoga = ids["10x yoga"]
    page.locator(f'#catalogue li[data-product="{yoga}"] .sell-submit').click()
    expect(page.locator("#action-notice")).to_contain_text("Sold")
    sold = page.locator("#passes tbody tr", has_text="10x yoga")
    expect(sold).to_contain_text("10 / 10")
    expect(sold).to_contain_text("s1")
    expect(page.locator('#timeline tr[data-what="pass_issue"] .staff')).to_have_text(
        ["fd1", "admin"]
    )
    s = schema.product_sales
    with live.coord.db.read() as conn:
        columns = (s.c.product_id, s.c.member_id, s.c.store_id, s.c.staff, s.c.price_fen)
        sales = [tuple(r) for r in conn.execute(sa.select(*columns))]
    assert sales == [(yoga, "m1", "s1", "fd1", 98000)]

    # A product s1 does not sell, or a stored-value package: refused, nothing recorded.
    for name, reason in (("Riverside swim", "not sold in store s1"),
                         ("Top up 1000 get 1100", "stored value")):  # fmt: skip
        r = page.request.post(
            f"{live.url}/dashboard/members/m1/sell",
            form={"csrf": csrf(page), "product_id": ids[name]},
        )
        assert r.status == 409 and reason in r.text(), r.text()
    with live.coord.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(s)).scalar() == 1
    events = live.call("GET", "/api/v1/events", member_id="m1", kind="pass_issue")
    assert len(events["items"]) == 2

    # The sale is on the staff commission report (no commission rules yet: 0.00).
    page.goto(f"{live.url}/dashboard/reports?lang=en")
    row = page.locator('#sec-staff table[data-table="staff_commission"] tbody tr')
    expect(row).to_have_count(1)
    expect(row.locator("td")).to_have_text(["fd1", "Downtown (s1)", "1", "980.00", "0.00"])
