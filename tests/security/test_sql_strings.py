"""No SQL is built from strings: a scan of every module under ``coordinator/`` and ``device/``.

Every call that hands SQL text to a database — ``execute``, ``executemany``,
``executescript``, ``exec_driver_sql``, ``sqlalchemy.text`` — must get a literal string (or
SQLAlchemy Core objects). An f-string, ``%`` formatting, ``.format()`` or concatenation there
(directly, or through a variable assigned so in the same function) fails this test unless it
is in :data:`ALLOWED` with the reason the interpolated part cannot come from input. Values
always travel as bound parameters (``?``, ``:name``, Core expressions).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("coordinator", "device")
SQL_CALLS = frozenset({"execute", "executemany", "executescript", "exec_driver_sql", "text"})

ALLOWED: dict[tuple[str, str, str], str] = {
    ("coordinator/db.py", "migrate", "self.schema_name"): "checked against _SCHEMA_NAME (a "
    "plain identifier) in Database.__init__; identifiers cannot be bound parameters",
    ("device/ledger/database.py", "_connect", "BUSY_TIMEOUT_MS"): "an int constant of the "
    "module; PRAGMA values cannot be bound parameters",
    ("device/ledger/database.py", "quick_check", "_QUICK_CHECK_MAX_ERRORS"): "an int constant "
    "of the module; PRAGMA arguments cannot be bound parameters",
    ("device/ledger/schema.py", "migrate", "int(step.version)"): "an int from the code's own "
    "migration list; PRAGMA values cannot be bound parameters",
}
"""(file, function, interpolated expression) -> why it is not input."""


@dataclass(frozen=True)
class Finding:
    """One SQL call whose text is built from strings."""

    path: str
    function: str
    line: int
    call: str
    how: str
    parts: str
    """The interpolated expressions (source text, comma-separated)."""

    @property
    def key(self) -> tuple[str, str, str]:
        """What :data:`ALLOWED` is keyed by."""
        return (self.path, self.function, self.parts)

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line} in {self.function}(): {self.call}(<{self.how}> "
            f"of {self.parts})"
        )


def _built(node: ast.AST) -> str | None:
    """How ``node`` builds a string from parts (None for a literal or a non-string)."""
    if isinstance(node, ast.JoinedStr) and any(
        isinstance(v, ast.FormattedValue) for v in node.values
    ):
        return "f-string"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        sides = (node.left, node.right)
        if any(
            isinstance(side, ast.JoinedStr)
            or (isinstance(side, ast.Constant) and isinstance(side.value, str))
            or _built(side)
            for side in sides
        ):
            return "% formatting" if isinstance(node.op, ast.Mod) else "concatenation"
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("format", "join")
    ):
        return f".{node.func.attr}()"
    return None


def _parts(node: ast.AST) -> str:
    """Source of what is interpolated into a built string."""
    if isinstance(node, ast.JoinedStr):
        return ", ".join(
            ast.unparse(v.value) for v in node.values if isinstance(v, ast.FormattedValue)
        )
    return ast.unparse(node)


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path = path
        self.findings: list[Finding] = []
        self._functions: list[tuple[str, dict[str, tuple[str, str]]]] = [("<module>", {})]

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._functions.append((node.name, {}))
        self.generic_visit(node)
        self._functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Assign(self, node: ast.Assign) -> None:
        how = _built(node.value)
        for target in node.targets:
            if isinstance(target, ast.Name):
                names = self._functions[-1][1]
                if how:
                    names[target.id] = (how, _parts(node.value))
                else:
                    names.pop(target.id, None)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _call_name(node)
        if name in SQL_CALLS and node.args:
            first = node.args[0]
            how = _built(first)
            found = (how, _parts(first)) if how is not None else None
            if found is None and isinstance(first, ast.Name):
                found = self._functions[-1][1].get(first.id)
            if found is not None:
                self.findings.append(
                    Finding(self.path, self._functions[-1][0], node.lineno, name or "?", *found)
                )
        self.generic_visit(node)


def scan(root: Path = ROOT) -> list[Finding]:
    """Every SQL call with string-built text in the scanned packages."""
    findings: list[Finding] = []
    for package in SCANNED:
        for file in sorted((root / package).rglob("*.py")):
            rel = file.relative_to(root).as_posix()
            scanner = _Scanner(rel)
            scanner.visit(ast.parse(file.read_text(encoding="utf-8"), filename=rel))
            findings.extend(scanner.findings)
    return findings


def test_no_sql_is_built_from_strings() -> None:
    findings = scan()
    unexplained = [f for f in findings if f.key not in ALLOWED]
    assert not unexplained, "SQL built from strings (bind the values instead):\n" + "\n".join(
        map(str, unexplained)
    )
    # Every allowlist entry still matches something (no stale excuses).
    used = {f.key for f in findings}
    assert set(ALLOWED) <= used, f"stale ALLOWED entries: {set(ALLOWED) - used}"


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The scanner itself: each way of building SQL from strings is caught, bound SQL is not."""
    package = tmp_path / "coordinator"
    package.mkdir()
    (tmp_path / "device").mkdir()
    (package / "bad.py").write_text(
        "import sqlalchemy as sa\n"
        "def a(conn, name):\n"
        "    conn.execute(sa.text(f'SELECT * FROM t WHERE n = {name}'))\n"
        "def b(cur, name):\n"
        "    cur.execute('SELECT * FROM t WHERE n = %s' % name)\n"
        "def c(cur, name):\n"
        "    sql = 'SELECT * FROM t WHERE n = ' + name\n"
        "    cur.execute(sql)\n"
        "def d(conn, name):\n"
        "    conn.exec_driver_sql('DELETE FROM {}'.format(name))\n"
        "def ok(conn, cur, name):\n"
        "    conn.execute(sa.text('SELECT * FROM t WHERE n = :n'), {'n': name})\n"
        "    cur.execute('SELECT * FROM t WHERE n = ?', (name,))\n"
        "    sql = 'SELECT 1'\n"
        "    cur.execute(sql)\n"
    )
    found = {(f.function, f.how) for f in scan(tmp_path)}
    assert found == {
        ("a", "f-string"),
        ("b", "% formatting"),
        ("c", "concatenation"),
        ("d", ".format()"),
    }
