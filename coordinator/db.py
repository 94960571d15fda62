"""The database handle: engine, transactions, migrations and counters.

SQLite (default) runs in WAL mode with ``synchronous=FULL`` (an Ack goes out only after a
commit that survives power loss) and write transactions that start with ``BEGIN
IMMEDIATE`` so that a transaction never has to upgrade from reader to writer half-way.
PostgreSQL needs nothing special: write paths take row locks (``SELECT ... FOR UPDATE``)
in a fixed order (kiosk row, then member rows sorted by id), which SQLite ignores because
its writers are serialised anyway.

On SQLite the process's own writers (ingest, the fleet monitor, the member pusher, the
webhook dispatcher, API requests) also queue on one in-process lock before ``BEGIN
IMMEDIATE``: SQLite's busy handler makes a waiting writer sleep and retry (1, 2, 5, ...,
100 ms), so under steady traffic the ingest could wait far longer than the transaction it
waited for; the lock hands the database over the moment the previous writer commits.
Other processes on the same file (the CLI, a backup) still meet the busy timeout.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from coordinator import schema

log = logging.getLogger(__name__)

COUNTERS = (
    "hq_seq",
    "members_version",
    "deny_version",
    "rules_version",
    "restore_epoch",
    "restore_announced",
    "backup_verified_ms",
)
"""Every counter, created at bootstrap; the last three are :mod:`coordinator.backups`'s."""
_AFTER_COMMIT = "tapfleet_after_commit"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


TRANSIENT_RETRY_MIN_S = 0.05
TRANSIENT_RETRY_MAX_S = 0.4
"""Waits between retries of a transaction that met a busy database or a concurrent replica
(jittered, :class:`shared.backoff.Backoff`, so two replicas do not collide again)."""


class Database:
    """One engine plus the coordinator's transaction helpers."""

    def __init__(self, url: str, *, schema_name: str | None = None, echo: bool = False):
        self.url = sa.make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.schema_name = schema_name
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
            kwargs["pool_size"] = 10
            if schema_name:
                if not _SCHEMA_NAME.match(schema_name):
                    raise ValueError(f"database schema name {schema_name!r} is not a plain name")
                kwargs["connect_args"] = {"options": f"-csearch_path={schema_name}"}
        self.engine: Engine = sa.create_engine(self.url, **kwargs)
        # Re-entrant: a nested write on the same thread fails as it always did (busy
        # timeout), instead of hanging on this lock.
        self._writer = threading.RLock() if self.is_sqlite else None
        if self.is_sqlite:
            _sqlite_setup(self.engine)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed on success and rolled back on any exception.

        Hooks registered with :func:`after_commit` run after the commit, never after a
        rollback (and outside the SQLite writer lock)."""
        with self._writer or contextlib.nullcontext(), self.engine.connect() as conn:
            conn.execution_options(tapfleet_write=True)
            conn.info.pop(_AFTER_COMMIT, None)  # left by a transaction begun some other way
            try:
                with conn.begin():
                    yield conn
                hooks = conn.info.pop(_AFTER_COMMIT, [])
            finally:
                conn.info.pop(_AFTER_COMMIT, None)
        for hook in hooks:
            hook()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot on SQLite)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read-only transaction that sees one consistent state throughout, on both
        databases: SQLite's WAL readers do; PostgreSQL needs REPEATABLE READ (its default,
        READ COMMITTED, gives every statement a newer view)."""
        with self.engine.connect() as conn:
            if not self.is_sqlite:
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to the newest migration, or to ``revision`` (tests of a
        migration's data step), creating the PostgreSQL schema first."""
        from alembic import command
        from alembic.config import Config

        if self.is_sqlite and self.url.database and self.url.database != ":memory:":
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        if not self.is_sqlite and self.schema_name:
            with self.engine.connect() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema_name}"'))
                conn.commit()
        cfg = Config()
        cfg.set_main_option("script_location", "coordinator:migrations")
        with self.engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            conn.commit()
        log.info(
            "database %s migrated to %s", self.url.render_as_string(hide_password=True), revision
        )

    def try_job_lock(self, conn: Connection, job: str) -> bool:
        """:func:`try_job_lock` on this database's schema."""
        return try_job_lock(conn, job, self.schema_name)

    def ping(self) -> bool:
        """True when the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.SQLAlchemyError:
            return False

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _sqlite_setup(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin hook issue BEGIN itself (pysqlite's implicit BEGIN would
        # start deferred transactions that can fail to upgrade to writers).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("tapfleet_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def after_commit(conn: Connection, hook: Callable[[], None]) -> None:
    """Run ``hook`` once the :meth:`Database.write` transaction of ``conn`` has committed
    (dropped on rollback, and never run for transactions begun some other way)."""
    conn.info.setdefault(_AFTER_COMMIT, []).append(hook)


def next_counter(conn: Connection, name: str, step: int = 1) -> int:
    """Advance a counter by ``step`` inside the caller's transaction; returns the new value.

    The UPDATE locks the counter row until commit, so values are gapless and handed out in
    commit order by every replica.
    """
    conn.execute(
        sa.update(schema.counters)
        .where(schema.counters.c.name == name)
        .values(value=schema.counters.c.value + step)
    )
    return int(
        conn.execute(
            sa.select(schema.counters.c.value).where(schema.counters.c.name == name)
        ).scalar_one()
    )


def read_counter(conn: Connection, name: str) -> int:
    """Current value of a counter."""
    return int(
        conn.execute(
            sa.select(schema.counters.c.value).where(schema.counters.c.name == name)
        ).scalar_one()
    )


def lock_counter(conn: Connection, name: str) -> int:
    """Lock a counter row until commit (without changing it) and return its value."""
    return int(
        conn.execute(
            sa.select(schema.counters.c.value)
            .where(schema.counters.c.name == name)
            .with_for_update()
        ).scalar_one()
    )


def try_job_lock(conn: Connection, job: str, schema_name: str | None = None) -> bool:
    """Take the lock of a periodic ``job`` for the rest of this transaction; False when
    another replica holds it now (the caller skips the job this time).

    PostgreSQL: ``pg_try_advisory_xact_lock``, released by the commit or rollback itself, so
    it holds behind PgBouncer in transaction mode (a session lock would stay with whichever
    server connection the pooler gave out and could be taken by the wrong client). The key
    is derived from the job's name and the schema, so coordinators on other schemas of one
    server never block each other. SQLite: always True (its write transactions are
    serialised by ``BEGIN IMMEDIATE``, and a SQLite database has one coordinator).
    """
    if conn.dialect.name == "sqlite":
        return True
    key = job_lock_key(job, schema_name)
    return bool(conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(key))).scalar_one())


def job_lock_key(job: str, schema_name: str | None = None) -> int:
    """The signed 64-bit advisory lock key of ``job`` in ``schema_name`` (stable across
    processes and Python versions, unlike ``hash()``)."""
    digest = hashlib.blake2b(f"tapfleet:{schema_name or ''}:{job}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)
