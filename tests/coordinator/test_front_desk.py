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
from coordinator.services import front_desk, members, passes, stores, users
from coordinator.services.passes import SellPass
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
    refused("store_forbidden", front_desk.member_profile, coord, DESK, "m9")
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
