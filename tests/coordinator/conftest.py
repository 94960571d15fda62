"""Fixtures for the coordinator suite: a private broker, a database (SQLite, and PostgreSQL
when reachable), the coordinator app and a harness to drive it.

Ledger-core tests take the ``db_url`` fixture and run once per database; the PostgreSQL run
uses a fresh schema per test (dropped afterwards), carries the ``postgres`` marker
(``-m "not postgres"`` deselects it) and is skipped when no server answers at
``$TAPFLEET_TEST_PG_URL`` (``tests.support.databases``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from coordinator.app import create_app
from coordinator.db import Database
from coordinator.settings import CoordinatorSettings
from simulators.broker import Broker
from tests.coordinator.harness import Harness
from tests.support.databases import DATABASE_PARAMS, ledger_database


@pytest.fixture(params=DATABASE_PARAMS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A ledger database (not migrated yet): SQLite in tmp_path, or a fresh PostgreSQL schema."""
    with ledger_database(request.param, tmp_path) as db:
        yield db


def make_settings(tmp_path: Path, broker: Broker, **overrides: object) -> CoordinatorSettings:
    """Dev-mode settings pointing at the test broker and a temp SQLite ledger."""
    values: dict[str, object] = {
        "dev_mode": True,
        "database_url": f"sqlite:///{tmp_path / 'coordinator.db'}",
        "mqtt_port": broker.port,
        "mqtt_client_id": f"coord-{uuid.uuid4().hex[:8]}",
        "member_push_interval_ms": 30,
        "housekeeping_interval_s": 3600,
    }
    values.update(overrides)
    return CoordinatorSettings(**values)  # type: ignore[arg-type]


@contextmanager
def running_harness(
    tmp_path: Path, broker: Broker, database: Database | None = None, **settings: object
) -> Iterator[Harness]:
    """Start a coordinator app on ``database`` (default: SQLite in tmp_path) with a harness."""
    app = create_app(make_settings(tmp_path, broker, **settings), database=database)
    with TestClient(app) as client:
        h = Harness(client, broker)
        try:
            yield h
        finally:
            h.close_kiosks()


@pytest.fixture
def harness(tmp_path: Path, broker: Broker) -> Iterator[Harness]:
    """The coordinator app (started) with a harness; kiosks are closed at the end."""
    with running_harness(tmp_path, broker) as h:
        yield h
