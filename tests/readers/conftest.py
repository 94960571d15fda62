"""Fixtures for the reader tests: free ports and no leaked threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from simulators.ports import free_udp_port


@pytest.fixture
def udp_port() -> int:
    """A free udp port for one reader and its virtual cards."""
    return free_udp_port()


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a reader, card, camera or scanner thread running."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for thread in leaked:
        thread.join(2.0)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"threads outlived the test: {still}"
