"""Fixtures of the fault suite: the shipped broker, the coordinator process, a fleet.

Teardown runs in reverse: kiosk hosts and network switches, then the coordinator, then the
broker; every process is killed if it does not stop, whatever the test did.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.mqtt.broker_config import write_broker_files
from simulators.broker import Broker, start_broker
from tests.reliability.fleet import Fleet
from tests.reliability.processes import CoordinatorProc

SHIPPED_AUTOSAVE_S: int = (
    inspect.signature(write_broker_files).parameters["autosave_interval"].default
)
"""The shipped persistence setting (``tapfleet broker-config``'s default), not the test
helper's one-second autosave: a broker killed mid-burst loses what it had not saved."""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """Mosquitto with the shipped config and persistence settings, on a free port."""
    b = start_broker(tmp_path, autosave_interval=SHIPPED_AUTOSAVE_S)
    try:
        yield b
    finally:
        b.stop()


def pytest_configure(config: pytest.Config) -> None:
    """The suite's own marker."""
    config.addinivalue_line(
        "markers",
        "simulated_time: the coordinator runs on simulated time the test moves "
        "(tests.reliability.coordinator_host instead of tapfleet coordinator)",
    )


@pytest.fixture
def coordinator(
    request: pytest.FixtureRequest, tmp_path: Path, broker: Broker
) -> Iterator[CoordinatorProc]:
    """The coordinator as a real process on SQLite, started; its log must stay free of
    tracebacks (handlers are isolated: STYLE.md)."""
    simulated = request.node.get_closest_marker("simulated_time") is not None
    proc = CoordinatorProc(tmp_path / "coordinator", broker, simulated_time=simulated)
    try:
        proc.start()
        yield proc
    finally:
        proc.close()
    problems = proc.tracebacks()
    if problems:
        pytest.fail(f"the coordinator logged {len(problems)} exception(s):\n{problems[0]}")


@pytest.fixture
def fleet(tmp_path: Path, broker: Broker, coordinator: CoordinatorProc) -> Iterator[Fleet]:
    """An empty fleet: seed a chain, then add kiosk hosts. Their logs must stay free of
    tracebacks."""
    f = Fleet(tmp_path, broker, coordinator)
    try:
        yield f
    finally:
        f.close()
    problems = [(h.name, t) for h in f.hosts.values() for t in h.tracebacks()]
    if problems:
        name, first = problems[0]
        pytest.fail(f"kiosk host {name} logged {len(problems)} exception(s):\n{first}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long soak runs only when asked for (``-m soak``, as ``make soak`` does).

    pyproject's ``addopts`` deselect it with ``-m 'not soak'``, but any other ``-m`` on the
    command line (``-m 'not postgres'``) replaces that and would pull in the long soak.
    """
    if "soak" in (config.getoption("markexpr") or ""):
        return
    soak = [item for item in items if item.get_closest_marker("soak") is not None]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if item.get_closest_marker("soak") is None]
