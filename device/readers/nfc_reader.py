"""NFC card reader on nfcpy, supervised: it survives unplugging and reports its health.

One thread owns the ``nfc.ContactlessFrontend``. It senses each configured target type in
turn, activates the card nfcpy finds, reads its UID and NDEF records, reports the tap, and
then waits (presence checks) until the card leaves, so a held card is one tap.

Paths are nfcpy's: ``usb``, ``usb:054c:06c1``, ``tty:USB0:pn532``, and in CI
``udp:127.0.0.1:PORT`` where a simulated card (``simulators.nfc``) listens. A serial reader
may also be named by its device file, ``tty:/dev/serial0:pn532`` (nfcpy itself only finds
``/dev/tty*`` names): a PN532 on a Pi's GPIO UART, or the PN532 simulator's pty in CI.

Targets are explicit because every unanswered target type costs time on each poll round
(1 s each on the udp transport, whose receive timeout is fixed): the default list (106A,
106B, 212F) is reduced to 106A (Type 2 and Type 4 cards) and 212F (FeliCa).

When the reader cannot be opened or fails mid-session (IOError from the USB/serial driver,
which is what nfcpy raises when a reader is unplugged), health becomes ``unavailable`` with
the cause, the kiosk shows "card reader unavailable, use QR", and the thread retries with
exponential backoff until the reader is back.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from device.ports import Clock, SystemClock
from device.readers.base import (
    CardRead,
    DeviceKind,
    HealthState,
    HealthTracker,
    NdefRecord,
    ReaderHealth,
)
from device.readers.debounce import TapDebouncer
from device.readers.errors import ReaderUnavailable
from shared.backoff import Backoff

log = logging.getLogger(__name__)

FAMILIES = {
    "Type1Tag": "type1",
    "Type2Tag": "type2",
    "Type3Tag": "type3",
    "Type4Tag": "type4",
}

Frontend = Any
"""An ``nfc.ContactlessFrontend`` (nfcpy ships no type hints)."""

FrontendFactory = Callable[[str], Frontend]


@dataclass(frozen=True)
class NfcReaderConfig:
    """How to reach the reader and how to poll it."""

    path: str = "usb"
    """nfcpy device path: ``usb``, ``usb:VID:PID``, ``tty:PORT:DRIVER``, ``udp:HOST:PORT``."""
    targets: tuple[str, ...] = ("106A", "212F")
    """Technologies to sense, in order: 106A for Type 2/4 cards, 212F for FeliCa."""
    idle_interval_s: float = 0.05
    """Pause after a poll round that found nothing."""
    presence_interval_s: float = 0.1
    """Pause between presence checks while a card is held on the reader."""
    rearm_s: float = 0.5
    """A card lost and found again within this time is the same tap (reader flicker)."""
    retry_initial_s: float = 0.5
    """First wait before reopening a failed reader; doubles up to ``retry_max_s`` (jittered,
    :class:`shared.backoff.Backoff`)."""
    retry_max_s: float = 10.0
    ndef_attempts: int = 3
    """Reads of the NDEF area before concluding the card has none. nfcpy reports a failed
    read (card slid away mid-read, RF noise) the same way as "no NDEF", so a card that
    answers at all gets a few tries; a card without NDEF fails fast on its first page."""
    stop_timeout_s: float = 5.0
    """How long ``stop()`` waits for the thread before giving up (and logging it)."""

    def __post_init__(self) -> None:
        if not 0 < self.retry_initial_s <= self.retry_max_s:
            raise ValueError("need 0 < retry_initial_s <= retry_max_s")


def udp_port_problem(path: str) -> str | None:
    """Why nfcpy's udp transport cannot use ``path`` (``udp:HOST:PORT``), or None.

    nfcpy resolves the address with ``getnameinfo`` and reads the service back as a number,
    so a port that ``/etc/services`` names (60179 is ``fido``, 5353 ``mdns``) fails inside
    nfcpy with "invalid literal for int()". Said here in words instead.
    """
    parts = path.split(":")
    if parts[0] != "udp" or len(parts) != 3 or not parts[2].isdigit():
        return None
    host, port = parts[1] or "localhost", int(parts[2])
    try:
        service = socket.getnameinfo((host, port), socket.NI_NUMERICHOST)[1]
    except OSError as exc:
        return f"cannot resolve {host}:{port}: {exc}"
    if service.isdigit():
        return None
    return (
        f"nfcpy cannot use udp port {port}: /etc/services names it {service!r} "
        "(choose a port without a service name)"
    )


def free_nfc_udp_port(host: str = "127.0.0.1") -> int:
    """A free UDP port that nfcpy's udp transport can use (see :func:`udp_port_problem`)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if udp_port_problem(f"udp:{host}:{port}") is None:
            return port


