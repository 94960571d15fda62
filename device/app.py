"""The one place a kiosk is wired: settings -> ledger -> tap service -> link, readers and UI.

Nothing happens at import or construction. :meth:`KioskApp.start` opens the ledger, serves the
touchscreen UI, connects the MQTT link and starts the readers; :meth:`KioskApp.stop` stops
them in reverse order and joins every thread. A kiosk keeps working with the broker down
(the link retries in the background) and with a reader down (health says so on screen).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from device.ledger import KioskLedger
from device.link import KioskHealth, KioskLink, LinkState
from device.ports import Clock, SystemClock
from device.readers.base import CardReader, HealthState, QrScanner, ReaderHealth
from device.sessions import MemberSessions, StaffSessions
from device.settings import KioskSettings
from device.station_gate import StationBook, StationGate
from device.station_gate.server import station_server
from device.tap_service import TapService
from device.ui.api import UiBackend, create_ui_app
from device.ui.hub import EventHub
from device.ui.server import UiServer
from device.ui.views import ReaderView, StatusView, SyncView, local_time
from shared import SOFTWARE_VERSION
from shared.password_hash import RECOMMENDED, describe
from shared.protocol import ReaderStatus

log = logging.getLogger(__name__)

STATUS_POLL_S = 0.5
"""How often reader health is looked at for the screen's indicators (link changes are pushed
at once through the link's state callback)."""

_READER_STATES = {
    HealthState.OK: "ok",
    HealthState.STARTING: "starting",
    HealthState.UNAVAILABLE: "unavailable",
    HealthState.STOPPED: "disabled",
}


def _reader_view(health: ReaderHealth | None) -> ReaderView | None:
    if health is None:
        return None
    return ReaderView(
        state=_READER_STATES.get(health.state, "unavailable"),
        detail=health.detail,
        message_zh=health.message("zh"),
        message_en=health.message("en"),
    )


def build_card_reader(settings: KioskSettings, clock: Clock) -> CardReader | None:
    """The nfcpy reader on ``settings.nfc.path`` (None when the card reader is disabled)."""
    if settings.nfc.path is None:
        return None
    from device.readers.nfc_reader import NfcReader, NfcReaderConfig

    return NfcReader(
        NfcReaderConfig(path=settings.nfc.path, targets=tuple(settings.nfc.targets)), clock=clock
    )


def build_qr_scanner(settings: KioskSettings, clock: Clock) -> QrScanner | None:
    """The camera QR scanner on ``settings.camera.source`` (None when no camera is set)."""
    if settings.camera.source is None:
        return None
    from device.readers.frames import OpenCvFrameSource
    from device.readers.qr import CameraQrScanner, QrScannerConfig

    return CameraQrScanner(
        OpenCvFrameSource(settings.camera.source),
        QrScannerConfig(backend=settings.camera.decoder),
        clock=clock,
    )


