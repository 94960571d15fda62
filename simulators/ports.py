"""Local ports for the services the demo, the benchmarks and the tests start: free ones,
preferred ones with a fallback, and whether something listens."""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import Iterable
from pathlib import Path

from device.readers.nfc_reader import free_nfc_udp_port

LOCALHOST = "127.0.0.1"
LISTEN_PORTS = (20000, 32767)
"""Where :func:`free_tcp_port` looks first: below Linux's default ephemeral range, so that
no outgoing connection (a test's client, another worker's) takes the port as its source
port between choosing it and the server listening on it."""

_random = random.SystemRandom()  # not the global one: hypothesis seeds that in its tests


def free_tcp_port(host: str = LOCALHOST) -> int:
    """A TCP port nobody listens on right now, for a server to listen on.

    Chosen at random outside the kernel's ephemeral range (:data:`LISTEN_PORTS`) where
    possible, else the OS picks one.
    """
    low, high = LISTEN_PORTS
    ephemeral = _ephemeral_range()
    for _ in range(50):
        port = _random.randint(low, high)
        if not ephemeral[0] <= port <= ephemeral[1] and tcp_port_free(port, host):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' source ports (Linux default if unknown)."""
    with contextlib.suppress(OSError, ValueError):
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    return 32768, 60999


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
