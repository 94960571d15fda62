"""Kiosk settings, staff PIN hashing and screen sessions (no IO beyond temp files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.sessions import LoginRefused, MemberSessions, StaffSession, StaffSessions
from device.settings import KioskSettings, SettingsError, load_settings
from device.staff_pin import (
    DEV_PIN_HASH,
    PinHashError,
    check_pin_hash,
    hash_pin,
    pin_hash_outdated,
    verify_pin,
)
from tests.support.hashing import TEST_HASH_COST

REAL_PIN_HASH = hash_pin("8642", cost=TEST_HASH_COST)


class FakeClock:
    """Injected time for sessions."""

    def __init__(self) -> None:
        self.now = 1000.0

    def wall_ms(self) -> int:
        return int(self.now * 1000)

    def monotonic(self) -> float:
        return self.now


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No stray TAPFLEET_KIOSK_* variables from the developer's shell."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("TAPFLEET_KIOSK_"):
            monkeypatch.delenv(name)


def test_minimal_toml_with_defaults(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "kiosk.toml",
        f'kiosk_id = "k1"\nstore_id = "s1"\nledger_path = "data/ledger.sqlite"\n'
        f'[staff]\npin_hash = "{REAL_PIN_HASH}"\n',
    )
    s = load_settings(cfg)
    assert s.ledger_path == tmp_path / "data" / "ledger.sqlite"  # relative to the file
    assert s.nfc.path == "usb" and s.nfc.targets == ("106A", "212F")
    assert s.camera.source is None
    assert s.ui.host == "127.0.0.1" and s.ui.default_lang == "zh"
    assert s.link.port == 1883
    assert s.dev_mode is False


def test_json_config_and_nested_sections(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "kiosk.json",
        '{"kiosk_id": "k2", "store_id": "s9", "ledger_path": "/var/lib/x.sqlite",'
        ' "dev_mode": true, "nfc": {"path": ""}, "link": {"host": "mqtt.lan", "port": 8883},'
        ' "staff": {"cards": ["04a1b2c3"]}}',
    )
    s = load_settings(cfg)
    assert s.nfc.path is None  # empty disables the card reader
    assert (s.link.host, s.link.port) == ("mqtt.lan", 8883)
    assert s.staff.cards == ("04A1B2C3",)


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write(
        tmp_path / "kiosk.toml",
        'kiosk_id = "k1"\nstore_id = "s1"\nledger_path = "/l.sqlite"\ndev_mode = true\n'
        '[link]\nhost = "file-host"\nport = 1883\n',
    )
    monkeypatch.setenv("TAPFLEET_KIOSK_LINK__PORT", "1999")
    monkeypatch.setenv("TAPFLEET_KIOSK_UI__DEFAULT_LANG", "en")
    s = load_settings(cfg)
    assert (s.link.host, s.link.port) == ("file-host", 1999)  # merged, not replaced
    assert s.ui.default_lang == "en"


def test_default_staff_pin_refused_outside_dev_mode(tmp_path: Path) -> None:
    cfg = write(tmp_path / "k.toml", 'kiosk_id = "k1"\nstore_id = "s1"\nledger_path = "/l"\n')
    with pytest.raises(SettingsError, match=r"development PIN 0000.*--hash-pin"):
        load_settings(cfg)
    # Any hash of the development PIN is refused, not just the shipped one.
    other = hash_pin("0000", cost=TEST_HASH_COST)
    with pytest.raises(SettingsError, match="development PIN"):
        load_settings(cfg, {"staff": {"pin_hash": other}})
    dev = load_settings(cfg, {"dev_mode": True})
    assert dev.staff.pin_hash.get_secret_value() == DEV_PIN_HASH


def test_unknown_and_invalid_keys_name_the_field(tmp_path: Path) -> None:
    base = 'kiosk_id = "k1"\nstore_id = "s1"\nledger_path = "/l"\ndev_mode = true\n'
    with pytest.raises(SettingsError, match=r"ui\.prot: not a setting"):
        load_settings(write(tmp_path / "a.toml", base + "[ui]\nprot = 8080\n"))
    with pytest.raises(SettingsError, match=r"kiosk_id"):
        load_settings(write(tmp_path / "b.toml", base.replace('"k1"', '"bad id!"')))
    with pytest.raises(SettingsError, match=r"not valid TOML"):
        load_settings(write(tmp_path / "c.toml", "kiosk_id = \n"))
    with pytest.raises(SettingsError, match=r"cannot read config file .*missing\.toml"):
        load_settings(tmp_path / "missing.toml")
    with pytest.raises(SettingsError, match=r"staff\.pin_hash.*--hash-pin"):
        load_settings(write(tmp_path / "d.toml", base + '[staff]\npin_hash = "1234"\n'))


def test_pin_hash_roundtrip() -> None:
    stored = hash_pin("135790", cost=TEST_HASH_COST)
    assert stored.startswith("$scrypt$ln=10,r=8,p=1$")
    assert verify_pin("135790", stored)
    assert not verify_pin("135791", stored)
    assert not verify_pin("abc", stored)
    assert pin_hash_outdated(stored)  # cheaper than production
    assert not pin_hash_outdated(DEV_PIN_HASH)
    with pytest.raises(ValueError, match="4 to 12 digits"):
        hash_pin("12")
    with pytest.raises(PinHashError, match="too weak"):
        check_pin_hash("pbkdf2_sha256$100$c2FsdHNhbHQ$" + "A" * 43)


def test_member_session_expires_and_is_replaced() -> None:
    clock = FakeClock()
    sessions = MemberSessions(clock, ttl_s=45)
    anna = sessions.open("M-1", "zh")
    assert sessions.get(anna.token) == anna
    clock.now += 44
    assert sessions.get(anna.token) is not None
    bob = sessions.open("M-2", "en")  # a new tap replaces the session
    assert sessions.get(anna.token) is None
    clock.now += 45
    assert sessions.get(bob.token) is None
    assert sessions.get(None) is None


def staff_sessions(clock: FakeClock) -> StaffSessions:
    return StaffSessions(
        clock,
        pin_hash=REAL_PIN_HASH,
        staff_id="store-staff",
        cards=("04E1E2E3",),
        idle_s=120,
        max_attempts=2,
        lockout_s=60,
    )


def test_staff_pin_lockout_and_idle_timeout() -> None:
    clock = FakeClock()
    staff = staff_sessions(clock)
    wrong = staff.login_pin("1111")
    assert isinstance(wrong, LoginRefused) and wrong.reason == "wrong_pin"
    locked = staff.login_pin("2222")
    assert isinstance(locked, LoginRefused) and locked.reason == "locked"
    assert isinstance(staff.login_pin("8642"), LoginRefused)  # locked even for the right PIN
    clock.now += 61
    session = staff.login_pin("8642")
    assert isinstance(session, StaffSession) and session.staff_id == "store-staff"

    clock.now += 100
    assert staff.get(session.token) is not None  # activity extends the session
    clock.now += 100
    assert staff.get(session.token) is not None
    clock.now += 121
    assert staff.get(session.token) is None


def test_staff_card_login() -> None:
    staff = staff_sessions(FakeClock())
    assert staff.login_card("04AAAAAA") is None
    session = staff.login_card("04e1e2e3")
    assert session is not None and session.staff_id == "card-04E1E2E3" and session.via == "card"


def test_settings_constructed_directly_are_validated(tmp_path: Path) -> None:
    s = KioskSettings(
        kiosk_id="k1", store_id="s1", ledger_path=tmp_path / "l", staff={"pin_hash": REAL_PIN_HASH}
    )
    assert s.staff.staff_id == "store-staff"
    with pytest.raises(ValueError, match="Extra inputs"):
        KioskSettings(kiosk_id="k1", store_id="s1", ledger_path=tmp_path, dev_mode=True, x=1)