def open_serial_frontend(path: str) -> Frontend:
    """nfcpy's frontend on ``tty:/dev/<file>:<driver>``: nfcpy's own serial transport and
    driver (``nfc.clf.pn532``...) on a device file nfcpy's search would not list."""
    import importlib

    import nfc
    from nfc.clf import transport

    device, _, driver = path[len("tty:") :].rpartition(":")
    if not device or not driver.isidentifier():
        raise ReaderUnavailable(f"cannot open NFC reader on {path!r}: use tty:/dev/FILE:DRIVER")
    try:
        module = importlib.import_module(f"nfc.clf.{driver}")
    except ImportError as exc:
        raise ReaderUnavailable(
            f"cannot open NFC reader on {path!r}: no nfcpy driver {driver!r}"
        ) from exc
    try:
        tty = transport.TTY(device)
    except (OSError, ValueError) as exc:
        raise ReaderUnavailable(f"cannot open NFC reader on {path!r}: {exc}") from exc
    try:
        found = module.init(tty)
    except (OSError, ValueError) as exc:
        tty.close()
        raise ReaderUnavailable(
            f"no {driver} reader answered on {device} ({exc}): check wiring and power"
        ) from exc
    found._path = device
    clf = nfc.ContactlessFrontend()
    clf.device = found
    return clf


def open_frontend(path: str) -> Frontend:
    """Open nfcpy's frontend on ``path``; raise ``ReaderUnavailable`` saying why not."""
    import nfc

    if path.startswith("tty:/"):
        return open_serial_frontend(path)
    problem = udp_port_problem(path)
    if problem is not None:
        raise ReaderUnavailable(f"cannot open NFC reader on {path!r}: {problem}")
    clf = nfc.ContactlessFrontend()
    try:
        found = clf.open(path)
    except (OSError, ValueError, ImportError) as exc:
        raise ReaderUnavailable(f"cannot open NFC reader on {path!r}: {exc}") from exc
    if not found:
        raise ReaderUnavailable(
            f"no NFC reader found on {path!r} (unplugged, or no access to the USB device)"
        )
    return clf


