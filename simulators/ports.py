"""Ports for the demo's services: free ones, preferred ones with a fallback, readiness."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable

from device.readers.nfc_reader import free_nfc_udp_port
from simulators.demo.errors import DemoError

LOCALHOST = "127.0.0.1"


def free_tcp_port(host: str = LOCALHOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_udp_port(host: str = LOCALHOST) -> int:
    """A UDP port nobody is bound to that nfcpy can use (an ``udp:HOST:PORT`` NFC reader)."""
    return free_nfc_udp_port(host)


def tcp_port_free(port: int, host: str = LOCALHOST) -> bool:
    """True when a server could listen on ``host:port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def ports_from(
    start: int, count: int, avoid: Iterable[int] = (), host: str = LOCALHOST
) -> list[int]:
    """``count`` free TCP ports counting up from ``start`` (friendly, predictable URLs).

    Ports in ``avoid`` and taken ports are skipped; past 65535 the OS picks.
    """
    chosen: list[int] = []
    skip = set(avoid)
    port = start
    while len(chosen) < count:
        if port > 65535:
            candidate = free_tcp_port(host)
            if candidate not in skip and candidate not in chosen:
                chosen.append(candidate)
            continue
        if port not in skip and tcp_port_free(port, host):
            chosen.append(port)
        port += 1
    return chosen


def accepting(host: str, port: int) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout_s: float,
    what: str,
    check: Callable[[], None] | None = None,
    interval_s: float = 0.1,
) -> None:
    """Poll ``condition`` until true (for state in another process, which offers no event).

    ``check`` runs on every round and may raise (a crashed child, the user's Ctrl-C).
    Raises DemoError naming ``what`` after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if check is not None:
            check()
        if condition():
            return
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)
