"""Enrolling a new kiosk: trade a one-time code for its identity and broker credentials.

Staff ask the coordinator for a code (``POST /api/v1/enrollment-codes``); on the new kiosk::

    tapfleet kiosk enroll --coordinator https://hq.example --code KQ7M-3XHT-PZ9D-WA4C \\
        --out /etc/tapfleet/kiosk.toml

calls ``POST /api/v1/enroll`` and writes ``kiosk_id``, ``store_id`` and the ``[link]`` section
(broker host, port, user, password and, when the broker speaks TLS, its CA in
``broker-ca.pem`` next to the config) into the config file, mode 600. Settings already in
the file (readers, UI, staff PIN, a CA or client certificate set by hand) are kept. The code
works once: a second run with it fails.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from device.errors import DeviceError
from device.settings import read_config_file

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class EnrollError(DeviceError):
    """Enrollment failed; the message says why and what to do."""

    code = "enroll_failed"


def request_credentials(
    coordinator_url: str, code: str, *, ca_file: Path | None = None, timeout_s: float = 15.0
) -> dict[str, Any]:
    """Redeem ``code`` at the coordinator; its answer (identity and broker credentials)."""
    url = coordinator_url.rstrip("/") + "/api/v1/enroll"
    verify: str | bool = str(ca_file) if ca_file is not None else True
    try:
        response = httpx.post(url, json={"code": code.strip()}, timeout=timeout_s, verify=verify)
    except httpx.HTTPError as exc:
        raise EnrollError(
            f"cannot reach the coordinator at {coordinator_url}: {exc}; check the URL and "
            "the network (and --coordinator-ca for a private HTTPS certificate)"
        ) from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 201:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        message = error.get("message") or response.text[:200]
        raise EnrollError(
            f"the coordinator refused the enrollment ({response.status_code} "
            f"{error.get('code', 'error')}): {message}"
        )
    if not isinstance(body, dict) or not isinstance(body.get("mqtt"), dict):
        raise EnrollError("the coordinator's answer has no broker credentials; is the URL right?")
    return body


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise EnrollError(f"cannot write {type(value).__name__} values to the kiosk config")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def render_toml(data: Mapping[str, Any]) -> str:
    """TOML for a kiosk config: top-level values, then one table per section."""
    lines = ["# Tapfleet kiosk settings (written by `tapfleet kiosk enroll`)"]
    tables = {k: v for k, v in data.items() if isinstance(v, Mapping)}
    for key, value in data.items():
        if key not in tables and value is not None:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for name, table in tables.items():
        lines += ["", f"[{_toml_key(name)}]"]
        for key, value in table.items():
            if isinstance(value, Mapping):
                raise EnrollError(f"nested table {name}.{key} is not supported in kiosk configs")
            if value is not None:
                lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_config(
    answer: Mapping[str, Any], out: Path, *, ledger_path: str | None = None
) -> dict[str, Any]:
    """Merge the enrollment answer into the config at ``out`` (created if missing)."""
    data: dict[str, Any] = read_config_file(out) if out.exists() else {}
    mqtt = answer["mqtt"]
    data["kiosk_id"] = answer["kiosk_id"]
    data["store_id"] = answer["store_id"]
    if ledger_path is not None or "ledger_path" not in data:
        data["ledger_path"] = ledger_path or "ledger.sqlite"
    link = dict(data.get("link") or {})
    link.update(
        host=mqtt["host"],
        port=int(mqtt["port"]),
        username=mqtt["username"],
        password=mqtt["password"],
    )
    if mqtt.get("ca_pem"):
        ca_file = out.parent / "broker-ca.pem"
        _write_private(ca_file, str(mqtt["ca_pem"]))
        link["ca_file"] = str(ca_file.resolve())
    data["link"] = link
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_private(out, render_toml(data))
    return data
