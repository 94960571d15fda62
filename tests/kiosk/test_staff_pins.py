"""Staff log in at the kiosk with their own PIN (hashes from the rule bundle): the session
records that person; the kiosk's shared PIN still records the configured staff id; a bad
hash in the bundle is logged and skipped, never a crash; a coach's own PIN shows only the
classes they teach on the roster."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from device.sessions import LoginRefused, StaffSession, StaffSessions
from shared.model import RuleBundle, StaffPin
from shared.password_hash import hash_password
from shared.protocol import RuleBundleMessage
from tests.kiosk.conftest import STAFF_PIN
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


def test_a_coach_pin_shows_only_their_own_roster(kiosk_factory: Any) -> None:
    """At a running kiosk (real HTTP): the coach teaching today's class sees it on the
    roster with their own PIN, another coach sees nothing, the shared PIN sees every class."""
    kiosk = kiosk_factory(with_class=True)
    ledger = kiosk.app.ledger
    current = ledger.rule_bundle()
    assert current is not None and [c.instructor for c in current.classes] == ["Lin"]
    pins = (
        StaffPin(staff_id="Lin", store_id="s1", role="coach",
                 pin_hash=hash_password("1357", TEST_HASH_COST)),
        StaffPin(staff_id="Kai", store_id="s1", role="coach",
                 pin_hash=hash_password("9753", TEST_HASH_COST)),
    )  # fmt: skip
    bundle = current.model_copy(update={"version": current.version + 1, "staff": pins})
    ledger.apply_rule_bundle(RuleBundleMessage(bundle=bundle))
    seen: dict[str, list[str]] = {}
    with httpx.Client(base_url=kiosk.url, timeout=10) as http:
        for who, pin in (("Lin", "1357"), ("Kai", "9753"), ("shared", STAFF_PIN)):
            login = http.post("/api/staff/login", json={"pin": pin})
            assert login.status_code == 200, login.text
            token = login.json()["token"]
            roster = http.get("/api/staff/roster", headers={"X-Staff-Session": token})
            assert roster.status_code == 200, roster.text
            seen[who] = [c["instructor"] for c in roster.json()["classes"]]
            http.post("/api/staff/logout", headers={"X-Staff-Session": token})
    assert seen == {"Lin": ["Lin"], "Kai": [], "shared": ["Lin"]}
