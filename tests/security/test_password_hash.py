"""One password/PIN hash format (scrypt) for ops users and staff PINs; old hashes still work.

The two older formats are built here with ``hashlib`` exactly as the old code wrote them
(coordinator ops users: hex; kiosk staff PIN: urlsafe base64; both ``pbkdf2_sha256`` at
120,000 iterations), so the tests do not trust the module under test to describe them.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from coordinator import schema
from coordinator.app import create_app
from coordinator.settings import CoordinatorSettings
from device.sessions import StaffSession, StaffSessions
from device.settings import KioskSettings
from device.staff_pin import DEV_PIN, DEV_PIN_HASH, hash_pin, verify_pin
from shared.password_hash import (
    RECOMMENDED,
    HashFormatError,
    ScryptCost,
    describe,
    hash_password,
    needs_upgrade,
    verify_password,
)
from tests.support.hashing import TEST_HASH_COST

SALT = bytes(range(16))


def old_coordinator_hash(password: str, iterations: int = 120_000) -> str:
    """What ``coordinator/auth.py`` stored for ops users before scrypt."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), SALT, iterations)
    return f"pbkdf2_sha256${iterations}${SALT.hex()}${digest.hex()}"


def old_kiosk_hash(pin: str, iterations: int = 120_000) -> str:
    """What ``tapfleet kiosk --hash-pin`` printed before scrypt."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), SALT, iterations)
    return f"pbkdf2_sha256${iterations}${b64(SALT)}${b64(digest)}"


def test_new_hashes_are_scrypt_at_the_recommended_cost() -> None:
    assert (RECOMMENDED.log2_n, RECOMMENDED.r, RECOMMENDED.p) == (14, 8, 5)
    assert RECOMMENDED.memory_bytes == 16 * 1024 * 1024
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("$scrypt$ln=14,r=8,p=5$")
    assert verify_password("correct horse battery staple", stored)
    assert not verify_password("correct horse battery stapler", stored)
    assert not needs_upgrade(stored)
    assert hash_password("same") != hash_password("same", TEST_HASH_COST)  # salted, and costed
    assert describe(stored) == "scrypt ln=14,r=8,p=5"  # no salt, no hash


def test_both_old_formats_still_verify_and_ask_for_an_upgrade() -> None:
    for old in (old_coordinator_hash("s3cret-password"), old_kiosk_hash("s3cret-password")):
        assert verify_password("s3cret-password", old)
        assert not verify_password("s3cret-passwore", old)
        assert needs_upgrade(old)
        assert describe(old) == "pbkdf2_sha256 with 120000 iterations"


def test_cost_comparison_only_upgrades() -> None:
    cheap = hash_password("pw", TEST_HASH_COST)
    assert needs_upgrade(cheap, RECOMMENDED)
    assert not needs_upgrade(cheap, TEST_HASH_COST)
    stronger = ScryptCost(log2_n=11, r=8, p=1)
    assert not needs_upgrade(hash_password("pw", stronger), TEST_HASH_COST)  # never downgraded


@pytest.mark.parametrize(
    ("stored", "why"),
    [
        ("plain text password", "unknown password hash format"),
        ("$scrypt$ln=14,r=8,p=5$c2FsdHNhbHQ$c2hvcnQ", "truncated"),
        ("$scrypt$ln=25,r=8,p=1$c2FsdHNhbHRzYWx0$" + "A" * 43, "log2_n"),
        ("$scrypt$ln=14,r=8,p=5$!!!$" + "A" * 43, "unknown password hash format"),
        (old_coordinator_hash("x", iterations=1000), "too weak"),
        ("pbkdf2_sha256$many$zz$zz", "damaged"),
    ],
)
def test_unusable_hashes_say_why(stored: str, why: str) -> None:
    with pytest.raises(HashFormatError, match=why):
        verify_password("x", stored)


# -- coordinator: the stored hash is rewritten on the next good login ------------------------


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    settings = CoordinatorSettings(
        dev_mode=True,
        database_url=f"sqlite:///{tmp_path / 'api.db'}",
        mqtt_enabled=False,
        housekeeping_interval_s=3600,
    )
    assert settings.password_hash == TEST_HASH_COST  # from the suite's environment
    with TestClient(create_app(settings)) as client:
        yield client


def _stored_hash(api: TestClient, username: str) -> str:
    db = api.app.state.coordinator.db  # type: ignore[attr-defined]
    with db.read() as conn:
        return str(
            conn.execute(
                sa.select(schema.users.c.password_hash).where(schema.users.c.username == username)
            ).scalar_one()
        )


def _set_stored_hash(api: TestClient, username: str, value: str) -> None:
    db = api.app.state.coordinator.db  # type: ignore[attr-defined]
    with db.write() as conn:
        conn.execute(
            sa.update(schema.users)
            .where(schema.users.c.username == username)
            .values(password_hash=value)
        )


def _login(api: TestClient, username: str, password: str) -> int:
    r = api.post("/api/v1/auth/token", data={"username": username, "password": password})
    return r.status_code


@pytest.mark.parametrize("old_format", [old_coordinator_hash, old_kiosk_hash])
def test_coordinator_upgrades_an_old_hash_on_the_next_good_login(
    api: TestClient, old_format: object, caplog: pytest.LogCaptureFixture
) -> None:
    assert callable(old_format)
    old = old_format("an old password")
    _set_stored_hash(api, "admin", old)

    assert _login(api, "admin", "not the password") == 401
    assert _stored_hash(api, "admin") == old  # a failed login changes nothing

    with caplog.at_level(logging.INFO, logger="coordinator.security.auth"):
        assert _login(api, "admin", "an old password") == 200
    upgraded = _stored_hash(api, "admin")
    assert upgraded.startswith("$scrypt$ln=10,r=8,p=1$")  # the configured (test) cost
    assert verify_password("an old password", upgraded)
    assert "upgraded the password hash of ops user admin from pbkdf2_sha256" in caplog.text
    assert "an old password" not in caplog.text

    assert _login(api, "admin", "an old password") == 200
    assert _stored_hash(api, "admin") == upgraded  # already current: left alone


def test_coordinator_hashes_new_users_at_the_configured_cost(api: TestClient) -> None:
    token = api.post("/api/v1/auth/token", data={"username": "admin", "password": "admin"})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    body = {"username": "viewer-1", "password": "viewer password", "role": "viewer"}
    assert api.post("/api/v1/users", json=body, headers=headers).status_code == 201
    assert _stored_hash(api, "viewer-1").startswith("$scrypt$ln=10,r=8,p=1$")
    assert _stored_hash(api, "admin").startswith("$scrypt$ln=10,r=8,p=1$")  # the first admin
    assert _login(api, "viewer-1", "viewer password") == 200
    assert _login(api, "nobody", "viewer password") == 401


# -- kiosk: an old PIN hash keeps working and is reported as outdated -----------------------


class _Clock:
    def wall_ms(self) -> int:
        return 0

    def monotonic(self) -> float:
        return 100.0


def test_kiosk_old_pin_hash_works_and_is_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = old_kiosk_hash("4711")
    settings = KioskSettings(
        kiosk_id="k1", store_id="s1", ledger_path=tmp_path / "l", staff={"pin_hash": old}
    )
    staff = StaffSessions(
        _Clock(),
        pin_hash=settings.staff.pin_hash.get_secret_value(),
        staff_id="store-staff",
        cards=(),
        idle_s=60,
        max_attempts=5,
        lockout_s=60,
    )
    assert staff.pin_hash_outdated
    with caplog.at_level(logging.WARNING, logger="device.sessions"):
        assert not isinstance(staff.login_pin("4712"), StaffSession)
        assert "outdated" not in caplog.text  # only a right PIN proves the hash is in use
        assert isinstance(staff.login_pin("4711"), StaffSession)
        assert isinstance(staff.login_pin("4711"), StaffSession)
    reports = [r for r in caplog.records if "outdated" in r.getMessage()]
    assert len(reports) == 1
    message = reports[0].getMessage()
    assert "pbkdf2_sha256 with 120000 iterations" in message and "--hash-pin" in message
    assert old.split("$")[3] not in message  # never the hash itself


def test_kiosk_refuses_any_hash_of_the_development_pin_in_old_format_too(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="development PIN"):
        KioskSettings(
            kiosk_id="k1",
            store_id="s1",
            ledger_path=tmp_path / "l",
            staff={"pin_hash": old_kiosk_hash(DEV_PIN)},
        )
    assert verify_pin(DEV_PIN, DEV_PIN_HASH)
    assert DEV_PIN_HASH.startswith("$scrypt$ln=14,r=8,p=5$")
    assert verify_pin("8642", hash_pin("8642", cost=TEST_HASH_COST))
