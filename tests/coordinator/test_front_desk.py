"""Front-desk rules on the service layer, on SQLite and PostgreSQL: a freeze pauses a pass's
validity clock (the frozen time is given back on unfreeze; freezing a frozen pass is refused),
a phone number belongs to one member, a referrer must exist, and the store-bound roles
(front desk, coach) stay in their store; a coach reads only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from coordinator.app import create_app
from coordinator.errors import ApiError
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal, Role
from coordinator.services import front_desk, member_card, members, passes, products, stores, users
from coordinator.services.passes import SellPass
from shared.events import PurchaseMethod
from shared.model import FIRST_USE_DEADLINE_DAYS
from tests.dashboard.live import settings_for

DAY_MS = 86_400_000
START_MS = 1_780_000_000_000

ADMIN = Principal("admin", Role.HQ_ADMIN, None)
DESK = Principal("fd1", Role.FRONT_DESK, "s1")
COACH = Principal("coach1", Role.COACH, "s1")


class SetClock:
    """A wall clock the test moves."""

    def __init__(self, ms: int):
        self.ms = ms

    def wall_ms(self) -> int:
        """The set time."""
        return self.ms


@pytest.fixture
def desk(tmp_path: Path, database: Any) -> Iterator[tuple[Coordinator, SetClock]]:
    """A coordinator (no MQTT) on the test database with two stores and member m1 in s1."""
    clock = SetClock(START_MS)
    app = create_app(settings_for(tmp_path, None), database=database, clock=clock)
    with TestClient(app):
        coord: Coordinator = app.state.coordinator
        for store_id in ("s1", "s2"):
            stores.create_store(coord, ADMIN, stores.NewStore(store_id=store_id, name=store_id))
        members.create_member(
            coord,
            ADMIN,
            members.NewMember(
                member_id="m1", display_name="李*华", phone="13800001234", home_store_id="s1"
            ),
        )
        yield coord, clock


def refused(code: str, call: Any, *args: Any, **kwargs: Any) -> ApiError:
    """Run ``call`` and return the ApiError it must raise with ``code``."""
    with pytest.raises(ApiError) as info:
        call(*args, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value


def test_freeze_pauses_the_validity_clock(desk: tuple[Coordinator, SetClock]) -> None:
    coord, clock = desk
    sale = SellPass(pass_id="p1", kind="time", name="月卡", store_ids=["s1"],
                    valid_from_ms=START_MS, valid_until_ms=START_MS + 30 * DAY_MS)  # fmt: skip
    passes.sell_pass(coord, DESK, "m1", sale)
    clock.ms += 2 * DAY_MS
    frozen = passes.update_pass(coord, DESK, "m1", "p1", frozen=True)
    assert frozen.pass_ is not None and frozen.pass_.frozen

    clock.ms += 3 * DAY_MS + 5 * 3_600_000
    refused("pass_frozen", passes.update_pass, coord, DESK, "m1", "p1", frozen=True)
    thawed = passes.update_pass(coord, DESK, "m1", "p1", frozen=False)
    assert thawed.pass_ is not None and not thawed.pass_.frozen
    # 3 days 5 hours frozen: given back to the millisecond.
    assert thawed.pass_.valid_until_ms == START_MS + 33 * DAY_MS + 5 * 3_600_000
    refused("pass_not_frozen", passes.update_pass, coord, DESK, "m1", "p1", frozen=False)

    # A second freeze gives back only its own time.
    passes.update_pass(coord, DESK, "m1", "p1", frozen=True)
    clock.ms += DAY_MS
    again = passes.update_pass(coord, DESK, "m1", "p1", frozen=False)
    assert again.pass_ is not None
    assert again.pass_.valid_until_ms == START_MS + 34 * DAY_MS + 5 * 3_600_000
    # Every change is on the member's timeline with the staff member who did it.
    profile = front_desk.member_profile(coord, ADMIN, "m1")
    updates = [x for x in profile.timeline if x.what == "pass_update"]
    assert len(updates) == 4 and {x.staff for x in updates} == {"fd1"}


def test_a_phone_number_belongs_to_one_member(desk: tuple[Coordinator, SetClock]) -> None:
    coord, _clock = desk
    duplicate = members.NewMember(display_name="W*", phone="13800001234", home_store_id="s1")
    error = refused("phone_in_use", members.create_member, coord, DESK, duplicate)
    assert isinstance(error, members.DuplicatePhone) and error.member_id == "m1"
    assert front_desk.search_members(coord, ADMIN).items[0].member_id == "m1"
    assert len(front_desk.search_members(coord, ADMIN).items) == 1

    other = members.NewMember(member_id="m2", display_name="W*", phone="13900000000",
                              home_store_id="s1", referrer_id="m1", tags=["VIP", "学生"],
                              gender="female", birthday="1990-05-04")  # fmt: skip
    created = members.create_member(coord, DESK, other)
    assert (created.referrer_id, created.tags, created.gender, str(created.birthday)) == (
        "m1", ["VIP", "学生"], "female", "1990-05-04"
    )  # fmt: skip
    change = members.MemberChange(phone="13800001234")
    refused("phone_in_use", members.change_member, coord, DESK, "m2", change)
    assert members.get_member(coord, ADMIN, "m2").phone == "13900000000"
    # Keeping one's own number is no conflict.
    members.change_member(coord, DESK, "m2", members.MemberChange(phone="13900000000"))

    nobody = members.NewMember(display_name="X", home_store_id="s1", referrer_id="m404")
    refused("member_not_found", members.create_member, coord, DESK, nobody)


def test_store_bound_roles_stay_in_their_store(desk: tuple[Coordinator, SetClock]) -> None:
    coord, _clock = desk
    members.create_member(
        coord, ADMIN, members.NewMember(member_id="m9", display_name="Z*", home_store_id="s2")
    )
    assert [m.member_id for m in front_desk.search_members(coord, DESK).items] == ["m1"]
    # Another store's member opens only as a limited, masked view for cross-store service.
    assert front_desk.member_profile(coord, DESK, "m9").cross_store
    refused("store_forbidden", members.get_member, coord, DESK, "m9")
    elsewhere = members.NewMember(display_name="Y*", home_store_id="s2")
    refused("store_forbidden", members.create_member, coord, DESK, elsewhere)

    # A coach reads their store's members without personal data, and changes nothing.
    seen = front_desk.search_members(coord, COACH)
    assert seen.masked and [m.phone for m in seen.items] == ["*******1234"]
    refused("read_only", members.change_member, coord, COACH, "m1",
            members.MemberChange(display_name="x"))  # fmt: skip

    # Store-bound users need their store.
    body = users.NewUser(username="fd2", password="long enough pw", role=Role.FRONT_DESK)
    refused("store_required", users.create_user, coord, ADMIN, body)


def test_kiosk_pins_reach_the_store_bundle(desk: tuple[Coordinator, SetClock]) -> None:
    from coordinator.downstream import rule_bundles
    from coordinator.services import rules, staff
    from shared.password_hash import verify_password

    coord, _clock = desk
    manager = Principal("mgr1", Role.STORE_MANAGER, "s1")
    people = (("mgr1", Role.STORE_MANAGER, "s1"), ("fd1", Role.FRONT_DESK, "s1"),
              ("fd2", Role.FRONT_DESK, "s1"), ("fd9", Role.FRONT_DESK, "s2"))  # fmt: skip
    for name, role, store in people:
        body = users.NewUser(username=name, password="long enough pw", role=role, store_id=store)
        users.create_user(coord, ADMIN, body)
    before = rules.rollout_rules(coord, ADMIN, rules.Draft())

    # PIN rules: digits, 4..12, not another's PIN in the same store; a refusal changes nothing.
    refused("pin_too_short", staff.set_pin, coord, manager, "fd1", staff.PinChange(pin="123"))
    refused("pin_digits", staff.set_pin, coord, manager, "fd1", staff.PinChange(pin="12a4"))
    done = staff.set_pin(coord, manager, "fd1", staff.PinChange(pin="4711"))
    assert done.bundle_versions and done.bundle_versions[0] > before.version
    refused("pin_taken", staff.set_pin, coord, manager, "fd2", staff.PinChange(pin="4711"))
    # The same PIN in another store is fine; a manager acts only in their own store.
    staff.set_pin(coord, ADMIN, "fd9", staff.PinChange(pin="4711"))
    refused("store_forbidden", staff.set_pin, coord, manager, "fd9", staff.PinChange(pin="5555"))
    # Front desk sets their own PIN, never a colleague's.
    staff.set_pin(coord, DESK, "fd1", staff.PinChange(pin="8080"))
    refused("manager_only", staff.set_pin, coord, DESK, "fd2", staff.PinChange(pin="5555"))

    with coord.db.read() as conn:
        bundle = rule_bundles.bundle_for_store(conn, "s1")
    assert bundle is not None
    pins = {p.staff_id: p for p in bundle.staff_pins("s1")}
    assert set(pins) == {"fd1"}  # fd2 never got one
    assert verify_password("8080", pins["fd1"].pin_hash)
    assert "8080" not in bundle.model_dump_json()
    # API clients see who has a PIN, never the hash (a short PIN's hash is cheap to crack).
    # (The stored chain-wide bundle lists every store's staff; a store's kiosks, and this
    # view of the store's bundle, get only their own store's.)
    shown = rules.current_bundle(coord, ADMIN, "s1")
    assert [(p.staff_id, p.pin_hash) for p in shown.staff] == [("fd1", "-")]
    assert [m.username for m in staff.list_staff(coord, manager)] == ["fd1", "fd2", "mgr1"]


def test_staff_commission_matches_a_hand_computation(desk: tuple[Coordinator, SetClock]) -> None:
    from pydantic import ValidationError

    from coordinator.services import products, reports, rules
    from shared.model import CommissionRule

    coord, clock = desk
    members.create_member(
        coord, ADMIN, members.NewMember(member_id="m2", display_name="B*", home_store_id="s1")
    )
    members.create_member(
        coord, ADMIN, members.NewMember(member_id="m3", display_name="C*", home_store_id="s2")
    )
    catalogue = (
        ("yoga", "punch", 98000, 10, 90), ("month", "time", 39950, 0, 30),
        ("swim", "punch", 50000, 5, 60),
    )  # fmt: skip
    for name, kind, price, sessions, days in catalogue:
        body = products.NewProduct(product_id=name, name=name, kind=kind, price_fen=price,
                                   sessions=sessions, validity_days=days)  # fmt: skip
        products.create_product(coord, ADMIN, body)
    # A rule over 100 % is refused before anything is published.
    with pytest.raises(ValidationError, match="over 100 %"):
        rules.Draft(commission=[CommissionRule(product_id="yoga", permille=1001)])
    draft = rules.Draft(
        commission=[
            CommissionRule(product_id="yoga", permille=55),  # 5.5 % of a yoga pass
            CommissionRule(permille=30, fixed_fen=500),  # default: 3 % + ¥5 per card
        ]
    )
    rules.rollout_rules(coord, ADMIN, draft)
    fd2 = Principal("fd2", Role.FRONT_DESK, "s1")
    products.sell_product(coord, DESK, "m1", "yoga")
    products.sell_product(coord, DESK, "m1", "month")
    products.sell_product(coord, fd2, "m2", "swim")
    products.sell_product(coord, ADMIN, "m3", "yoga")  # HQ sells in the member's store, s2
    # New rules apply to later sales only: what was earned stays earned.
    changed = rules.Draft(commission=[CommissionRule(product_id="yoga", permille=100)])
    rules.rollout_rules(coord, ADMIN, changed)
    clock.ms += 60_000
    products.sell_product(coord, fd2, "m2", "yoga")

    # By hand: yoga 98000 * 55 / 1000 = 5390; month 39950 * 30 / 1000 = 1198.5 -> 1198,
    # + 500 = 1698; swim 50000 * 30 / 1000 + 500 = 2000; yoga under the new rules 9800.
    # fd1: 2 sales, 98000 + 39950 = 137950, 5390 + 1698 = 7088.
    # fd2: 2 sales, 50000 + 98000 = 148000, 2000 + 9800 = 11800. admin (s2): 98000, 5390.
    report = reports.build(coord, ADMIN, store_id=None, first=None, last=None, lang="en")
    table = report.table("staff_commission")
    assert table is not None
    assert table.rows == [
        ["admin", "s2", "1", "980.00", "53.90"],
        ["fd1", "s1", "2", "1379.50", "70.88"],
        ["fd2", "s1", "2", "1480.00", "118.00"],
    ]
    assert "Commission" in table.csv().splitlines()[0]
    # The front desk's report is their store's.
    own = reports.build(coord, DESK, store_id=None, first=None, last=None, lang="en")
    own_table = own.table("staff_commission")
    assert own_table is not None and [r[0] for r in own_table.rows] == ["fd1", "fd2"]


def test_search_reads_index_ranges_not_the_table(desk: tuple[Coordinator, SetClock]) -> None:
    from sqlalchemy.dialects import sqlite

    coord, _clock = desk
    body = members.NewMember(member_id="m2", display_name="W*", full_name="Wang Wei",
                             phone="13900000000", home_store_id="s2")  # fmt: skip
    members.create_member(coord, ADMIN, body)

    def found(q: str) -> list[str]:
        return [m.member_id for m in front_desk.search_members(coord, ADMIN, q).items]

    assert found("1380000") == ["m1"]  # phone prefix
    assert found("Wang") == ["m2"]  # full-name prefix
    assert found("李*") == ["m1"]  # display-name prefix
    assert found("m") == ["m1", "m2"]  # member-id prefix
    assert found("Wei") == []  # the middle of a name is not a start
    assert found("100%") == [] and found("m_") == []  # LIKE wildcards are literal
    if coord.db.engine.dialect.name != "sqlite":
        return
    for q in ("1380000", "nobody", "04A1B2C3D4E5F6"):
        stmt = front_desk._search_query(ADMIN, q).limit(26)
        sql = str(stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
        with coord.db.read() as conn:
            plan = " / ".join(r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        assert "SCAN members" not in plan, (q, plan)


def test_a_product_activated_on_first_use_sells_a_pass_that_waits_for_the_first_visit(
    desk: tuple[Coordinator, SetClock],
) -> None:
    """Sold from the catalogue, a 月卡 "activated on first use" holds its 30 days and a
    deadline (the product's 60 days after the sale, store-local) instead of a window; the
    phone card says so, and a freeze or an extension before the first visit is refused with
    nothing changed."""
    coord, clock = desk
    product = products.create_product(
        coord,
        ADMIN,
        products.NewProduct(product_id="month-fu", name="月卡（首次使用开卡）", kind="time",
                            price_fen=39_900, validity_days=30, activate_on_first_use=True,
                            activate_within_days=60),
    )  # fmt: skip
    assert product.activate_on_first_use and product.activate_within_days == 60
    sold = products.sell_product(coord, DESK, "m1", "month-fu", payment_method=PurchaseMethod.CASH)
    held = sold.sale.pass_
    assert held is not None and held.first_use is not None
    assert held.first_use.days == 30 and held.first_use.started_ms is None
    assert held.first_use.timezone == "Asia/Shanghai"
    assert held.first_use.activate_by_ms == START_MS + 60 * DAY_MS
    assert held.valid_from_ms == START_MS
    assert held.valid_until_ms == START_MS + (60 + 30) * DAY_MS
    assert held.awaiting_first_use(START_MS)

    clock.ms += DAY_MS
    pass_id = held.pass_id
    refused("pass_not_started", passes.update_pass, coord, DESK, "m1", pass_id, frozen=True)
    later = passes.PassChange(valid_until_ms=START_MS + 200 * DAY_MS)
    refused("pass_not_started", passes.extend_pass, coord, DESK, "m1", pass_id, later)
    card = member_card.card_balances(coord, "m1")
    [on_card] = card.passes
    assert on_card.activate_by_ms == START_MS + 60 * DAY_MS
    assert on_card.days == 30
    profile = front_desk.member_profile(coord, ADMIN, "m1")
    [kept] = profile.ledger.passes
    assert (kept.valid_until_ms, kept.first_use, kept.frozen) == (
        held.valid_until_ms,
        held.first_use,
        False,
    )

    # A fixed-window sale still needs its window, and not both kinds at once.
    both = SellPass(kind="time", name="x", store_ids=["s1"], valid_from_ms=START_MS,
                    valid_until_ms=START_MS + DAY_MS, first_use_days=30)  # fmt: skip
    refused("bad_validity", passes.sell_pass, coord, DESK, "m1", both)
    neither = SellPass(kind="time", name="x", store_ids=["s1"])
    refused("bad_validity", passes.sell_pass, coord, DESK, "m1", neither)
    # A product left at its default waits at most FIRST_USE_DEADLINE_DAYS.
    default = products.NewProduct(name="季卡", kind="time", price_fen=99_900, validity_days=90,
                                  activate_on_first_use=True)  # fmt: skip
    assert default.activate_within_days == FIRST_USE_DEADLINE_DAYS == 90


DESK_B = Principal("fd9", Role.FRONT_DESK, "s2")
"""Front desk of store s2, serving m1 (home store s1) as cross-store service."""
CARD = "04A1B2C3D4E5F6"


def _cross_rows(coord: Coordinator) -> list[tuple[str, str, str | None, str, str, int]]:
    import sqlalchemy as sa

    from coordinator import schema

    x = schema.cross_store_services
    with coord.db.read() as conn:
        rows = conn.execute(sa.select(x).order_by(x.c.id))
        return [
            (r.action, r.member_id, r.home_store_id, r.serving_store_id, r.staff, r.amount_fen)
            for r in rows
        ]


def _state(coord: Coordinator) -> tuple[Any, ...]:
    """Everything a refused action must leave alone: the member, the ledger and the log."""
    import sqlalchemy as sa

    from coordinator import schema

    with coord.db.read() as conn:
        counts = tuple(
            conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            for table in (schema.events, schema.audit_log, schema.cards, schema.product_sales)
        )
    member = members.get_member(coord, ADMIN, "m1").model_dump()
    for moving in ("summary", "members_version"):  # the member pusher's own bookkeeping
        member.pop(moving)
    return counts, member, front_desk.member_profile(coord, ADMIN, "m1", audit_view=False).ledger


def test_another_store_serves_a_member_as_cross_store_service(
    desk: tuple[Coordinator, SetClock],
) -> None:
    import json

    import sqlalchemy as sa

    from coordinator import schema
    from coordinator.services import money, products, purchases, reports, rules
    from coordinator.services.cross_store import HomeStoreOnly
    from shared.model import CommissionRule
    from shared.money import PaymentMethod

    coord, _clock = desk
    body = products.NewProduct(product_id="yoga-s2", name="瑜伽10次", kind="punch",
                               price_fen=98000, sessions=10, validity_days=90,
                               store_ids=["s2"])  # fmt: skip
    products.create_product(coord, ADMIN, body)
    rules.rollout_rules(coord, ADMIN, rules.Draft(commission=[CommissionRule(permille=50)]))

    # Sell from the serving store's catalogue: the sale row names both stores.
    sold = products.sell_product(coord, DESK_B, "m1", "yoga-s2")
    assert sold.store_id == "s2" and sold.staff == "fd9"
    pass_id = sold.sale.pass_.pass_id if sold.sale.pass_ else ""
    # Top up stored value (the fact carries the serving store) and the pass's sessions.
    topped = money.top_up(
        coord, DESK_B, "m1", money.TopUp(amount_fen=100_00, method=PaymentMethod.CASH)
    )
    added = passes.extend_pass(coord, DESK_B, "m1", pass_id,
                               passes.PassChange(sessions_total=15, price_fen=400_00,
                                                 payment_method="cash"))  # fmt: skip
    assert added.pass_ is not None and added.pass_.sessions_total == 15
    # A purchase at the desk, paid from stored value, redeeming a chain-wide voucher.
    from coordinator.services import coupons

    now = coord.clock.wall_ms()
    voucher = coupons.IssueCoupon(coupon_id="v5", title="¥5", kind="voucher", value=500,
                                  valid_from_ms=now, valid_until_ms=now + DAY_MS)  # fmt: skip
    coupons.issue_coupon(coord, ADMIN, "m1", voucher)
    bought, _ = purchases.purchase(
        coord,
        DESK_B,
        purchases.PurchaseIn(
            member_id="m1", store_id="s2", total_fen=30_00, coupon_id="v5", method="stored_value"
        ),
        "key-1",
    )
    assert (bought.coupon_off_fen, bought.stored_value_after_fen) == (500, 75_00)
    ledger = front_desk.member_profile(coord, ADMIN, "m1", audit_view=False).ledger
    assert [c.redeem_count for c in ledger.coupons] == [1]
    # Another store's purchase in the member's name is not for s2's desk to record.
    refused("store_forbidden", purchases.purchase, coord, DESK_B,
            purchases.PurchaseIn(member_id="m1", store_id="s1", total_fen=1, method="cash"),
            "key-2")  # fmt: skip

    assert _cross_rows(coord) == [
        ("product.sell", "m1", "s1", "s2", "fd9", 98000),
        ("stored_value.top_up", "m1", "s1", "s2", "fd9", 100_00),
        ("pass.top_up", "m1", "s1", "s2", "fd9", 400_00),
        ("purchase", "m1", "s1", "s2", "fd9", 25_00),
    ]
    s = schema.product_sales
    ev = schema.events
    a = schema.audit_log
    with coord.db.read() as conn:
        sales = conn.execute(
            sa.select(s.c.store_id, s.c.member_store_id, s.c.cross_store, s.c.staff,
                      s.c.price_fen, s.c.commission_fen).order_by(s.c.id)
        ).all()  # fmt: skip
        stores_of = dict(
            conn.execute(sa.select(ev.c.event_id, ev.c.store_id).where(ev.c.member_id == "m1"))
            .tuples()
            .all()
        )
        topup_audit = conn.execute(
            sa.select(a.c.detail).where(a.c.action == "stored_value.top_up")
        ).scalar_one()
    # Commission to the serving staff member, by the serving store's rules (5 %).
    assert [tuple(r) for r in sales] == [
        ("s2", "s1", True, "fd9", 98000, 4900),
        ("s2", "s1", True, "fd9", 400_00, 2000),
    ]
    assert stores_of[topped.event_id] == "s2" and stores_of[added.event_id] == "s2"
    detail = json.loads(topup_audit)
    assert (detail["cross_store"], detail["serving_store_id"], detail["home_store_id"]) == (
        True, "s2", "s1"
    )  # fmt: skip

    # The home store sees every service on the timeline, marked cross-store at s2.
    timeline = front_desk.member_profile(coord, ADMIN, "m1").timeline
    served = {x.what for x in timeline if x.cross_store}
    assert served == {"pass_issue", "sv_topup", "pass_update", "purchase"}
    # (the coupon's redemption and the stored-value spend are the purchase's own facts)
    assert {x.store_id for x in timeline if x.cross_store} == {"s2"}
    # The money report counts the top-up where it was paid (s2), not at the home store.
    report = reports.build(coord, ADMIN, store_id=None, first=None, last=None, lang="en")
    daily = report.table("money_daily")
    assert daily is not None
    assert [(r[1], r[2]) for r in daily.rows] == [("s2", "100.00")]

    # Everything else about m1 stays with s1 or HQ: refused, nothing changed.
    members.change_member(coord, ADMIN, "m1", members.MemberChange(tags=["VIP"]))
    from coordinator.services import cards, coupons, member_devices, points

    cards.bind_card(coord, ADMIN, "m1", cards.BindCard(uid=CARD))
    before = _state(coord)
    now = coord.clock.wall_ms()
    attempts: list[tuple[Any, ...]] = [
        (members.change_member, "m1", members.MemberChange(display_name="x")),
        (members.change_member, "m1", members.MemberChange(phone="13900009999")),
        (cards.bind_card, "m1", cards.BindCard(uid="04A1B2C3D4E5F7")),
        (cards.report_lost, CARD, cards.LostCard()),
        (cards.replace_card, CARD, cards.ReplaceCard(new_uid="04A1B2C3D4E5F8")),
        (passes.extend_pass, "m1", pass_id, passes.PassChange(valid_until_ms=now + 400 * DAY_MS)),
        (passes.extend_pass, "m1", pass_id,
         passes.PassChange(sessions_total=20, valid_until_ms=now + 400 * DAY_MS)),
        (passes.extend_pass, "m1", pass_id, passes.PassChange(sessions_total=5)),  # take away
        (points.grant_points, "m1", points.PointsGrant(points=100, reason="goodwill")),
        (coupons.issue_coupon, "m1",
         coupons.IssueCoupon(title="x", kind="trial", store_ids=["s2"], valid_from_ms=now,
                             valid_until_ms=now + DAY_MS)),
        (member_devices.revoke, "m1", "dev1"),
    ]  # fmt: skip
    for call, *args in attempts:
        error = refused("store_forbidden", call, coord, DESK_B, *args)
        assert isinstance(error, HomeStoreOnly) and error.status == 403
        assert "store s1" in error.message and "HQ" in error.message, error.message
    for frozen in (True, False):
        refused("store_forbidden", passes.update_pass, coord, DESK_B, "m1", pass_id, frozen=frozen)
    assert _state(coord) == before
    # A coach of s2 reads nothing of m1 and serves nothing.
    coach_b = Principal("coach9", Role.COACH, "s2")
    refused("read_only", money.top_up, coord, coach_b, "m1",
            money.TopUp(amount_fen=100, method=PaymentMethod.CASH))  # fmt: skip
    refused("store_forbidden", front_desk.member_profile, coord, coach_b, "m1")
    assert _state(coord) == before


def test_another_store_finds_a_member_only_by_an_exact_identifier(
    desk: tuple[Coordinator, SetClock],
) -> None:
    import json

    import sqlalchemy as sa

    from coordinator import schema
    from coordinator.services import cards, money
    from shared.money import PaymentMethod

    coord, _clock = desk
    cards.bind_card(coord, ADMIN, "m1", cards.BindCard(uid=CARD))
    members.create_member(coord, ADMIN, members.NewMember(
        member_id="m5", display_name="B*", phone="13800001299", home_store_id="s2"))  # fmt: skip
    members.create_member(coord, ADMIN, members.NewMember(
        member_id="m6", display_name="C*", home_store_id="s1", referrer_id="m1"))  # fmt: skip
    assert (
        front_desk.member_profile(coord, DESK_B, "m6", audit_view=False).member.referrer_id is None
    )
    money.top_up(coord, ADMIN, "m1", money.TopUp(amount_fen=5000, method=PaymentMethod.CASH,
                                                  store_id="s1"))  # fmt: skip

    def found(principal: Principal, q: str) -> list[tuple[str, str]]:
        return [
            (m.member_id, m.phone) for m in front_desk.search_members(coord, principal, q).items
        ]

    manager_b = Principal("mgr9", Role.STORE_MANAGER, "s2")
    for principal in (DESK_B, manager_b):
        # Browsing and prefixes show the own store only.
        assert found(principal, "") == [("m5", "13800001299")]
        assert found(principal, "1380000") == [("m5", "13800001299")]
        assert found(principal, "李") == [] and found(principal, "m") == [("m5", "13800001299")]
        # The whole phone number, member id or card UID reaches m1, masked.
        assert found(principal, "13800001234") == [("m1", "*******1234")]
        assert found(principal, "m1") == [("m1", "*******1234")]
        assert found(principal, "04:a1:b2:c3:d4:e5:f6") == [("m1", "*******1234")]
    # A coach of s2 does not serve: no cross-store match.
    assert found(Principal("coach9", Role.COACH, "s2"), "13800001234") == []
    # The CSV export follows the search: masked for another store's member.
    assert "13800001234" not in front_desk.members_csv(coord, DESK_B, "13800001234")

    view = front_desk.member_profile(coord, DESK_B, "m1")
    assert view.cross_store and view.masked
    assert (view.member.phone, view.member.birthday) == ("*******1234", None)
    # What the desk needs to serve: the stored value (and the passes and coupons).
    assert money.balance(coord, DESK_B, "m1", for_service=True).available_fen == 5000
    refused("store_forbidden", money.balance, coord, DESK_B, "m1")  # the API's read
    # Only s2's own lines of the timeline (s1's top-up and card binding are not shown).
    assert view.timeline == []
    money.top_up(coord, DESK_B, "m1", money.TopUp(amount_fen=100, method=PaymentMethod.CASH))
    again = front_desk.member_profile(coord, DESK_B, "m1")
    assert [(x.what, x.store_id, x.cross_store) for x in again.timeline] == [
        ("sv_topup", "s2", True)
    ]
    a = schema.audit_log
    with coord.db.read() as conn:
        views = conn.execute(
            sa.select(a.c.actor, a.c.detail).where(a.c.action == "member.view").order_by(a.c.id)
        ).all()
    assert [(actor, json.loads(detail)) for actor, detail in views] == [
        ("fd9", {"masked": True, "cross_store": True, "serving_store_id": "s2"}),
    ] * 2
    # The home store's own view is whole, unmasked.
    home = front_desk.member_profile(coord, DESK, "m1")
    assert not home.cross_store and home.member.phone == "13800001234"
