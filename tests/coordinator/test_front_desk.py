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
