"""CI on the board's toolchain: mpy-cross builds the firmware, mypy checks it against the
ESP32's MicroPython stubs. Both fail (never skip) when the tools are missing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from device.station_tools import FIRMWARE_DIR
from device.station_tools.build import build, firmware_sources, mpy_cross
from device.station_tools.errors import StationToolError
from device.station_tools.typecheck import typecheck


def test_mpy_cross_is_installed() -> None:
    out = subprocess.run([mpy_cross(), "--version"], capture_output=True, text=True, check=True)
    assert "mpy-cross" in out.stdout


def test_every_module_builds_for_the_esp32(tmp_path: Path) -> None:
    made = build(tmp_path)
    names = sorted(p.relative_to(tmp_path).as_posix() for p in made)
    expected = sorted(
        "main.py" if p.name == "main.py" else f"tapstation/{p.stem}.mpy" for p in firmware_sources()
    )
    assert names == expected
    assert "tapstation/ports.mpy" not in names  # type-checker only, never shipped
    for path in made:
        if path.suffix == ".mpy":
            assert path.read_bytes()[:1] == b"M"  # the .mpy header


def _firmware_copy(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    shutil.copytree(FIRMWARE_DIR, source, ignore=shutil.ignore_patterns("__pycache__"))
    return source


@pytest.mark.parametrize(
    "code",
    [
        "def kind(x):\n    match x:\n        case 1:\n            return 'one'\n",
        "def f(a, /, b):\n    return a + b\n",
    ],
    ids=["match statement", "positional-only parameters"],
)
def test_a_syntax_the_board_lacks_fails_the_build(tmp_path: Path, code: str) -> None:
    source = _firmware_copy(tmp_path)
    (source / "tapstation" / "newer.py").write_text(code, encoding="utf-8")
    with pytest.raises(StationToolError, match=r"mpy-cross refused .*newer\.py"):
        build(tmp_path / "out", source)


def test_the_firmware_type_checks_against_the_board_stubs() -> None:
    assert typecheck() == []


def test_a_call_the_board_lacks_is_a_type_error(tmp_path: Path) -> None:
    source = _firmware_copy(tmp_path)
    (source / "tapstation" / "newer.py").write_text(
        "import machine\nimport time\n\n\n"
        "def f() -> int:\n"
        "    machine.UART(1).readall()\n"  # CPython's pyserial habit; no such method
        "    return time.monotonic_ns()\n",  # not in MicroPython's time
        encoding="utf-8",
    )
    problems = typecheck(source)
    assert any("newer.py:6" in p and "readall" in p for p in problems), problems
    assert any("newer.py:7" in p and "monotonic_ns" in p for p in problems), problems