class KioskApp:
    """One kiosk: create with settings, :meth:`start`, and :meth:`stop` at shutdown.

    ``card_reader`` / ``qr_scanner`` replace the readers built from the settings (e.g. a
    reader on another transport); pass ``None`` explicitly through the settings to disable.
    """

    def __init__(
        self,
        settings: KioskSettings,
        *,
        clock: Clock | None = None,
        card_reader: CardReader | None = None,
        qr_scanner: QrScanner | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self._card_reader_override = card_reader
        self._qr_scanner_override = qr_scanner
        self.ledger: KioskLedger | None = None
        self.hub: EventHub | None = None
        self.service: TapService | None = None
        self.link: KioskLink | None = None
        self.card_reader: CardReader | None = None
        self.qr_scanner: QrScanner | None = None
        self.ui: UiServer | None = None
        self.stations: StationGate | None = None
        self.station_server: UiServer | None = None
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()
        self._status_lock = threading.Lock()
        self._last_status: StatusView | None = None
        self._started = False

    # --- lifecycle -------------------------------------------------------------------------------

    def _staff_roster(self) -> list[tuple[str, str]]:
        """(staff id, PIN hash) of this store's staff in the rule bundle the ledger holds."""
        bundle = self.ledger.rule_bundle() if self.ledger is not None else None
        if bundle is None:
            return []
        return [(p.staff_id, p.pin_hash) for p in bundle.staff_pins(self.settings.store_id)]

    def _staff_cards(self) -> list[tuple[str, str]]:
        """(staff id, card hash) of this store's staff cards in the rule bundle in force."""
        bundle = self.ledger.rule_bundle() if self.ledger is not None else None
        if bundle is None:
            return []
        return [(c.staff_id, c.card_hash) for c in bundle.staff_card_hashes(self.settings.store_id)]

    def start(self) -> None:
        """Open the ledger, serve the UI, connect the link, start the readers.

        Raises the ledger's errors (corrupt, foreign or too-new file) and UiServerError (port
        taken) after undoing whatever had started.
        """
        if self._started:
            raise RuntimeError("this KioskApp was already started; create a new one")
        self._started = True
        s = self.settings
        try:
            self.ledger = KioskLedger.open(
                s.ledger_path, kiosk_id=s.kiosk_id, store_id=s.store_id, clock=self.clock
            )
            self.hub = EventHub()
            staff = StaffSessions(
                self.clock,
                pin_hash=s.staff.pin_hash.get_secret_value(),
                staff_id=s.staff.staff_id,
                cards=s.staff.cards,
                idle_s=s.staff.session_idle_s,
                max_attempts=s.staff.max_pin_attempts,
                lockout_s=s.staff.lockout_s,
                roster=self._staff_roster,
                card_roster=self._staff_cards,
            )
            self.service = TapService(
                self.ledger,
                self.hub,
                clock=self.clock,
                member_sessions=MemberSessions(self.clock, s.ui.member_session_s),
                staff_sessions=staff,
                default_lang=s.ui.default_lang,
            )
            self.card_reader = self._card_reader_override or build_card_reader(s, self.clock)
            self.qr_scanner = self._qr_scanner_override or build_qr_scanner(s, self.clock)
            self.link = KioskLink(
                s.link,
                self.ledger,
                health=self.health,
                disk_path=s.ledger_path.parent,
                clock=self.clock,
                on_state_change=self._on_link_state,
            )
            self.service.attach_link(self.link)
            backend = UiBackend(
                settings=s,
                service=self.service,
                hub=self.hub,
                ledger=self.ledger,
                clock=self.clock,
                status=self.status,
                sync=self.sync_view,
            )
            self.ui = UiServer(create_ui_app(backend), s.ui.host, s.ui.port)
            self.ui.start()
            self.link.start()
            if s.stations.enrolled:
                enrolled = s.stations.enrolled
                self.stations = StationGate(
                    enrolled,
                    self.service,
                    StationBook((e.station_id, e.room) for e in enrolled),
                )
                self.station_server = station_server(
                    self.stations, s.stations.host, s.stations.port
                )
                self.station_server.start()
            if self.card_reader is not None:
                self.card_reader.start(self.service.on_card)
            if self.qr_scanner is not None:
                self.qr_scanner.start(self.service.on_qr)
            self._publish_status()
            self._watcher = threading.Thread(
                target=self._watch_status, name=f"kiosk-status-{s.kiosk_id}", daemon=True
            )
            self._watcher.start()
        except BaseException:
            self.stop()
            raise
        log.info("kiosk %s (store %s) running; UI at %s", s.kiosk_id, s.store_id, self.ui_url)
        if staff.pin_hash_outdated:
            log.warning(
                "kiosk %s: staff.pin_hash is outdated (%s; today: %s); replace it with the "
                "output of `tapfleet kiosk --hash-pin` (the PIN keeps working meanwhile)",
                s.kiosk_id,
                describe(s.staff.pin_hash.get_secret_value()),
                RECOMMENDED.describe(),
            )

    def stop(self) -> None:
        """Stop readers, link, UI and ledger (in that order) and join their threads. Idempotent."""
        self._stop.set()
        steps: list[tuple[str, Callable[[], Any] | None]] = [
            ("status watcher", self._join_watcher),
            ("door-station endpoint", self.station_server.stop if self.station_server else None),
            ("card reader", self.card_reader.stop if self.card_reader else None),
            ("QR scanner", self.qr_scanner.stop if self.qr_scanner else None),
            ("MQTT link", self.link.stop if self.link else None),
            ("UI event streams", self.hub.close if self.hub else None),
            ("UI server", self.ui.stop if self.ui else None),
            ("ledger", self.ledger.close if self.ledger else None),
        ]
        for name, step in steps:
            if step is None:
                continue
            try:
                step()
            except Exception:
                log.exception("kiosk %s: stopping the %s failed", self.settings.kiosk_id, name)

    def __enter__(self) -> KioskApp:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def ui_url(self) -> str:
        """Base URL of the touchscreen UI (after start)."""
        if self.ui is None:
            raise RuntimeError("the kiosk is not started")
        return self.ui.url

    # --- health and status ---------------------------------------------------------------------

    def health(self) -> KioskHealth:
        """What the heartbeat reports beyond the ledger: reader health and tap counts."""
        readers: dict[str, ReaderStatus] = {}
        for name, reader in (("nfc", self.card_reader), ("camera", self.qr_scanner)):
            if reader is None:
                readers[name] = ReaderStatus(state="disabled")
                continue
            h = reader.health
            readers[name] = ReaderStatus(
                state=_READER_STATES.get(h.state, "unavailable"),
                detail=h.detail[:200],
                since_ms=h.since_ms or None,
            )
        counters = self.service.counters if self.service else None
        return KioskHealth(
            readers=readers,
            last_good_tap_ms=counters.last_good_tap_ms if counters else None,
            taps_accepted=counters.accepted if counters else 0,
            taps_refused=counters.refused if counters else 0,
            stations=self.stations.book.status() if self.stations else {},
        )

    @property
    def stations_url(self) -> str | None:
        """Base URL of the door-station endpoint (None when no station is enrolled)."""
        return self.station_server.url if self.station_server is not None else None

    def _link_state(self) -> LinkState | None:
        return self.link.state() if self.link is not None else None

    def status(self) -> StatusView:
        """The member screen's indicators right now."""
        link = self._link_state()
        ready = False
        refused: str | None = None
        if self.ledger is not None:
            ready = self.ledger.rule_bundle() is not None and self.ledger.versions().members > 0
            refused = self.ledger.stream_state().refused
        return StatusView(
            stream_refused=refused,
            online=bool(link and link.online),
            connected=bool(link and link.connected),
            ready=ready,
            nfc=_reader_view(self.card_reader.health if self.card_reader else None),
            camera=_reader_view(self.qr_scanner.health if self.qr_scanner else None),
            software_version=SOFTWARE_VERSION,
        )

    def sync_view(self) -> SyncView:
        """The staff sync page: online, outbox, versions, readers, each a separate fact."""
        assert self.ledger is not None
        sync = self.ledger.sync_status()
        link = self._link_state()
        bundle = self.ledger.rule_bundle()
        tz = bundle.rules.timezone if bundle else "Asia/Shanghai"
        counters = self.service.counters if self.service else None
        return SyncView(
            kiosk_id=self.settings.kiosk_id,
            store_id=self.settings.store_id,
            online=bool(link and link.online),
            connected=bool(link and link.connected),
            offline_since=local_time(sync.offline_since_ms, tz),
            outbox_depth=sync.outbox_depth,
            oldest_unacked_age_s=sync.oldest_unacked_age_s,
            last_seq=sync.last_seq,
            acked_seq=sync.acked_seq,
            confirmed_seq=sync.confirmed_seq,
            versions=sync.versions.model_dump(),
            members=sync.members,
            unconfirmed_sessions=sync.unconfirmed_sessions,
            unconfirmed_points=sync.unconfirmed_points,
            last_ack=local_time(link.last_ack_ms if link else None, tz, "%H:%M:%S"),
            coordinator_seen=local_time(link.coordinator_seen_ms if link else None, tz, "%H:%M:%S"),
            reconnects=link.reconnects if link else 0,
            nfc=_reader_view(self.card_reader.health if self.card_reader else None),
            camera=_reader_view(self.qr_scanner.health if self.qr_scanner else None),
            taps_accepted=counters.accepted if counters else 0,
            taps_refused=counters.refused if counters else 0,
            last_good_tap=local_time(counters.last_good_tap_ms if counters else None, tz),
            software_version=SOFTWARE_VERSION,
        )

    def _on_link_state(self, state: LinkState) -> None:
        self._publish_status()

    def _publish_status(self) -> None:
        """Push the indicators to the screen when they changed."""
        if self.hub is None:
            return
        try:
            current = self.status()
        except Exception:
            log.exception("kiosk %s: status for the screen unavailable", self.settings.kiosk_id)
            return
        with self._status_lock:
            if current == self._last_status:
                return
            self._last_status = current
        self.hub.publish("status", current.model_dump(mode="json"))

    def _watch_status(self) -> None:
        while not self._stop.wait(STATUS_POLL_S):
            self._publish_status()

    def _join_watcher(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.join(5.0)
