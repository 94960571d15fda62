"""Enrolling a station: a fresh key in the kiosk's TOML config and in the board's config.json,
both readable by their side's own loader, the key never in the kiosk settings' repr."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from device.settings import load_settings
from device.staff_pin import hash_pin
from device.station_tools.enroll import enroll
from device.station_tools.errors import StationToolError
from tests.station.mp import run_mp_json


def test_enrolment_writes_both_sides_and_they_agree(tmp_path: Path) -> None:
    kiosk = tmp_path / "kiosk.toml"
    kiosk.write_text(
        "# the store's kiosk\n"
        'kiosk_id = "k1"\nstore_id = "s1"\nledger_path = "ledger.sqlite"\n'
        f'[staff]\npin_hash = "{hash_pin("2468")}"\n',
        encoding="utf-8",
    )
    board = tmp_path / "station-config.json"
    enrollment = enroll(
        kiosk,
        station_id="st-studio-a",
        room="studio-a",
        kiosk_host="192.168.1.20",
        kiosk_port=8470,
        wifi_ssid="store-staff",
        wifi_password="pw",
        out=board,
    )
    assert kiosk.read_text(encoding="utf-8").startswith("# the store's kiosk\n")  # kept
    for path in (kiosk, board):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    settings = load_settings(kiosk)
    [enrolled] = settings.stations.enrolled
    assert (enrolled.station_id, enrolled.room) == ("st-studio-a", "studio-a")
    key = enrollment.key.get_secret_value()
    assert key not in repr(settings)
    assert enrolled.key_bytes == bytes.fromhex(key)

    # The board reads its file with the firmware's own loader, under MicroPython.
    (tmp_path / "config.json").write_text(board.read_text(encoding="utf-8"), encoding="utf-8")
    code = """
import json, binascii
from tapstation.config import load
c = load("config.json")
print(json.dumps([c.station_id, binascii.hexlify(c.key).decode(), c.kiosk_host, c.kiosk_port]))
"""
    assert run_mp_json(code, cwd=str(tmp_path)) == ["st-studio-a", key, "192.168.1.20", 8470]
    assert json.loads(board.read_text())["wifi"] == {"ssid": "store-staff", "password": "pw"}

    with pytest.raises(StationToolError, match="already enrolled"):
        enroll(
            kiosk,
            station_id="st-studio-a",
            room=None,
            kiosk_host="192.168.1.20",
            kiosk_port=8470,
            wifi_ssid="s",
            wifi_password="",
            out=tmp_path / "again.json",
        )
