"""Waiting for state in another process or thread that offers no event to wait on.

The one poller of the demo, the benchmarks and the tests. Where there is something to wait
on (a condition variable, a reply line, a future), wait on that instead.

    wait_until(lambda: accepting(host, port), 10, "the broker to listen")
    if not poll_until(server_ready, 5):
        ...
"""

from __future__ import annotations

import time
from collections.abc import Callable


class WaitTimeout(TimeoutError):
    """A condition did not hold in time; the message names what was awaited."""


def poll_until(
    condition: Callable[[], bool],
    timeout_s: float = 15.0,
    *,
    interval_s: float = 0.02,
    check: Callable[[], None] | None = None,
) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout_s`` passes (False).

    ``check`` runs on every round before the condition and may raise (a crashed child
    process, the user's Ctrl-C), which ends the wait at once.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if check is not None:
            check()
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)


def wait_until(
    condition: Callable[[], bool],
    timeout_s: float = 15.0,
    what: str = "",
    *,
    interval_s: float = 0.02,
    check: Callable[[], None] | None = None,
    error: Callable[[str], Exception] = WaitTimeout,
) -> None:
    """Poll ``condition`` until it holds; after ``timeout_s`` raise ``error`` (default
    :class:`WaitTimeout`) with a message naming ``what``. ``check`` as in :func:`poll_until`.
    """
    if not poll_until(condition, timeout_s, interval_s=interval_s, check=check):
        raise error(f"timed out after {timeout_s:g} s waiting for {what or condition}")
