"""Staff log in at the kiosk with their own PIN (hashes from the rule bundle): the session
records that person; the kiosk's shared PIN still records the configured staff id; a bad
hash in the bundle is logged and skipped, never a crash."""

from __future__ import annotations

import logging

import pytest

from device.sessions import LoginRefused, StaffSession, StaffSessions
from shared.model import RuleBundle, StaffPin
from shared.password_hash import hash_password
from tests.kiosk.test_settings import FakeClock
from tests.support.hashing import TEST_HASH_COST

SHARED = hash_password("8642", TEST_HASH_COST)


def sessions(roster: list[tuple[str, str]]) -> StaffSessions:
    """Staff sessions of a kiosk whose bundle lists ``roster``."""
    return StaffSessions(
        FakeClock(),
        pin_hash=SHARED,
        staff_id="store-staff",
        cards=(),
        idle_s=120,
        max_attempts=3,
        lockout_s=60,
        roster=lambda: roster,
    )


def test_own_pin_records_the_person() -> None:
    bundle = RuleBundle(
        version=3,
        staff=(
            StaffPin(
                staff_id="anna", store_id="s1", pin_hash=hash_password("1357", TEST_HASH_COST)
            ),
            StaffPin(staff_id="bo", store_id="s1", pin_hash=hash_password("2468", TEST_HASH_COST)),
            StaffPin(staff_id="cy", store_id="s2", pin_hash=hash_password("9999", TEST_HASH_COST)),
        ),
    )
    roster = [(p.staff_id, p.pin_hash) for p in bundle.staff_pins("s1")]
    assert [x[0] for x in roster] == ["anna", "bo"]
    staff = sessions(roster)
    bo = staff.login_pin("2468")
    assert isinstance(bo, StaffSession) and bo.staff_id == "bo"
    anna = staff.login_pin("1357")
    assert isinstance(anna, StaffSession) and anna.staff_id == "anna"
    shared = staff.login_pin("8642")
    assert isinstance(shared, StaffSession) and shared.staff_id == "store-staff"
    # Another store's staff PIN is not accepted here.
    refused = staff.login_pin("9999")
    assert isinstance(refused, LoginRefused) and refused.reason == "wrong_pin"


def test_a_bad_hash_in_the_bundle_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    staff = sessions([("broken", "not-a-hash"), ("anna", hash_password("1357", TEST_HASH_COST))])
    with caplog.at_level(logging.ERROR):
        anna = staff.login_pin("1357")
    assert isinstance(anna, StaffSession) and anna.staff_id == "anna"
    assert "broken" in caplog.text
