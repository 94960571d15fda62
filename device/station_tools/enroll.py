"""Enrol a door station: a fresh key on the kiosk, the same key in the board's config.json.

The kiosk's config gets one ``[[stations.enrolled]]`` table appended (the rest of the file,
comments included, is kept); the board's file is written for ``mpremote cp``. Both files are
written with mode 600: the key lets whoever holds it sign taps for that door. The kiosk
reads its stations at start: restart it after enrolling.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from device.settings import read_config_file
from device.station_gate.settings import StationEnrollment
from device.station_tools.errors import StationToolError


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def board_config(
    enrollment: StationEnrollment,
    *,
    kiosk_host: str,
    kiosk_port: int,
    wifi_ssid: str,
    wifi_password: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The station's config.json content (see ``tapstation/config.py``)."""
    data: dict[str, Any] = {
        "station_id": enrollment.station_id,
        "key": enrollment.key.get_secret_value().lower(),
        "kiosk": {"host": kiosk_host, "port": kiosk_port},
        "wifi": {"ssid": wifi_ssid, "password": wifi_password},
    }
    data.update(extra or {})
    return data


def enroll(
    kiosk_config: Path,
    *,
    station_id: str,
    room: str | None,
    kiosk_host: str,
    kiosk_port: int,
    wifi_ssid: str,
    wifi_password: str,
    out: Path,
) -> StationEnrollment:
    """Add the station to ``kiosk_config`` and write its board config to ``out``."""
    data = read_config_file(kiosk_config)
    if kiosk_config.suffix.lower() == ".json":
        raise StationToolError(
            f"{kiosk_config} is JSON; enrolment appends to a TOML kiosk config. Add the "
            "station to its stations.enrolled list by hand, or use a .toml config"
        )
    enrolled = (data.get("stations") or {}).get("enrolled") or []
    if any(entry.get("station_id") == station_id for entry in enrolled):
        raise StationToolError(
            f"station {station_id} is already enrolled in {kiosk_config}; remove its "
            "[[stations.enrolled]] table first to give it a new key"
        )
    try:
        enrollment = StationEnrollment(station_id=station_id, room=room, key=secrets.token_hex(32))
    except ValidationError as exc:
        raise StationToolError(f"cannot enrol {station_id!r}: {exc.errors()[0]['msg']}") from exc
    block = ["", "[[stations.enrolled]]", f"station_id = {json.dumps(station_id)}"]
    if room is not None:
        block.append(f"room = {json.dumps(room)}")
    block.append(f'key = "{enrollment.key.get_secret_value()}"')
    text = kiosk_config.read_text(encoding="utf-8").rstrip("\n") + "\n" + "\n".join(block) + "\n"
    _write_private(kiosk_config, text)
    config = board_config(
        enrollment,
        kiosk_host=kiosk_host,
        kiosk_port=kiosk_port,
        wifi_ssid=wifi_ssid,
        wifi_password=wifi_password,
    )
    _write_private(out, json.dumps(config, indent=2) + "\n")
    return enrollment
