"""The umbrella ``tapfleet`` command (``shared/cli.py``): lazy dispatch, one package per
subcommand, and one clear line when the subcommand's extra is not installed."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.cli import COMMANDS, missing_distributions

TAPFLEET = [sys.executable, "-m", "shared.cli"]
ROOT = Path(__file__).resolve().parents[2]
PACKAGE_OF_EXTRA = {"kiosk": "device", "coordinator": "coordinator", "sim": "simulators"}


def _registered(module: str) -> dict[str, str | None]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    importlib.import_module(module).register(sub)
    return {action.dest: action.help for action in sub._choices_actions}


@pytest.mark.parametrize("module", sorted({c.module for c in COMMANDS.values()}))
def test_each_module_registers_exactly_its_commands_from_its_own_package(module: str) -> None:
    expected = {name: c.summary for name, c in COMMANDS.items() if c.module == module}
    assert _registered(module) == expected
    for name in expected:
        assert module.partition(".")[0] == PACKAGE_OF_EXTRA[COMMANDS[name].extra]


REPORT_MODULES = """
import atexit
import sys

def report():
    print("MODULES", *sorted({name.partition(".")[0] for name in sys.modules}), file=sys.stderr)

atexit.register(report)
from shared.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _imported_by(*args: str) -> set[str]:
    """Top-level packages a ``tapfleet`` run had imported when it exited."""
    done = subprocess.run(
        [sys.executable, "-c", REPORT_MODULES, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage: tapfleet")
    report = [line for line in done.stderr.splitlines() if line.startswith("MODULES ")]
    assert len(report) == 1
    return set(report[0].split()[1:])


def test_kiosk_help_imports_no_coordinator_and_coordinator_help_no_kiosk() -> None:
    kiosk = _imported_by("kiosk", "--help")
    assert "device" in kiosk
    assert not {"coordinator", "simulators", "sqlalchemy", "alembic", "jinja2"} & kiosk
    coordinator = _imported_by("coordinator", "--help")
    assert "coordinator" in coordinator
    assert not {"device", "simulators", "cv2", "nfc", "pyzbar", "zxingcpp"} & coordinator
    overview = _imported_by("--help")
    assert not {"device", "coordinator", "simulators"} & overview


def test_this_environment_has_every_extra() -> None:
    for extra in ("kiosk", "coordinator", "sim", "test"):
        assert missing_distributions(extra) == []


def test_a_missing_extra_is_one_line_naming_the_install(tmp_path: Path) -> None:
    """Installation metadata that declares a coordinator extra this machine lacks."""
    info = tmp_path / "tapfleet-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tapfleet\nVersion: 0.1.0\n"
        "Requires-Dist: pydantic>=2.6\n"
        "Provides-Extra: coordinator\n"
        'Requires-Dist: tapfleet-absent-dependency>=1; extra == "coordinator"\n'
        "Provides-Extra: sim\n"
        'Requires-Dist: tapfleet[coordinator]; extra == "sim"\n',
        encoding="utf-8",
    )
    # First on the path (the working directory too, as the checkout holds tapfleet.egg-info).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}

    def tapfleet(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*TAPFLEET, *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=tmp_path,
            check=False,
        )

    for command in (["coordinator", "--dev"], ["broker-config", "--help"]):
        done = tapfleet(*command)
        assert done.returncode == 2
        assert done.stderr == (
            f"tapfleet {command[0]} needs the coordinator extra: "
            "pip install 'tapfleet[coordinator]' (missing: tapfleet-absent-dependency)\n"
        )
    demo = tapfleet("demo")
    assert demo.returncode == 2 and "needs the sim extra" in demo.stderr  # through [coordinator]
    kiosk = tapfleet("kiosk", "--help")
    assert kiosk.returncode == 0 and kiosk.stdout.startswith("usage: tapfleet kiosk")


BLOCK_SQLALCHEMY = """
import sys

class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "sqlalchemy":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Absent())
from shared.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_module_missing_at_run_time_gets_the_same_line(tmp_path: Path) -> None:
    """Without installation metadata (a source tree), the import failure itself is caught."""
    args = ["coordinator", "--dev", "--no-mqtt", "--db", f"sqlite:///{tmp_path / 'c.db'}"]
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_SQLALCHEMY, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "tapfleet coordinator needs the coordinator extra: pip install 'tapfleet[coordinator]' "
        "(missing: sqlalchemy)"
    )
    assert "Traceback" not in done.stderr


def test_no_command_prints_the_overview_and_an_unknown_one_is_named() -> None:
    bare = subprocess.run(TAPFLEET, capture_output=True, text=True, timeout=60)
    assert bare.returncode == 2 and "ledger" in bare.stderr and "[kiosk]" in bare.stderr
    wrong = subprocess.run([*TAPFLEET, "kiosck"], capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and "invalid choice: 'kiosck'" in wrong.stderr
