"""One settings precedence in both processes, secrets that never print, and a bad config that
is one line on stderr with exit status 2 through the real ``tapfleet`` command.

Precedence, highest first: values given in code (command-line flags), environment, config
file, defaults (``shared/settings_sources.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from coordinator.settings import CoordinatorSettings
from coordinator.settings import SettingsError as CoordinatorSettingsError
from coordinator.settings import load_settings as load_coordinator_settings
from device.settings import KioskSettings
from device.settings import SettingsError as KioskSettingsError
from device.settings import load_settings as load_kiosk_settings
from device.staff_pin import hash_pin
from tests.support.hashing import TEST_HASH_COST

TAPFLEET = [sys.executable, "-m", "shared.cli"]
PIN_HASH = hash_pin("8642", cost=TEST_HASH_COST)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TAPFLEET_* settings from the developer's shell or the suite (the hash cost)."""
    for name in list(os.environ):
        if name.upper().startswith(("TAPFLEET_KIOSK_", "TAPFLEET_COORD_")):
            monkeypatch.delenv(name)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- precedence ------------------------------------------------------------------------------


def test_kiosk_precedence_code_env_file_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write(
        tmp_path / "kiosk.toml",
        'kiosk_id = "k1"\nstore_id = "s1"\nledger_path = "/l.sqlite"\nlog_level = "WARNING"\n'
        '[link]\nhost = "file-host"\nport = 1883\n'
        f'[staff]\npin_hash = "{PIN_HASH}"\n',
    )
    monkeypatch.setenv("TAPFLEET_KIOSK_LINK__PORT", "1999")
    monkeypatch.setenv("TAPFLEET_KIOSK_LOG_LEVEL", "ERROR")
    s = load_kiosk_settings(cfg, {"log_level": "DEBUG"})
    assert s.log_level == "DEBUG"  # code (a flag) beats the environment
    assert s.link.port == 1999  # the environment beats the file ...
    assert s.link.host == "file-host"  # ... field by field: the file's other [link] fields stay
    assert s.ui.default_lang == "zh"  # nobody set it: the default
    assert load_kiosk_settings(cfg).log_level == "ERROR"


def test_coordinator_precedence_code_env_file_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write(
        tmp_path / "coordinator.toml",
        '[coordinator]\ndev_mode = true\nmqtt_host = "file-host"\nmqtt_port = 1883\n'
        'log_level = "WARNING"\n'
        "[coordinator.dashboard]\noffline_alert_after_s = 8\nsync_lag_alert_s = 77\n",
    )
    monkeypatch.setenv("TAPFLEET_COORD_MQTT_PORT", "1999")
    monkeypatch.setenv("TAPFLEET_COORD_LOG_LEVEL", "ERROR")
    monkeypatch.setenv("TAPFLEET_COORD_DASHBOARD__OFFLINE_ALERT_AFTER_S", "12")
    s = load_coordinator_settings(cfg, log_level="DEBUG", database_url=None)
    assert s.log_level == "DEBUG"  # a flag beats the environment (None: flag not given)
    assert s.mqtt_port == 1999  # the environment beats the file
    assert s.mqtt_host == "file-host"  # the file beats the default
    assert s.dashboard.offline_alert_after_s == 12  # nested, from the environment ...
    assert s.dashboard.sync_lag_alert_s == 77  # ... merged with the file's other fields
    assert s.database_url == "sqlite:///var/coordinator.db"  # the default
    assert load_coordinator_settings(cfg).log_level == "ERROR"


def test_constructed_settings_read_the_environment_under_their_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAPFLEET_COORD_MQTT_HOST", "env-host")
    monkeypatch.setenv("TAPFLEET_KIOSK_UI__PORT", "9001")
    assert CoordinatorSettings(dev_mode=True).mqtt_host == "env-host"
    assert CoordinatorSettings(dev_mode=True, mqtt_host="arg-host").mqtt_host == "arg-host"
    kiosk = {"kiosk_id": "k1", "store_id": "s1", "ledger_path": tmp_path, "dev_mode": True}
    assert KioskSettings(**kiosk).ui.port == 9001
    assert KioskSettings(**kiosk, ui={"port": 9002}).ui.port == 9002


# -- secrets ---------------------------------------------------------------------------------


