"""A kiosk's network cable, made of software: a TCP relay to the broker that can be cut.

Each demo kiosk reaches Mosquitto through its own :class:`LinkSwitch`. ``cut()`` closes
the kiosk's live connection without a goodbye (as a pulled cable or a dead store router
would: the broker publishes the kiosk's last will) and refuses new ones until
``restore()``. The kiosk process keeps running, keeps deciding taps offline and shows its
offline indicator; when the switch is restored its link reconnects and drains the backlog.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading

log = logging.getLogger(__name__)

_CHUNK = 65536


class LinkSwitch:
    """Relays TCP from ``listen_port`` to ``target``; the relay can be cut and restored."""

    def __init__(
        self, target_host: str, target_port: int, *, name: str = "", host: str = "127.0.0.1"
    ):
        self.target = (target_host, target_port)
        self.name = name or f"switch->{target_port}"
        self.host = host
        self.port = 0
        self._listener: socket.socket | None = None
        self._cut = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._threads: list[threading.Thread] = []
        self.connections = 0
        """Connections relayed so far (a reconnect after restore() adds one)."""

    def start(self) -> LinkSwitch:
        """Listen on a free port (``port`` afterwards) and start relaying."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(16)
        listener.settimeout(0.2)
        self._listener = listener
        self.port = int(listener.getsockname()[1])
        self._spawn(self._accept_loop, f"{self.name} accept")
        return self

    @property
    def is_cut(self) -> bool:
        """True while the kiosk has no network."""
        return self._cut.is_set()

    def cut(self) -> None:
        """Drop the live connections (no MQTT DISCONNECT: the broker sends the last will)."""
        self._cut.set()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            _close_pair(pair)

    def restore(self) -> None:
        """Accept connections again; the kiosk's own backoff decides when it comes back."""
        self._cut.clear()

    def stop(self) -> None:
        """Close everything and join the relay threads."""
        self._stop.set()
        self.cut()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        for thread in list(self._threads):
            thread.join(2.0)

    def _spawn(self, target: object, name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            listener = self._listener
            if listener is None:
                return
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                client.close()  # no network: the connection attempt fails at once
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError as exc:
                log.warning("%s: broker unreachable: %s", self.name, exc)
                client.close()
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = (client, upstream)
            with self._lock:
                self._pairs.append(pair)
            self.connections += 1
            self._spawn(self._pump, f"{self.name} relay", pair)

    def _pump(self, pair: tuple[socket.socket, socket.socket]) -> None:
        client, upstream = pair
        peer = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            try:
                selector.register(client, selectors.EVENT_READ)
                selector.register(upstream, selectors.EVENT_READ)
            except (ValueError, OSError):
                _close_pair(pair)
                return
            while not self._stop.is_set():
                try:
                    ready = selector.select(0.5)
                    for key, _ in ready:
                        source: socket.socket = key.fileobj  # type: ignore[assignment]
                        data = source.recv(_CHUNK)
                        if not data:
                            raise ConnectionResetError("peer closed")
                        peer[source].sendall(data)
                except (OSError, ValueError):
                    break
        with self._lock:
            if pair in self._pairs:
                self._pairs.remove(pair)
        _close_pair(pair)


def _close_pair(pair: tuple[socket.socket, socket.socket]) -> None:
    for sock in pair:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()