class NfcReader:
    """A supervised nfcpy card reader implementing ``CardReader``."""

    def __init__(
        self,
        config: NfcReaderConfig,
        *,
        clock: Clock | None = None,
        frontend_factory: FrontendFactory = open_frontend,
    ) -> None:
        self.config = config
        self._clock = clock or SystemClock()
        self._factory = frontend_factory
        self._health = HealthTracker(DeviceKind.CARD_READER, self._clock)
        self._debouncer = TapDebouncer(config.rearm_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_card: Callable[[CardRead], None] | None = None
        self._clf: Frontend | None = None
        self._polled = False
        self._presence = threading.Condition()
        self.taps = 0
        """Taps delivered so far."""
        self.callback_errors = 0
        """Callbacks that raised (logged and counted, never fatal)."""

    @property
    def health(self) -> ReaderHealth:
        """Current health (safe to read from any thread)."""
        return self._health.current

    def wait_for_health(self, state: HealthState, timeout: float) -> bool:
        """Block until health reaches ``state``; False if ``timeout`` seconds pass first."""
        return self._health.wait_for(state, timeout)

    @property
    def present_uid(self) -> str | None:
        """UID of the card on the reader right now, if any."""
        return self._debouncer.present_uid

    def wait_for_presence(self, uid: str | None, timeout: float) -> bool:
        """Block until the card on the reader is ``uid`` (None: no card); False on timeout."""
        with self._presence:
            return self._presence.wait_for(lambda: self.present_uid == uid, timeout)

    def _card_left(self, uid: str) -> None:
        with self._presence:
            self._debouncer.left(uid, self._clock.monotonic())
            self._presence.notify_all()

    def start(self, on_card: Callable[[CardRead], None]) -> None:
        """Start the reader thread; ``on_card`` is called from it once per tap.

        Raises ReaderUnavailable for a path nfcpy can never open (see :func:`udp_port_problem`);
        a reader that is merely absent is waited for with backoff instead.
        """
        if self._thread is not None:
            raise RuntimeError("reader already started")
        problem = udp_port_problem(self.config.path)
        if problem is not None:  # can never work: a configuration error, not a reader to await
            raise ReaderUnavailable(
                f"cannot open NFC reader on {self.config.path!r}: {problem}; change nfc.path"
            )
        self._on_card = on_card
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"nfc-reader {self.config.path}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop polling, close the reader and join the thread."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            deadline = time.monotonic() + self.config.stop_timeout_s
            while thread.is_alive() and time.monotonic() < deadline:
                self._wake_udp()  # again each round: the driver may have just made a socket
                thread.join(0.05)
            if thread.is_alive():
                log.error("NFC reader thread on %s did not stop in time", self.config.path)
        self._health.set(HealthState.STOPPED)

    def __enter__(self) -> NfcReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the reader thread ---------------------------------------------------------------

    def _run(self) -> None:
        backoff = Backoff(self.config.retry_initial_s, self.config.retry_max_s)
        while not self._stop.is_set():
            try:
                self._clf = self._factory(self.config.path)
            except Exception as exc:
                self._unavailable(f"{exc}")
                self._stop.wait(backoff.next_delay())
                continue
            self._health.set(HealthState.OK)
            log.info("NFC reader open on %s", self.config.path)
            self._polled = False
            try:
                self._session(self._clf)
            except Exception as exc:
                if self._polled:  # it worked for a while: retry soon
                    backoff.reset()
                if self._stop.is_set():
                    log.debug("NFC reader stopped during an exchange: %r", exc)
                elif isinstance(exc, (OSError, ReaderUnavailable)):
                    # nfcpy's USB and serial drivers raise IOError when the reader goes away.
                    self._unavailable(f"reader failed on {self.config.path!r}: {exc}")
                    self._stop.wait(backoff.next_delay())
                else:
                    log.exception("NFC reader on %s: unexpected error, reopening", self.config.path)
                    self._unavailable(f"unexpected error on {self.config.path!r}: {exc!r}")
                    self._stop.wait(backoff.next_delay())
            finally:
                clf, self._clf = self._clf, None
                with contextlib.suppress(Exception):
                    clf.close()
                uid = self.present_uid
                if uid is not None:
                    self._card_left(uid)

    def _unavailable(self, detail: str) -> None:
        previous = self._health.current
        if previous.state is not HealthState.UNAVAILABLE or previous.detail != detail:
            log.warning("NFC reader unavailable: %s", detail)  # before the change is visible
        self._health.set(HealthState.UNAVAILABLE, detail)

    def _session(self, clf: Frontend) -> None:
        import nfc.clf
        import nfc.tag

        targets = [nfc.clf.RemoteTarget(brty) for brty in self.config.targets]
        while not self._stop.is_set():
            found = None
            for target in list(targets):
                if self._stop.is_set():
                    return
                try:
                    found = clf.sense(target, iterations=1)
                except nfc.clf.UnsupportedTargetError as exc:
                    log.warning(
                        "NFC reader on %s cannot sense %s: %s", self.config.path, target.brty, exc
                    )
                    targets.remove(target)
                    if not targets:
                        raise ReaderUnavailable(
                            f"reader on {self.config.path!r} supports none of the targets "
                            f"{', '.join(self.config.targets)}"
                        ) from exc
                    continue
                if found is not None and _is_card(found):
                    break
                found = None
            self._polled = True
            if found is None:
                self._stop.wait(self.config.idle_interval_s)
                continue
            try:
                self._handle_target(clf, found)
            except (nfc.tag.TagCommandError, nfc.clf.CommunicationError) as exc:
                log.info("card read failed (card moved away?): %s", exc)
                uid = self.present_uid
                if uid is not None:
                    self._card_left(uid)

    def _handle_target(self, clf: Frontend, target: Any) -> None:
        import nfc.tag

        tag = nfc.tag.activate(clf, target)
        if tag is None:
            return  # left during activation, or not a card nfcpy can talk to
        read = self._read_card(tag)
        if read is None:
            return
        with self._presence:
            new_tap = self._debouncer.arrived(read.uid, read.read_at)
            self._presence.notify_all()
        if new_tap:
            self._deliver(read)
        while not self._stop.is_set():
            if not tag.is_present:
                self._card_left(read.uid)
                return
            self._debouncer.still_present(read.uid, self._clock.monotonic())
            self._stop.wait(self.config.presence_interval_s)

    def _read_card(self, tag: Any) -> CardRead | None:
        identifier = bytes(tag.identifier)
        if not identifier:
            return None
        return CardRead(
            uid=identifier.hex().upper(),
            family=FAMILIES.get(tag.type, tag.type.lower()),
            product=str(tag.product or ""),
            ndef=_read_ndef(tag, self.config.ndef_attempts),
            read_at=self._clock.monotonic(),
        )

    def _deliver(self, read: CardRead) -> None:
        self.taps += 1
        if self._on_card is None:
            return
        try:
            self._on_card(read)
        except Exception:
            self.callback_errors += 1
            log.exception("card callback failed for card %s (tap dropped by handler)", read.uid)

    def _wake_udp(self) -> None:
        """On the udp transport, end a pending 1 s receive now so ``stop()`` is prompt.

        nfcpy's udp driver waits a fixed second for each unanswered target; sending the
        driver's own socket an ``RFOFF`` datagram makes that receive return at once (nfcpy
        treats it as a broken link). Real USB drivers return within milliseconds anyway.
        """
        clf = self._clf
        sock = getattr(getattr(clf, "device", None), "socket", None)
        if not isinstance(sock, socket.socket):
            return
        with contextlib.suppress(OSError):
            port = sock.getsockname()[1]
            if port:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as nudge:
                    nudge.sendto(b"RFOFF", ("127.0.0.1", port))


def _is_card(target: Any) -> bool:
    """False for phones offering peer-to-peer (NFC-DEP) rather than a card."""
    if target.sel_res and target.sel_res[0] & 0x40:
        return False
    return not (target.sensf_res and bytes(target.sensf_res[1:3]) == b"\x01\xfe")


def _read_ndef(tag: Any, attempts: int) -> tuple[NdefRecord, ...]:
    """The card's NDEF records; () when it has none or they cannot be read."""
    import ndef
    import nfc.clf
    import nfc.tag

    records: list[Any] = []
    for _ in range(max(1, attempts)):
        try:
            message = tag.ndef  # None until nfcpy has read an NDEF area: asking again re-reads
            if message is not None:
                records = list(message.records)
                break
        except (nfc.tag.TagCommandError, nfc.clf.CommunicationError, ndef.DecodeError) as exc:
            uid = bytes(tag.identifier).hex().upper()
            log.info("card %s: NDEF not readable: %s", uid, exc)
    result: list[NdefRecord] = []
    for record in records:
        if isinstance(record, ndef.TextRecord):
            result.append(NdefRecord("text", record.text, record.language))
        elif isinstance(record, ndef.UriRecord):
            result.append(NdefRecord("uri", record.iri))
        else:
            result.append(NdefRecord("other", str(record.type)))
    return tuple(result)
