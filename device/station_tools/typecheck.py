"""Type-check the station firmware against the board's MicroPython stubs with mypy.

The stubs are the board's (``micropython-esp32-esp32-generic-stubs``: ``machine``,
``network``, ``time`` with ``ticks_ms``...) over MicroPython's reduced standard library
(``micropython-stdlib-stubs`` as mypy's typeshed), so a CPython-only call or a method the
ESP32 port lacks is an error. The stub packages install their ``.pyi`` files at the top of
site-packages; they are linked into a private folder so nothing else sees them, and errors
inside the stubs themselves are not the firmware's and are ignored.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from device.station_tools import FIRMWARE_DIR
from device.station_tools.errors import StationToolError

BOARD_STUBS = "micropython-esp32-esp32_generic-stubs"
STDLIB_STUBS = "micropython-stdlib-stubs"


def _files(dist: str) -> list[metadata.PackagePath]:
    try:
        files = metadata.distribution(dist).files or []
    except metadata.PackageNotFoundError as exc:
        raise StationToolError(
            f"{dist} is not installed: `pip install {dist.replace('_', '-')}` "
            "(`make setup` does, from pyproject's test extras)"
        ) from exc
    return files


def _link_board_stubs(into: Path) -> list[str]:
    """Link the board's stub files into ``into``; returns their module names."""
    modules = []
    for file in _files(BOARD_STUBS):
        if file.suffix != ".pyi":
            continue
        target = into / str(file)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(Path(str(file.locate())).resolve())
        parts = Path(str(file)).with_suffix("").parts
        modules.append(".".join(p for p in parts if p != "__init__"))
    return modules


def _typeshed_dir() -> Path:
    for file in _files(STDLIB_STUBS):
        if Path(str(file)).parts[:1] == ("stdlib",):
            return Path(str(file.locate())).resolve().parents[len(Path(str(file)).parts) - 1]
    raise StationToolError(f"{STDLIB_STUBS} holds no stdlib folder; reinstall it")


def typecheck(source: Path = FIRMWARE_DIR) -> list[str]:
    """mypy's complaints about the firmware (strict); an empty list when it is clean."""
    package = sorted(str(p) for p in (source / "tapstation").glob("*.py"))
    files = [*package, str(source / "main.py")]
    with tempfile.TemporaryDirectory(prefix="station-typecheck-") as tmp:
        stubs = Path(tmp) / "stubs"
        stubs.mkdir()
        modules = _link_board_stubs(stubs)
        config = Path(tmp) / "mypy.ini"
        lines = [
            "[mypy]",
            "strict = True",
            "no_site_packages = True",
            "explicit_package_bases = True",
            f"custom_typeshed_dir = {_typeshed_dir()}",
            f"mypy_path = {stubs}:{source}",
            f"cache_dir = {Path(tmp) / 'cache'}",
            "",
            f"[mypy-{','.join(sorted(set(modules)))}]",
            "ignore_errors = True",
        ]
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "MYPYPATH"}
        result = subprocess.run(
            [sys.executable, "-m", "mypy", "--config-file", str(config), *files],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=source,
            env=env,
            check=False,
        )
    lines_out = [line for line in result.stdout.splitlines() if ": error:" in line]
    if result.returncode not in (0, 1) or (result.returncode == 1 and not lines_out):
        raise StationToolError(f"mypy did not run: {result.stderr.strip() or result.stdout}")
    return lines_out