def test_secrets_never_show_in_repr_str_or_json(tmp_path: Path) -> None:
    coordinator = CoordinatorSettings(
        secret_key="sk-" + "s" * 30,
        admin_password="admin-pass-1234",
        mqtt_username="coordinator",
        mqtt_password="mqtt-pass-5678",
        qr_key_secret="qr-secret-abcdefgh",
        metrics_token="metrics-token-xyz",
    )
    kiosk = KioskSettings(
        kiosk_id="k1",
        store_id="s1",
        ledger_path=tmp_path / "l",
        link={"username": "k1", "password": "kiosk-mqtt-pass"},
        staff={"pin_hash": PIN_HASH},
    )
    shown = " ".join(
        text
        for settings in (coordinator, kiosk)
        for text in (repr(settings), str(settings), settings.model_dump_json())
    )
    for secret in (
        "sk-" + "s" * 30,
        "admin-pass-1234",
        "mqtt-pass-5678",
        "qr-secret-abcdefgh",
        "metrics-token-xyz",
        "kiosk-mqtt-pass",
        PIN_HASH,
        PIN_HASH.split("$")[-1],
    ):
        assert secret not in shown
    assert coordinator.mqtt_password is not None
    assert coordinator.mqtt_password.get_secret_value() == "mqtt-pass-5678"  # still usable
    assert kiosk.staff.pin_hash.get_secret_value() == PIN_HASH


def test_load_errors_are_one_line_naming_the_field(tmp_path: Path) -> None:
    bad = write(tmp_path / "c.toml", "mqtt_prot = 1\nmqtt_port = 'eighty'\n")
    with pytest.raises(CoordinatorSettingsError) as caught:
        load_coordinator_settings(bad, dev_mode=True)
    message = str(caught.value)
    assert "\n" not in message
    assert "mqtt_prot: not a setting" in message and "mqtt_port: Input should be" in message
    with pytest.raises(KioskSettingsError, match=r"kiosk_id: required .*TAPFLEET_KIOSK_KIOSK_ID"):
        load_kiosk_settings(write(tmp_path / "k.toml", 'store_id = "s1"\nledger_path = "/l"\n'))


# -- through the real command line -----------------------------------------------------------

KIOSK_OK = 'kiosk_id = "k1"\nstore_id = "s1"\nledger_path = "l.sqlite"\n'
COORDINATOR_OK = 'secret_key = "a-long-random-production-key"\nadmin_password = "first admin pw"\n'

BAD_CONFIGS = {
    # problem: (kiosk config, coordinator config, words both messages must hold)
    "unknown key": (
        KIOSK_OK + f'[staff]\npin_hash = "{PIN_HASH}"\n[ui]\nprot = 1\n',
        COORDINATOR_OK + "mqtt_prot = 1\n",
        ("prot: not a setting", "remove it"),
    ),
    "wrong type": (
        KIOSK_OK + f'[staff]\npin_hash = "{PIN_HASH}"\n[ui]\nport = "eighty"\n',
        COORDINATOR_OK + 'mqtt_port = "eighty"\n',
        ("port: Input should be a valid integer",),
    ),
    "missing file": (None, None, ("cannot read config file", "No such file", "--config")),
    "unparsable TOML": (
        KIOSK_OK + "[ui\n",
        COORDINATOR_OK + "mqtt_port = \n",
        ("is not valid TOML",),
    ),
    "default secret outside dev": (
        KIOSK_OK,  # no staff.pin_hash: the development PIN
        "mqtt_port = 1883\n",  # no secret_key: the development key
        ("development", "set"),
    ),
}


def run_tapfleet(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TAPFLEET, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


@pytest.mark.parametrize("process", ["kiosk", "coordinator"])
@pytest.mark.parametrize("problem", list(BAD_CONFIGS))
def test_a_bad_config_is_one_line_and_exit_status_2(
    tmp_path: Path, process: str, problem: str
) -> None:
    kiosk_text, coordinator_text, words = BAD_CONFIGS[problem]
    text = kiosk_text if process == "kiosk" else coordinator_text
    cfg = tmp_path / f"{process}.toml"
    if text is not None:
        write(cfg, text)
    args = [process, "--config", str(cfg)]
    if process == "coordinator":
        args += ["--db", f"sqlite:///{tmp_path / 'coordinator.db'}", "--no-mqtt"]
    done = run_tapfleet(*args, cwd=tmp_path)

    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"tapfleet {process}: ")
    assert str(cfg) in lines[0]
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ([cfg.name] if text else [])


def test_a_bad_environment_variable_is_one_line_naming_it(tmp_path: Path) -> None:
    env = {**os.environ, "TAPFLEET_COORD_MQTT_PORT": "eighty"}
    done = run_tapfleet(
        "coordinator", "--dev", "--db", f"sqlite:///{tmp_path / 'c.db'}", cwd=tmp_path, env=env
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "mqtt_port: Input should be a valid integer" in done.stderr
    assert "TAPFLEET_COORD_MQTT_PORT" in done.stderr
