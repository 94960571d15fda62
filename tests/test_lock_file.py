"""requirements/test.lock, which ``make setup`` installs from, agrees with pyproject.toml.

Every requirement of the base and of every extra (the test extra pulls in the others) is
pinned with ``==`` to a version its range allows, every pin carries at least one hash (pip
installs the lock with ``--require-hashes``), and nothing is pinned as a direct requirement
that pyproject no longer asks for. When this fails, run ``make lock``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "test.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _lock_entries(text: str) -> dict[str, list[tuple[Version, list[str], list[str]]]]:
    """Each pinned name with its pins: version, hashes and "via" lines of each.

    A universal lock pins one name twice only under different environment markers (numpy
    for Python < 3.12 and >= 3.12); an unmarked second pin is a broken lock.
    """
    entries: dict[str, list[tuple[Version, list[str], list[str]]]] = {}
    current: tuple[Version, list[str], list[str]] | None = None
    for line in text.splitlines():
        match = PIN.match(line)
        if match:
            name = canonicalize_name(match.group(1))
            marked = ";" in line
            assert marked or name not in entries, f"{name} is pinned twice without markers"
            current = (Version(match.group(2)), [], [])
            entries.setdefault(name, []).append(current)
        elif current is not None and line.strip().startswith("--hash=sha256:"):
            current[1].append(line.strip().removesuffix("\\").strip())
        elif current is not None and line.lstrip().startswith("#"):
            current[2].append(line.strip("# \n"))
    return entries


def _project_requirements() -> list[Requirement]:
    """The base dependencies and every extra's, the project's own self-references left out."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        reqs.extend(Requirement(r) for r in extra)
    return [r for r in reqs if canonicalize_name(r.name) != canonicalize_name(project["name"])]


def test_the_lock_pins_every_project_requirement_within_its_range() -> None:
    entries = _lock_entries(LOCK.read_text())
    problems = []
    for req in _project_requirements():
        name = canonicalize_name(req.name)
        if name not in entries:
            problems.append(f"{req} is not in the lock")
            continue
        for version, _, _ in entries[name]:
            if not req.specifier.contains(version, prereleases=True):
                problems.append(f"{req} but the lock pins {version}")
    assert not problems, "run `make lock`: " + "; ".join(problems)


def test_every_pin_has_a_hash_and_pip_itself_is_pinned() -> None:
    entries = _lock_entries(LOCK.read_text())
    assert "pip" in entries, "the installer is part of the lock (requirements/tools.in)"
    unhashed = sorted(name for name, pins in entries.items() for _, hashes, _ in pins if not hashes)
    assert not unhashed, f"pins without a hash (pip --require-hashes refuses them): {unhashed}"
    assert "tapfleet" not in entries, "the project itself installs with --no-deps -e ."


def test_no_direct_pin_is_left_over_from_a_removed_requirement() -> None:
    wanted = {canonicalize_name(r.name) for r in _project_requirements()}
    direct = {
        name
        for name, pins in _lock_entries(LOCK.read_text()).items()
        for _, _, via in pins
        if any("tapfleet (pyproject.toml)" in line for line in via)
    }
    assert direct, "the lock names no requirement as coming from pyproject.toml"
    assert direct <= wanted, f"run `make lock`: pinned for pyproject but gone: {direct - wanted}"


def test_lock_entries_reads_pins_hashes_and_origins() -> None:
    # The parser the checks above rely on, on a small lock in the same format.
    sample = (
        "alpha==1.2 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n"
        "    # via tapfleet (pyproject.toml)\n"
        "beta-gamma==0.3 ; sys_platform == 'linux' \\\n    --hash=sha256:cc\n    # via alpha\n"
    )
    entries = _lock_entries(sample)
    assert entries["alpha"] == [
        (
            Version("1.2"),
            ["--hash=sha256:aa", "--hash=sha256:bb"],
            ["via tapfleet (pyproject.toml)"],
        )
    ]
    assert entries["beta-gamma"] == [(Version("0.3"), ["--hash=sha256:cc"], ["via alpha"])]
    twice = sample + "alpha==2.0 ; python_full_version >= '3.12' \\\n    --hash=sha256:dd\n"
    assert [pin[0] for pin in _lock_entries(twice)["alpha"]] == [Version("1.2"), Version("2.0")]
