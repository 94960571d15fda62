"""PostgreSQL for the benchmarks: a database of their own on the machine's server, and a
seeded SQLite ledger copied into it.

The server is ``$TAPFLEET_BENCH_PG_URL`` (default: the local server, trust auth, database
``test``, whose server the benchmark uses to create ``tapfleet_bench_<random>`` and drops it
afterwards). Seeding goes through :func:`bench.seed.seed_coordinator` (SQLite, fast bulk
inserts) and :func:`copy_ledger` moves every table into the PostgreSQL database migrated
with the coordinator's own Alembic migrations, so both engines start from the same rows.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHUNK = 5_000


def server_url() -> str:
    """The SQLAlchemy URL of the server's maintenance database."""
    return os.environ.get("TAPFLEET_BENCH_PG_URL", DEFAULT_URL)


def reachable() -> bool:
    """True when the server answers."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(server_url(), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except sa.exc.SQLAlchemyError:
        return False


@contextlib.contextmanager
def scratch_database(label: str) -> Iterator[str]:
    """A new, empty database ``tapfleet_bench_<label>_<random>``; yields its SQLAlchemy URL
    and drops it (closing whatever is still connected) on exit."""
    import sqlalchemy as sa

    name = f"tapfleet_bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.make_url(server_url()).set(database=name)
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def libpq_dsn(url: str) -> str:
    """A plain libpq connection string of a SQLAlchemy URL (for psycopg itself)."""
    import sqlalchemy as sa

    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def copy_ledger(sqlite_path: Path, pg_url: str) -> int:
    """Migrate ``pg_url`` and copy every table of the SQLite ledger into it (replacing what
    the migrations wrote); returns the number of rows copied. Identity sequences are moved
    past the copied ids so the coordinator's own inserts continue after them."""
    import sqlalchemy as sa

    from coordinator import schema
    from coordinator.db import Database

    target = Database(pg_url)
    try:
        target.migrate()
    finally:
        target.dispose()
    source = sa.create_engine(f"sqlite:///{sqlite_path}")
    dest = sa.create_engine(pg_url)
    copied = 0
    try:
        with source.connect() as src, dest.begin() as dst:
            for table in reversed(schema.metadata.sorted_tables):
                dst.execute(sa.delete(table))
            for table in schema.metadata.sorted_tables:
                result = src.execution_options(stream_results=True).execute(sa.select(table))
                while rows := result.fetchmany(CHUNK):
                    dst.execute(sa.insert(table), [dict(r._mapping) for r in rows])
                    copied += len(rows)
                for column in table.primary_key.columns:
                    if column.autoincrement is True or (
                        column.autoincrement == "auto"
                        and isinstance(column.type, sa.Integer)
                        and len(table.primary_key.columns) == 1
                    ):
                        top = dst.execute(sa.select(sa.func.max(column))).scalar_one()
                        dst.execute(
                            sa.text("SELECT setval(pg_get_serial_sequence(:t, :c), :v, false)"),
                            {"t": table.name, "c": column.name, "v": int(top or 0) + 1},
                        )
    finally:
        source.dispose()
        dest.dispose()
    return copied
