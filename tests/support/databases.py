"""The coordinator databases tests run on: SQLite in the test's folder, or PostgreSQL in a
schema of its own.

PostgreSQL is the server at ``$TAPFLEET_TEST_PG_URL`` (default: the local test server, trust
auth, database ``test``; set the variable empty to skip). Every test gets a fresh schema
(``search_path`` points there) that is dropped afterwards, so tests never see each other's
tables, whichever worker of a parallel run they are on.

    @pytest.fixture(params=DATABASE_PARAMS)
    def database(request, tmp_path):
        with ledger_database(request.param, tmp_path) as db:
            yield db
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from coordinator.db import Database

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DATABASE_PARAMS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
"""``params`` of a fixture that runs once per database (the postgres run is marked)."""

_reachable: dict[str, bool] = {}


def pg_url() -> str:
    """The PostgreSQL server's URL, or "" when none is configured."""
    return os.environ.get("TAPFLEET_TEST_PG_URL", DEFAULT_PG)


def pg_reachable(url: str) -> bool:
    """True when the server answers (asked once per process)."""
    if url not in _reachable:
        try:
            engine = sa.create_engine(url, connect_args={"connect_timeout": 2})
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            engine.dispose()
            _reachable[url] = True
        except sa.exc.SQLAlchemyError:
            _reachable[url] = False
    return _reachable[url]


@contextmanager
def ledger_database(kind: str, tmp_path: Path) -> Iterator[Database]:
    """An empty (unmigrated) coordinator database of ``kind`` ("sqlite" or "postgres").

    PostgreSQL: a fresh schema, dropped on exit; skips the test when no server answers.
    """
    if kind == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'ledger.db'}")
        try:
            yield db
        finally:
            db.dispose()
        return
    url = pg_url()
    if not url or not pg_reachable(url):
        pytest.skip(f"no PostgreSQL server at {url!r}")
    schema_name = f"tf_{uuid.uuid4().hex[:12]}"
    db = Database(url, schema_name=schema_name)
    try:
        yield db
    finally:
        db.dispose()
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE'))
        engine.dispose()
