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

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from device.errors import DeviceError
from device.settings import read_config_file


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


def render_toml(data: Mapping[str, Any]) -> str:
    """TOML for a kiosk config (tomli-w); None values are left out, as TOML has no null."""

    def without_none(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: without_none(v) for k, v in value.items() if v is not None}
        return value

    try:
        body = tomli_w.dumps(without_none(data))
    except TypeError as exc:
        raise EnrollError(f"cannot write the kiosk config: {exc}") from exc
    return "# Tapfleet kiosk settings (written by `tapfleet kiosk enroll`)\n" + body


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
