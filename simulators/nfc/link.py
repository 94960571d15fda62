"""The card side of nfcpy's udp transport: one bound socket, one thread, one card.

Wire format (``nfc/clf/udp.py``): each frame is a datagram ``b"<brty> <hex>"``, e.g.
``b"106A 26"`` for SENS_REQ; the reader sends ``b"RFOFF"`` when it switches its field off.
The reader (initiator) sends to HOST:PORT from an ephemeral port; the card (target) binds
HOST:PORT and answers to whichever address the frame came from.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
from binascii import hexlify, unhexlify
from typing import Protocol

log = logging.getLogger(__name__)


class AirCard(Protocol):
    """A card that answers raw frames (``Type2Card``, ``Type3Card``)."""

    def handle(self, frame: bytes) -> bytes | None:
        """Answer one command frame, or None for silence."""
        ...

    def field_off(self) -> None:
        """The reader switched its field off."""
        ...


class CardLinkError(OSError):
    """The card could not take its place on the reader (port busy: another card there)."""


class UdpCardLink:
    """Serves one card on a udp port until stopped."""

    def __init__(self, card: AirCard, technologies: tuple[str, ...], host: str, port: int) -> None:
        self.card = card
        self.technologies = technologies
        self.host = host
        self.port = port
        self.frames = 0
        """Datagrams received (any technology)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._answered = threading.Condition()
        self.answers = 0
        """Frames the card answered."""

    def start(self) -> None:
        """Bind the port (raising ``CardLinkError`` if taken) and start answering."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise CardLinkError(
                f"cannot place a card on udp:{self.host}:{self.port}: {exc} "
                "(another virtual card is already on this reader?)"
            ) from exc
        self._sock = sock
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._serve, name=f"virtual-card udp:{self.port}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Go silent (the card leaves the field), close the socket and join the thread."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5.0)
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    @property
    def running(self) -> bool:
        """True while the card answers."""
        return self._thread is not None and self._thread.is_alive()

    def _serve(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._stop.is_set():
            readable, _, _ = select.select([sock], [], [], 0.05)
            if not readable:
                continue
            try:
                datagram, addr = sock.recvfrom(2048)
            except OSError as exc:
                log.debug("virtual card on port %d: receive failed: %s", self.port, exc)
                continue
            self.frames += 1
            if datagram.startswith(b"RFOFF"):
                self.card.field_off()
                continue
            try:
                brty_raw, payload = datagram.split()
                brty = brty_raw.decode("ascii")
                frame = unhexlify(payload)
            except (ValueError, UnicodeDecodeError):
                log.debug("virtual card on port %d: ignoring %r", self.port, datagram[:40])
                continue
            if brty not in self.technologies:
                continue  # a FeliCa card does not hear a type A poll, and vice versa
            answer = self.card.handle(frame)
            if answer is not None:
                with contextlib.suppress(OSError):
                    sock.sendto(brty.encode("ascii") + b" " + hexlify(answer), addr)
                with self._answered:
                    self.answers += 1
                    self._answered.notify_all()

    def wait_for_answers(self, count: int, timeout: float) -> bool:
        """Block until the card has answered ``count`` frames in total; False on timeout."""
        with self._answered:
            return self._answered.wait_for(lambda: self.answers >= count, timeout)
