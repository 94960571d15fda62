"""``python -m bench.X`` never imports the test package, and neither does product code.

A static walk over the source: from each starting module, every first-party module it
imports (at the top or inside a function), and every package on the way, transitively.
``bench/`` has its own helpers (``bench/common.py``) or reuses product-side ones from
``simulators/``; product packages never reach into ``tests``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("bench", "coordinator", "device", "shared", "simulators", "tests")
PRODUCT = ("coordinator", "device", "shared", "simulators")


def module_file(name: str) -> Path | None:
    """The source file of a first-party module, or None (third-party, or no such module)."""
    if name.split(".")[0] not in FIRST_PARTY:
        return None
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def modules_in(package: str) -> list[str]:
    """Every module of a first-party package folder."""
    names = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def imported_by(name: str) -> set[str]:
    """First-party modules ``name`` imports anywhere in its source, with their packages."""
    path = module_file(name)
    assert path is not None, name
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for target in targets:
            parts = target.split(".")
            for end in range(1, len(parts) + 1):
                candidate = ".".join(parts[:end])
                if module_file(candidate) is not None:
                    found.add(candidate)
    return found


def reach(starts: Iterable[str]) -> dict[str, str | None]:
    """Every module reachable from ``starts``, mapped to the module that first imported it."""
    parent: dict[str, str | None] = {}
    todo = []
    for start in starts:
        parent.setdefault(start, None)
        todo.append(start)
    while todo:
        current = todo.pop()
        for target in sorted(imported_by(current)):
            if target not in parent:
                parent[target] = current
                todo.append(target)
    return parent


def chain(parent: dict[str, str | None], module: str) -> str:
    """``a -> b -> module``: how the walk got to ``module``."""
    steps = [module]
    while (up := parent[steps[-1]]) is not None:
        steps.append(up)
    return " -> ".join(reversed(steps))


def test_the_walk_follows_imports_inside_functions() -> None:
    # bench.common imports simulators.broker only inside running_broker().
    assert "simulators.broker" in imported_by("bench.common")
    assert "simulators" in imported_by("bench.common")


@pytest.mark.parametrize("module", [m for m in modules_in("bench") if m != "bench"])
def test_a_benchmark_never_imports_the_tests(module: str) -> None:
    parent = reach([module])
    leaks = [chain(parent, m) for m in parent if m == "tests" or m.startswith("tests.")]
    assert not leaks, "\n".join(leaks)


def test_product_code_never_imports_the_tests() -> None:
    parent = reach(m for package in PRODUCT for m in modules_in(package))
    leaks = [chain(parent, m) for m in parent if m == "tests" or m.startswith("tests.")]
    assert not leaks, "\n".join(leaks)
