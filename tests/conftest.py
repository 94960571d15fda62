"""Suite-wide test policy.

* A logged exception (an ERROR record carrying a traceback) fails the test: handlers must
  catch, count and log bad input with context, and a traceback in the log means something
  escaped (STYLE.md, "Handlers are isolated"). Tests that provoke one on purpose use
  ``@pytest.mark.allow_logged_exceptions``.
* Browser screenshots and other artifacts go to ``test-artifacts/`` (kept by CI).
* Coordinators hash ops passwords at a cheap scrypt cost (``tests/support/hashing.py``):
  ``TAPFLEET_COORD_PASSWORD_HASH`` is set for the run, before any test or fixture, and
  child processes inherit it. Tests of the settings precedence clear it themselves.
* ``make test`` runs the suite on two pytest-xdist workers, a test file at a time on one
  worker (``--dist loadfile``: module fixtures are built once), so every test is hermetic:
  its own folders (``tmp_path``), ports the OS or ``simulators.ports`` hands out, its own
  PostgreSQL schema (``tests.support.databases``), no fixed port and no shared file.
  ``tests/test_parallel_policy.py`` checks that the first rule holds on workers.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.broker import Broker, start_broker

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def pytest_configure(config: pytest.Config) -> None:
    """Register the suite's own markers; set the suite's cheap password-hash cost."""
    from tests.support.hashing import COORDINATOR_COST_ENV, TEST_HASH_COST

    os.environ.setdefault(COORDINATOR_COST_ENV, TEST_HASH_COST.model_dump_json())
    config.addinivalue_line(
        "markers", "allow_logged_exceptions: the test provokes a logged traceback on purpose"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every test a node id of its own, and refuse to run when two still share one.

    pytest-xdist schedules and reports by node id: tests sharing one would silently not run
    on the workers. Under pytest 9, schemathesis's ``schema.parametrize()`` gives every API
    operation's test its function's node id (the operation is only in the item's name), so
    those get ``<module>::<name>`` as pytest builds it for any other item.
    """
    counts = Counter(item.nodeid for item in items)
    for item in items:
        if counts[item.nodeid] > 1 and item.parent is not None:
            item._id = item.parent.id.child(item.name)  # pytest's own rule (nodes.Node)
    shared = [nodeid for nodeid, n in Counter(i.nodeid for i in items).items() if n > 1]
    if shared:
        raise pytest.UsageError(f"tests share node ids (xdist would drop them): {shared[:5]}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item (``item.rep_call``...) so fixtures can tell a
    failed test (the page fixtures take a screenshot then)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


class _ExceptionCatcher(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@pytest.fixture(autouse=True)
def fail_on_logged_exception(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail any test during which something logged an exception with a traceback."""
    catcher = _ExceptionCatcher()
    root = logging.getLogger()
    root.addHandler(catcher)
    try:
        yield
    finally:
        root.removeHandler(catcher)
    if catcher.records and request.node.get_closest_marker("allow_logged_exceptions") is None:
        first = catcher.records[0]
        pytest.fail(
            f"{len(catcher.records)} logged exception(s); first from {first.name}: "
            f"{first.getMessage()}",
            pytrace=False,
        )


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A private Mosquitto with the project's shipped config (anonymous) on a free port;
    stopped at teardown (``simulators.broker``; tests/reliability overrides it)."""
    b = start_broker(tmp_path)
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """A per-test folder under test-artifacts/ for screenshots and logs kept on failure."""
    safe = request.node.nodeid.replace("/", "_").replace("::", "__")[:150]
    path = ARTIFACTS / safe
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """The suite's one headless Chromium (see tests/support/browser.py for why only one)."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
