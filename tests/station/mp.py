"""Running MicroPython code for the firmware tests: the real unix port, the firmware's source
and the simulated board on ``MICROPYPATH``."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from typing import Any

from device.station_tools import FIRMWARE_DIR
from simulators.station.board import SIM_BOARD_DIR, micropython_binary


def run_mp(
    code: str, *, env: Mapping[str, str] | None = None, cwd: str | None = None, timeout: float = 60
) -> str:
    """Run ``code`` under MicroPython; its stdout (AssertionError with the output on failure)."""
    result = subprocess.run(
        [micropython_binary(), "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "MICROPYPATH": f"{FIRMWARE_DIR}:{SIM_BOARD_DIR}", **(env or {})},
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"micropython exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def run_mp_json(code: str, **kwargs: Any) -> Any:
    """Run ``code``, which prints one JSON value on its last line; that value."""
    out = run_mp(code, **kwargs).strip().splitlines()
    return json.loads(out[-1])
