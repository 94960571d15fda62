"""Fixtures for the reader tests: free ports, tap/scan collectors, no leaked threads."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

import pytest

T = TypeVar("T")


def free_udp_port() -> int:
    """A udp port nobody is bound to right now (for ``udp:127.0.0.1:PORT`` readers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def udp_port() -> int:
    """A free udp port for one reader and its virtual cards."""
    return free_udp_port()


class Collector(Generic[T]):
    """Callback target that records values and lets a test wait for the n-th one."""

    def __init__(self) -> None:
        self.items: list[T] = []
        self._changed = threading.Condition()

    def __call__(self, item: T) -> None:
        with self._changed:
            self.items.append(item)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """True once ``count`` values arrived; False after ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.items) >= count, timeout)


@pytest.fixture
def collector() -> Collector[object]:
    """A fresh callback collector."""
    return Collector()


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
