"""The two deployables stay apart: a static walk over every import (function-level and
``TYPE_CHECKING`` ones included) of ``device/``, ``shared/``, ``coordinator/`` and
``simulators/``.

* ``device/`` and ``shared/`` never import SQLAlchemy, psycopg, Alembic, Jinja or any
  ``coordinator`` code; ``coordinator/`` never imports OpenCV, nfcpy, pyzbar, zxing-cpp or
  ``device`` code; ``shared/`` imports no other Tapfleet package.
* Every third-party import is installed by the package's own extra (pyproject.toml), or by
  what that extra pulls in: a kiosk installed with ``tapfleet[kiosk]`` has all it imports.

``device/station/`` is MicroPython firmware for door stations, not part of the kiosk install.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"device", "coordinator", "shared", "simulators"}

PACKAGE_EXTRA = {"shared": None, "device": "kiosk", "coordinator": "coordinator", "sim": "sim"}
SOURCES = {
    "shared": "shared",
    "device": "device",
    "coordinator": "coordinator",
    "sim": "simulators",
}
SKIP = (ROOT / "device" / "station",)

FORBIDDEN = {
    "shared": {"sqlalchemy", "psycopg", "psycopg2", "alembic", "jinja2", "coordinator"}
    | {"device", "simulators", "cv2", "nfc", "pyzbar", "zxingcpp", "paho", "fastapi"},
    "device": {"sqlalchemy", "psycopg", "psycopg2", "alembic", "jinja2", "coordinator"}
    | {"simulators"},
    "coordinator": {"cv2", "nfc", "pyzbar", "zxingcpp", "ndef", "device", "simulators"},
    "sim": set(),
}


def python_files(package: str) -> list[Path]:
    """Every module of ``package`` that a CPython install carries."""
    return [
        path
        for path in sorted((ROOT / SOURCES[package]).rglob("*.py"))
        if not any(path.is_relative_to(skip) for skip in SKIP)
    ]


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in ``path``, at any depth of the syntax tree."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module_parts = path.relative_to(ROOT).with_suffix("").parts
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = module_parts[: len(module_parts) - node.level]
                yield node.lineno, ".".join([*base, node.module or ""]).strip(".")
            elif node.module is not None:
                yield node.lineno, node.module


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def _pyproject() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras: dict[str, list[str]] = dict(project["optional-dependencies"])
    extras[""] = list(project["dependencies"])
    return extras


def _names(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", requirement)
        assert match is not None, requirement
        if _normal(match[1]) == "tapfleet":  # tapfleet[kiosk,coordinator]
            for extra in (match[2] or "").split(","):
                names |= _names(_pyproject()[extra.strip()])
        else:
            names.add(_normal(match[1]))
    return names


@cache
def _closure(extra: str | None) -> frozenset[str]:
    """Distributions an install of ``tapfleet[extra]`` has: declared ones and their needs."""
    todo = _names(_pyproject()[""]) | (_names(_pyproject()[extra]) if extra else set())
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra ==" not in requirement.partition(";")[2]:
                todo |= _names([requirement.partition(";")[0]])
    return frozenset(seen)


@cache
def _providers() -> dict[str, list[str]]:
    return {
        k: [_normal(d) for d in v] for k, v in importlib.metadata.packages_distributions().items()
    }


def test_the_walk_sees_function_level_imports() -> None:
    found = {module for _, module in imports(ROOT / "device" / "kiosk_cli.py")}
    assert {"device.app", "device.settings", "device.staff_pin"} <= found  # all inside functions


@pytest.mark.parametrize("package", list(SOURCES))
def test_forbidden_imports(package: str) -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in python_files(package)
        for line, module in imports(path)
        if module.partition(".")[0] in FORBIDDEN[package]
    ]
    assert bad == []


@pytest.mark.parametrize("package", list(SOURCES))
def test_every_third_party_import_comes_with_the_extra(package: str) -> None:
    allowed = _closure(PACKAGE_EXTRA[package])
    problems = []
    for path in python_files(package):
        for line, module in imports(path):
            top = module.partition(".")[0]
            if top in OURS or top in sys.stdlib_module_names:
                continue
            providers = _providers().get(top)
            if not providers:
                problems.append(f"{path.relative_to(ROOT)}:{line}: {top} is not installed at all")
            elif not set(providers) & allowed:
                extra = PACKAGE_EXTRA[package] or "base"
                problems.append(
                    f"{path.relative_to(ROOT)}:{line}: {top} ({', '.join(providers)}) is not in "
                    f"the {extra} dependencies"
                )
    assert problems == []


def test_kiosk_extra_has_none_of_the_coordinator_stack_and_vice_versa() -> None:
    kiosk, coordinator = _closure("kiosk"), _closure("coordinator")
    assert not {"sqlalchemy", "psycopg", "psycopg-binary", "alembic", "jinja2"} & kiosk
    assert not {"opencv-python-headless", "nfcpy", "pyzbar", "zxing-cpp"} & coordinator
    assert (
        _names(_pyproject()["test"])
        >= _names(_pyproject()["sim"])
        >= (_names(_pyproject()["kiosk"]) | _names(_pyproject()["coordinator"]))
    )
