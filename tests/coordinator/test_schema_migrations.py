"""The database the Alembic migrations build is the one ``coordinator/schema.py`` declares.

On SQLite and PostgreSQL: build a fresh database with every migration, then compare it with
:data:`coordinator.schema.metadata` using Alembic's own autogenerate comparison (tables,
columns with their type family and nullability, indexes, unique constraints and foreign
keys) plus the primary keys, which autogenerate does not compare. A difference means a
migration is missing (write a new named one; never edit an old one) or ``schema.py`` is
wrong.

The metadata is read from ``coordinator.schema`` alone, in a fresh interpreter: a table or
index that only some other module adds to it (an import's side effect) shows up as a
difference here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from coordinator import schema
from coordinator.db import Database

REPO = Path(__file__).resolve().parents[2]


def schema_differences(db: Database, metadata: sa.MetaData) -> list[str]:
    """Every way the database of ``db`` differs from ``metadata``, one line each."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [_describe(diff) for diff in compare_metadata(context, metadata)]
        inspector = sa.inspect(conn)
        for table in metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue  # reported by compare_metadata
            found = inspector.get_pk_constraint(table.name)
            want_columns = [c.name for c in table.primary_key.columns]
            if found["constrained_columns"] != want_columns:
                diffs.append(
                    f"primary key of {table.name}: database {found['constrained_columns']}, "
                    f"schema.py {want_columns}"
                )
            # SQLite does not keep a primary key's name.
            if not db.is_sqlite and found.get("name") != table.primary_key.name:
                diffs.append(
                    f"primary key name of {table.name}: database {found.get('name')!r}, "
                    f"schema.py {table.primary_key.name!r}"
                )
    return diffs


def _describe(diff: Any) -> str:
    """One autogenerate difference as text (a tuple, or a list of column modifications)."""
    if isinstance(diff, list):
        return "; ".join(_describe(d) for d in diff)
    kind, *rest = diff
    parts = []
    for item in rest:
        if isinstance(item, sa.Table):
            parts.append(f"table {item.name}")
        elif isinstance(item, sa.Column):
            parts.append(f"column {item.table.name}.{item.name} {item.type}")
        elif isinstance(item, sa.Index):
            parts.append(f"index {item.name} on {[c.name for c in item.columns]}")
        elif isinstance(item, sa.Constraint):
            parts.append(f"{type(item).__name__} {item.name} on {[c.name for c in item.columns]}")
        else:
            parts.append(repr(item))
    return f"{kind}: {', '.join(parts)}"


def test_migrations_build_the_schema_that_schema_py_declares(database: Database) -> None:
    database.migrate()
    assert schema_differences(database, schema.metadata) == []


def test_the_comparison_sees_drift(database: Database) -> None:
    """The check can fail: a metadata that differs from the migrations in each compared
    respect is reported, respect by respect."""
    database.migrate()
    drifted = sa.MetaData(naming_convention=schema.metadata.naming_convention)
    for table in schema.metadata.sorted_tables:
        if table.name != "kiosks":
            table.to_metadata(drifted)
    copy = schema.metadata.tables["kiosks"]
    sa.Table(
        "kiosks",
        drifted,
        *(
            sa.Column(
                c.name,
                sa.Text if c.name == "name" else c.type,  # type family changed
                *(sa.ForeignKey(fk.target_fullname) for fk in c.foreign_keys),
                primary_key=c.name in ("kiosk_id", "store_id"),  # primary key widened
                nullable=True if c.name == "created_ms" else c.nullable,  # nullability changed
            )
            for c in copy.columns
            if c.name != "poisoned_count"  # column missing
        ),
        sa.Column("extra", sa.Integer, nullable=True),  # column added
        sa.Index("ix_kiosks_renamed", "store_id"),  # index renamed
    )
    diffs = "\n".join(schema_differences(database, drifted))
    for expected in (
        "remove_column",
        "poisoned_count",
        "add_column",
        "extra",
        "modify_type",
        "modify_nullable",
        "created_ms",
        "ix_kiosks_renamed",
        "ix_kiosks_store_id",
        "primary key of kiosks",
    ):
        assert expected in diffs, f"{expected!r} not reported:\n{diffs}"
    assert "_fk" not in diffs, diffs  # the foreign key was copied as it is


def test_schema_py_alone_declares_every_table_and_index() -> None:
    """A fresh interpreter importing only ``coordinator.schema`` sees the same tables and
    indexes as one that imported every coordinator module (nothing joins the metadata as an
    import side effect)."""
    probe = (
        "import json, sys\n"
        "from coordinator import schema\n"
        "def dump():\n"
        "    return {t.name: sorted(i.name for i in t.indexes)\n"
        "            for t in schema.metadata.sorted_tables}\n"
        "alone = dump()\n"
        "import importlib, pkgutil, coordinator\n"
        "for m in pkgutil.walk_packages(coordinator.__path__, 'coordinator.'):\n"
        "    if not m.name.startswith('coordinator.migrations'):\n"
        "        importlib.import_module(m.name)\n"
        "json.dump({'alone': alone, 'loaded': dump()}, sys.stdout)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    seen = json.loads(out.stdout)
    assert seen["alone"] == seen["loaded"]
    assert "ix_events_kind_hlc_ms_report" in seen["alone"]["events"]
    assert {"kiosk_facts", "kiosk_timeline", "fleet_alerts", "version_marks"} <= set(seen["alone"])
