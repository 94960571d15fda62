"""The coordinator's object graph, built in one place, started and stopped explicitly.

Nothing here runs at import time. :class:`Coordinator` owns the database, the MQTT link,
the ingest worker, the member pusher and the housekeeping loop; the HTTP API
(:func:`coordinator.app.create_app`) calls into it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

import sqlalchemy as sa

from coordinator import backups, schema
from coordinator.clock import Clock, HlcSource, SystemClock
from coordinator.db import COUNTERS, Database
from coordinator.downstream import rule_bundles, timetables
from coordinator.downstream.push_loop import MemberPusher
from coordinator.downstream.rule_bundles import ChainRules
from coordinator.downstream.snapshots import EncodedUpdate, SnapshotStream
from coordinator.engage.runner import run_automations
from coordinator.fleet.live import LiveFleet
from coordinator.fleet.prom import FleetCollector
from coordinator.ledger.housekeeping import run_once
from coordinator.ledger.hq_events import HqRecorder
from coordinator.ledger.ingest import Ingest
from coordinator.ledger.member_fold import FoldCheckpoints
from coordinator.ledger.sequencer import Sequencer
from coordinator.metrics import Metrics
from coordinator.mqtt.broker_sync import BrokerSync
from coordinator.mqtt.link import MqttLink
from coordinator.outbound.delivery import WebhookDispatcher
from coordinator.outbound.webhooks import open_secret
from coordinator.reports.service import Reports
from coordinator.security import auth, qr_keys
from coordinator.security.key_sealing import KeySealer
from coordinator.security.login_limit import FailureLimiter
from coordinator.settings import CoordinatorSettings
from shared import topics
from shared.model import RuleBundle
from shared.protocol import Message, RuleBundleMessage, StreamNotice, encode

log = logging.getLogger(__name__)

SIGNUPS_PER_ADDRESS = 20
"""Self sign-ups (and self-access requests) one client address may make per window; the
same bound applies per phone number to self-access codes."""
SELF_SERVICE_WINDOW_MS = 3_600_000

AUTOMATIONS_EVERY_MS = 3_600_000
"""How often housekeeping runs the chain's automations over every member (occasions are
days wide, and a run finds each occasion once however often it runs)."""


class Coordinator:
    """Everything the coordinator is, wired explicitly."""

    def __init__(
        self,
        settings: CoordinatorSettings,
        *,
        clock: Clock | None = None,
        database: Database | None = None,
    ):
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = database or Database(settings.database_url, schema_name=settings.database_schema)
        self.hlc = HlcSource(self.clock)
        self.metrics = Metrics()
        self.rules = ChainRules()
        self.fold_checkpoints = FoldCheckpoints(settings.fold_checkpoints_max)
        self.recorder = HqRecorder(
            hlc=self.hlc, rules_provider=self.rules, checkpoints=self.fold_checkpoints
        )
        self.events = Sequencer(
            hlc=self.hlc,
            rules_provider=self.rules,
            max_held_per_kiosk=settings.max_held_per_kiosk,
            checkpoints=self.fold_checkpoints,
        )
        self.pusher = MemberPusher(
            db=self.db,
            hlc=self.hlc,
            metrics=self.metrics,
            send=self.send,
            interval_s=settings.member_push_interval_ms / 1000,
            max_interval_s=settings.member_push_max_interval_ms / 1000,
            backlog=lambda: self.ingest.depth(),
        )
        self.ingest = Ingest(
            settings=settings,
            db=self.db,
            clock=self.clock,
            hlc=self.hlc,
            metrics=self.metrics,
            events=self.events,
            send=self.send,
            members_changed=self.pusher.wake,
        )
        self.sealer = KeySealer.from_settings(settings)
        self.broker_sync = BrokerSync(settings, self.db)
        window_ms = settings.login_window_s * 1000
        self.login_limiter = FailureLimiter(
            self.db,
            scope="login",
            max_failures=settings.login_max_failures,
            max_per_address=settings.login_max_failures_per_address,
            window_ms=window_ms,
        )
        self.enroll_limiter = FailureLimiter(
            self.db,
            scope="enroll",
            max_failures=settings.login_max_failures_per_address,
            max_per_address=settings.login_max_failures_per_address,
            window_ms=window_ms,
        )
        self.signup_limiter = FailureLimiter(
            self.db,
            scope="self_service",
            max_failures=SIGNUPS_PER_ADDRESS,
            max_per_address=SIGNUPS_PER_ADDRESS,
            window_ms=SELF_SERVICE_WINDOW_MS,
        )
        """Self sign-ups and self-access requests per client address (and per phone)."""
        self.live: LiveFleet | None = None
        """The fleet monitor and its live snapshots (None when the dashboard is off)."""
        if settings.dashboard.enabled:
            self.live = LiveFleet(self.db, settings.dashboard, self.clock)
            self.metrics.registry.register(FleetCollector(self.live.hub.latest))
        self.reports = Reports(self.db, self.clock.wall_ms, settings.dashboard.report_cache_s)
        allow_private = settings.webhooks.allow_private_targets
        self.webhooks = WebhookDispatcher(
            self.db,
            settings.webhooks,
            allow_private=settings.dev_mode if allow_private is None else allow_private,
            wall_ms=self.clock.wall_ms,
            open_secret=lambda endpoint_id, text: open_secret(self.sealer, endpoint_id, text),
        )
        self.link: MqttLink | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._tier_cursor = ""
        self._automations_ms = 0
        self._backup_told_ms = 0
        self.started = False

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Migrate, bootstrap, then start the worker threads and the MQTT link."""
        self.db.migrate()
        self.bootstrap()
        if self.broker_sync.enabled:
            result = self.broker_sync.sync()
            log.info("broker users and ACL at start: %s", result.detail)
        self._stop.clear()
        self._spawn("tapfleet-ingest", self.ingest.run)
        self._spawn("tapfleet-member-push", self.pusher.run)
        # Members changed before a crash or stop may still wait for their push.
        self.pusher.wake()
        self._spawn("tapfleet-housekeeping", self._housekeeping_loop)
        if self.settings.webhooks.enabled:
            self._spawn("tapfleet-webhooks", self.webhooks.run)
        if self.settings.mqtt_enabled:
            self.link = MqttLink(
                self.settings,
                on_message=self.ingest.submit,
                subscriptions=self.ingest.subscriptions(),
                wall_ms=self.clock.wall_ms,
            )
            self.ingest.set_acker(self.link.ack)
            self.link.start()
            self.announce_restore()
        if self.settings.backup_dir is not None and self.db.is_sqlite:
            self._spawn("tapfleet-backup", self._backup_loop)
        self.started = True

    def stop(self) -> None:
        """Stop accepting messages, finish the current group, disconnect, close the database."""
        if not self.started:
            return
        self.started = False
        if self.link is not None:
            self.ingest.wait_idle(5.0)
        self._stop.set()
        self.ingest.interrupt()
        self.pusher.wake()
        self.webhooks.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        if self.link is not None:
            self.link.stop()
            self.link = None
        self.db.dispose()

    def _spawn(self, name: str, target: Callable[[threading.Event], None]) -> None:
        thread = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def bootstrap(self) -> None:
        """First-start data: counters, the first HQ admin, a QR key and a default bundle."""
        now = self.clock.wall_ms()
        with self.db.write() as conn:
            have = set(conn.execute(sa.select(schema.counters.c.name)).scalars())
            for name in COUNTERS:
                if name not in have:
                    conn.execute(sa.insert(schema.counters).values(name=name, value=0))
            auth.ensure_admin(conn, self.settings, now)
            sealed = qr_keys.seal_plain_keys(conn, self.sealer)
            if sealed:
                log.info("sealed %d QR signing key(s) stored in plain text", sealed)
            qr_keys.ensure_signing_key(conn, now, self.sealer)
            if rule_bundles.chain_bundle(conn) is None:
                draft = rule_bundles.create_draft(
                    conn,
                    RuleBundle(version=0),
                    note="default rules (created at first start)",
                    user="system",
                    now_ms=now,
                )
                rule_bundles.publish(conn, draft, store_ids=(), user="system", now_ms=now)

    def _backup_loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.settings.backup_interval_s):
            try:
                self.backup()
            except Exception:
                log.exception("scheduled backup failed; trying again next interval")

    def backup(self) -> backups.BackupInfo:
        """Take, verify and keep one online backup now (``backup_dir``, SQLite), and tell
        the kiosks its time."""
        if self.settings.backup_dir is None:
            raise backups.BackupError("no backup_dir is set")
        info = backups.backup_sqlite(
            self.db,
            self.settings.backup_dir,
            now_ms=self.clock.wall_ms(),
            keep=self.settings.backup_keep,
        )
        self.announce_backup()
        return info

    def announce_backup(self) -> int:
        """Tell every kiosk the time of a verified backup newer than the last one told (taken
        here or by ``tapfleet coordinator backup``): kiosks prune acknowledged rows only
        once a backup holds them. Returns how many kiosks were told."""
        k = schema.kiosks
        with self.db.read() as conn:
            _, _, verified_ms = backups.restore_state(conn)
            if verified_ms is None or verified_ms <= self._backup_told_ms:
                return 0
            kiosks = list(conn.execute(sa.select(k.c.kiosk_id).where(k.c.revoked.is_(False))))
        self._backup_told_ms = verified_ms
        for (kiosk_id,) in kiosks:
            self.send(
                topics.kiosk_topic(kiosk_id, topics.Channel.DIRECT),
                StreamNotice(
                    kiosk_id=kiosk_id, state="backup", epoch=0, backup_verified_ms=verified_ms
                ),
            )
        return len(kiosks)

    def announce_restore(self) -> int:
        """After a restore from backup, ask every kiosk to sync (it then resends what the
        restored database lacks from its journal); once per restore epoch. Returns how
        many kiosks were asked."""
        k = schema.kiosks
        with self.db.write() as conn:
            epoch, announced, _ = backups.restore_state(conn)
            if epoch == 0 or epoch == announced:
                return 0
            kiosks = list(conn.execute(sa.select(k.c.kiosk_id).where(k.c.revoked.is_(False))))
            backups.set_announced(conn, epoch)
        for (kiosk_id,) in kiosks:
            self.send(
                topics.kiosk_topic(kiosk_id, topics.Channel.DIRECT),
                StreamNotice(kiosk_id=kiosk_id, state="resync", epoch=0, restore_epoch=epoch),
            )
        log.warning(
            "restore epoch %d: asked %d kiosk(s) to resend from their journals", epoch, len(kiosks)
        )
        return len(kiosks)

    def _housekeeping_loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.settings.housekeeping_interval_s):
            try:
                self.housekeeping()
            except Exception:
                log.exception("housekeeping failed; trying again next interval")

    def housekeeping(self) -> None:
        """Run points expiry, tier review, claim expiry and the timetable refresh once; the
        automations hourly."""
        now = self.clock.wall_ms()
        report = run_once(self.db, self.recorder, self.rules, now, self._tier_cursor)
        self._tier_cursor = report.tier_cursor
        woke = report.lots_expired or report.tiers_changed or report.penalties
        if now - self._automations_ms >= AUTOMATIONS_EVERY_MS:
            self._automations_ms = now
            if run_automations(self.db, self.recorder, self.rules, now).hq_events:
                woke = True
            self.webhooks.wake()
        if woke:
            self.pusher.wake()
        with self.db.write() as conn:
            # A store's bundle carries its timetable's next weeks: re-layer before they run out.
            refreshed = timetables.refresh_due(conn, now)
        for bundle in refreshed:
            for store_id in bundle.store_ids:
                self.send(
                    topics.store_topic(store_id),
                    RuleBundleMessage(bundle=bundle.for_store(store_id)),
                )
        if self.link is not None:
            self.announce_backup()
        if self.broker_sync.enabled:
            self.broker_sync.sync()  # repairs drift (files edited or lost, broker restarted)

    # -- outgoing ---------------------------------------------------------------------------

    def send(self, topic: str, message: Message | EncodedUpdate | SnapshotStream) -> None:
        """Publish a downstream message (after the commit that produced it); a snapshot
        stream is built and published chunk by chunk."""
        if isinstance(message, SnapshotStream):
            self._send_snapshot(topic, message)
            return
        self.metrics.published.labels(type=getattr(message, "type", "?")).inc()
        if self.link is None:
            return
        channel = topics.parse(topic).channel
        payload = message.payload if isinstance(message, EncodedUpdate) else encode(message)
        self.link.publish(topic, payload, topics.QOS[channel])

    def _send_snapshot(self, topic: str, stream: SnapshotStream) -> None:
        link = self.link
        if link is None:
            return
        sent = 0

        def counted() -> Iterator[bytes]:
            nonlocal sent
            for payload in stream.payloads(self.db):
                self.metrics.published.labels(type=stream.type).inc()
                sent += 1
                yield payload

        try:
            link.publish_all(topic, counted(), topics.QOS[topics.parse(topic).channel])
        except Exception:
            # Never kills the ingest worker; the kiosk keeps its old members (a snapshot
            # switches in only when complete) and gets a new one on its next sync.
            log.exception(
                "member snapshot for store %s failed after %d chunk(s) to %s",
                stream.store_id,
                sent,
                topic,
            )

    def mqtt_connected(self) -> bool:
        """True while the broker connection is up."""
        connected = self.link is not None and self.link.connected.is_set()
        self.metrics.mqtt_connected.set(1 if connected else 0)
        return connected
