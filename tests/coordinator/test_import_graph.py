"""The coordinator's import graph: no cycles, and layers that only point one way.

Every ``import`` is counted, function-level ones included (an import moved inside a function
to dodge a circle is still a circle). ``from package import name`` counts as an import of
``package.name`` when that is a module, else of ``package``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "coordinator"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for path in (ROOT / PACKAGE).rglob("*.py")
        if "migrations" not in path.parts
    }


def _imports(path: Path, name: str, known: set[str]) -> Iterator[str]:
    """Every coordinator module ``path`` imports, wherever the import statement is."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield candidate if candidate in known else base


def graph() -> dict[str, set[str]]:
    """module -> the coordinator modules it imports."""
    modules = _modules()
    known = set(modules)
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges[name] = {target for target in _imports(path, name, known) if target in known}
        edges[name].discard(name)
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules on it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_walker_sees_function_level_imports() -> None:
    """A check that cannot fail proves nothing: the walker finds an import in a function."""
    edges = graph()
    assert "coordinator.fleet.timeline" in edges["coordinator.fleet.liveness"]


def test_the_coordinator_has_no_import_cycle() -> None:
    cycle = _cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_layers_point_one_way() -> None:
    """Routes and pages call services; nothing below them imports the API or the pages."""
    edges = graph()
    for module, targets in edges.items():
        for target in targets:
            if target.startswith("coordinator.api"):
                assert module.startswith(("coordinator.api", "coordinator.app")), (
                    f"{module} imports the API package ({target}): call a service instead"
                )
            if target.startswith("coordinator.dashboard"):
                assert module.startswith(("coordinator.dashboard", "coordinator.app")), (
                    f"{module} imports the dashboard ({target})"
                )
