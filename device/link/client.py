"""The kiosk's MQTT link: drains the outbox to the coordinator and applies what comes down.

Threads: paho's network thread (``loop_start``) runs the callbacks; one drainer thread
publishes event batches inside a bounded window, heartbeats and sync requests. Callbacks
never raise into paho: every handler is isolated, logged with context and counted.

Why a window: paho keeps every unacknowledged QoS 1 publish in memory and silently loses
messages past 65,535 of them. The drainer therefore never has more than
``window_events`` events sent and not acknowledged by the coordinator's application-level
:class:`~shared.protocol.Ack`, however long the backlog.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device.link.claims import PendingClaims
from device.link.downstream import downstream_types, read_downstream
from device.link.errors import DownstreamRefused, LinkError
from device.link.heartbeat import KioskHealth, build_heartbeat
from device.link.settings import LinkSettings
from device.link.state import COUNTERS, LinkState
from device.link.window import SendWindow
from device.ports import ApplyOutcome, Clock, OutboxPort, SystemClock
from shared import SOFTWARE_VERSION, topics
from shared import protocol as p
from shared.backoff import Backoff
from shared.decide import ClaimOutcome
from shared.errors import PayloadTooLarge, TapfleetError
from shared.events import Event
from shared.hlc import HLC, ZERO, merge, tick
from shared.topics import Channel

log = logging.getLogger(__name__)
_paho_log = logging.getLogger("device.link.paho")

_QUEUED_OK = (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN)
"""For QoS 1, NO_CONN means paho queued the message and sends it after reconnecting."""

_PAHO_QUEUE_LIMIT = 1000
"""Hard cap on paho's own QoS 1 queue; the window keeps us far below it."""


class LinkLedger(OutboxPort, Protocol):
    """The ledger as the link sees it: the outbox port plus the online flag."""

    def set_online(self, online: bool) -> None:
        """Tell the ledger whether the coordinator is reachable (offline limits apply if not)."""
        ...


class KioskLink:
    """MQTT link of one kiosk. Create, :meth:`start`, and :meth:`stop` at shutdown.

    Nothing connects before :meth:`start`. Offline the kiosk keeps working: the link retries
    forever with jittered exponential backoff and drains the backlog when the broker is back.
    """

    def __init__(
        self,
        settings: LinkSettings,
        ledger: LinkLedger,
        *,
        health: Callable[[], KioskHealth] | None = None,
        disk_path: Path | None = None,
        clock: Clock | None = None,
        on_state_change: Callable[[LinkState], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        """Wire the link; ``disk_path`` is the ledger's directory (for free-space reports)."""
        self._settings = settings
        self._ledger = ledger
        self.kiosk_id: str = ledger.kiosk_id
        self.store_id: str = ledger.store_id
        self._health = health
        self._disk_path = disk_path
        self._clock: Clock = clock or SystemClock()
        self._on_state_change = on_state_change
        self._backoff = backoff or Backoff(settings.reconnect_min_s, settings.reconnect_max_s)

        self._lock = threading.Lock()
        self._wake_cv = threading.Condition(self._lock)
        self._state_cv = threading.Condition(self._lock)
        self._online_lock = threading.Lock()
        self._wake = False
        self._stopping = False
        self._counters = dict.fromkeys(COUNTERS, 0)
        self._window = SendWindow(0, settings.window_events, settings.resend_after_s)
        self._connected = False
        self._online = False
        self._connected_at: float | None = None
        self._answered = False
        self._coordinator_seen_ms: int | None = None
        self._last_ack_ms: int | None = None
        self._clock_offset_ms: int | None = None
        self._offset_has_rtt = False
        self._connects = 0
        self._sync_wanted = False
        self._next_prune: float | None = None
        self._coordinator_holds = 0
        """Highest seq the coordinator acknowledged since this link started or last saw it
        restored: retention never prunes above it."""
        self._replay_until = 0
        """Highest seq to send again from the journal for a coordinator restored from a
        backup (0: no replay)."""
        self._last_sync_at: float | None = None
        self._next_heartbeat: float | None = None
        self._hlc: HLC = ZERO
        self._started_at: float | None = None
        self._health_failed = False

        self._claims = PendingClaims()
        self._client: mqtt.Client | None = None
        self._drainer: threading.Thread | None = None

        self._handlers: dict[type[p.Message], Callable[[Any], None]] = {
            p.Ack: self._on_ack,
            p.MemberUpdate: self._on_member_update,
            p.RuleBundleMessage: self._on_rule_bundle,
            p.DenyListUpdate: self._on_deny_update,
            p.ClaimResult: self._on_claim_result,
            p.StreamNotice: self._on_stream_notice,
        }
        missing = downstream_types() - set(self._handlers)
        if missing:  # a new downstream type in shared.topics must get a handler here
            names = ", ".join(sorted(kind.__name__ for kind in missing))
            raise LinkError(f"no link handler for downstream message types: {names}")

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the network and drainer threads; returns at once (connecting happens later)."""
        if self._client is not None:
            raise LinkError("link already started; create a new KioskLink to start again")
        stats = self._ledger.outbox_stats()
        with self._lock:
            self._window = SendWindow(
                stats.acked_seq, self._settings.window_events, self._settings.resend_after_s
            )
            self._started_at = self._clock.monotonic()
        self._client = self._build_client()
        self._drainer = threading.Thread(
            target=self._drain_forever, name=f"tapfleet-link-{self.kiosk_id}", daemon=True
        )
        self._drainer.start()
        self._client.connect_async(
            self._settings.host,
            self._settings.port,
            keepalive=self._settings.keepalive_s,
            clean_start=False,
            properties=self._connect_properties(),
        )
        self._client.loop_start()
        log.info(
            "kiosk %s: link started towards %s:%d (acked seq %d, last seq %d)",
            self.kiosk_id,
            self._settings.host,
            self._settings.port,
            stats.acked_seq,
            stats.last_seq,
        )

    def stop(self, timeout_s: float = 5.0) -> None:
        """Say ``offline`` (retained), disconnect and stop both threads. Idempotent."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            self._wake = True
            self._wake_cv.notify_all()
            connected = self._connected
        if self._drainer is not None:
            self._drainer.join(timeout_s)
        client = self._client
        if client is not None:
            if connected:
                info = self._publish(Channel.STATUS, self._status("offline"), retain=True)
                if info is not None:
                    try:
                        info.wait_for_publish(timeout_s)
                    except (RuntimeError, ValueError) as exc:
                        log.info("kiosk %s: offline status not confirmed: %s", self.kiosk_id, exc)
            client.disconnect()
            client.loop_stop()
        with self._lock:
            self._connected = False
        self._update_online()
        self._claims.abandon_all()
        self._state_changed()
        log.info("kiosk %s: link stopped", self.kiosk_id)

    def __enter__(self) -> KioskLink:
        """Start the link (``with KioskLink(...) as link:``)."""
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the link."""
        self.stop()

    # --- public API --------------------------------------------------------------------------

    def notify_new_events(self) -> None:
        """Wake the drainer: the ledger just committed new events (call after every tap)."""
        with self._lock:
            self._wake = True
            self._wake_cv.notify()

    def request_sync(self) -> None:
        """Ask the coordinator for a catch-up soon (rate-limited to one per sync_min_interval_s)."""
        with self._lock:
            if self._sync_wanted:
                self._counters["syncs_suppressed"] += 1
            self._sync_wanted = True
            self._wake = True
            self._wake_cv.notify()

    def claim(
        self,
        member_id: str,
        coupon_id: str,
        event_id: str | None = None,
        timeout_s: float = 3.0,
    ) -> ClaimOutcome | None:
        """Ask the coordinator to reserve a coupon; None when offline or no answer in time.

        Blocks the caller up to ``timeout_s``. Raises pydantic's ValidationError (a
        ValueError) when an id is not a valid identifier.
        """
        claim_id = uuid.uuid4().hex
        message = p.CouponClaim(
            kiosk_id=self.kiosk_id,
            claim_id=claim_id,
            member_id=member_id,
            coupon_id=coupon_id,
            event_id=event_id,
        )
        with self._lock:
            if not self._connected or self._stopping:
                return None
        self._claims.open(claim_id, coupon_id)
        if self._publish(Channel.CLAIM, message) is None:
            self._claims.wait(claim_id, 0)
            return None
        self._count("claims_sent")
        outcome = self._claims.wait(claim_id, timeout_s)
        if outcome is None:
            self._count("claims_timed_out")
            log.info(
                "kiosk %s: claim %s for coupon %s timed out", self.kiosk_id, claim_id, coupon_id
            )
        return outcome

    def state(self) -> LinkState:
        """A consistent snapshot of the link's state and counters."""
        with self._lock:
            return self._snapshot()

    def wait_for(
        self, predicate: Callable[[LinkState], bool], timeout_s: float
    ) -> LinkState | None:
        """Block until ``predicate(state)`` holds (the state it held on) or None on timeout."""
        deadline = time.monotonic() + timeout_s  # real time even with an injected clock
        with self._lock:
            while True:
                snapshot = self._snapshot()
                if predicate(snapshot):
                    return snapshot
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._state_cv.wait(min(remaining, 0.5))

    # --- paho wiring -----------------------------------------------------------------------

    def _build_client(self) -> mqtt.Client:
        s = self._settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.kiosk_id,
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=True,
        )
        client.on_log = self._on_paho_log
        # Belt and braces: our callbacks catch everything, but a bug there must not end
        # paho's network thread.
        client.suppress_exceptions = True
        client.max_queued_messages_set(_PAHO_QUEUE_LIMIT)
        if s.username is not None:
            password = s.password.get_secret_value() if s.password is not None else None
            client.username_pw_set(s.username, password)
        if s.ca_file is not None:
            try:
                client.tls_set(
                    ca_certs=str(s.ca_file),
                    certfile=str(s.cert_file) if s.cert_file else None,
                    keyfile=str(s.key_file) if s.key_file else None,
                )
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                raise LinkError(
                    f"cannot load the TLS files (ca_file={s.ca_file}, cert_file={s.cert_file}, "
                    f"key_file={s.key_file}): {exc}; fix the paths or reprovision the kiosk"
                ) from exc
        client.will_set(
            topics.kiosk_topic(self.kiosk_id, Channel.STATUS),
            p.encode(self._status("offline", stamped=False)),
            qos=topics.QOS[Channel.STATUS],
            retain=True,
        )
        # paho annotates whole seconds; its wait loop handles fractions fine.
        client.reconnect_delay_set(s.reconnect_min_s, s.reconnect_min_s)  # type: ignore[arg-type]
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_paho_log(self, client: mqtt.Client, userdata: object, level: int, buf: str) -> None:
        # paho reports connection trouble (socket gone, broker away) as errors; the link
        # handles those itself and logs them with context, so they are warnings here.
        _paho_log.log(
            logging.WARNING if level == mqtt.MQTT_LOG_ERR else logging.DEBUG,
            "kiosk %s: paho: %s",
            self.kiosk_id,
            buf,
        )

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._settings.session_expiry_s
        return props

    def _schedule_reconnect(self, client: mqtt.Client) -> float:
        # paho's own backoff has no jitter; we feed it one jittered delay at a time.
        delay = self._backoff.next_delay()
        client.reconnect_delay_set(delay, delay)  # type: ignore[arg-type]
        return delay

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: Any,
        properties: Properties | None,
    ) -> None:
        try:
            if reason_code.is_failure:
                self._count("connect_failures")
                log.warning(
                    "kiosk %s: broker %s:%d refused the connection: %s; check the kiosk's MQTT "
                    "username/password and the broker ACL",
                    self.kiosk_id,
                    self._settings.host,
                    self._settings.port,
                    reason_code,
                )
                return
            self._backoff.reset()
            now = self._clock.monotonic()
            with self._lock:
                self._connected = True
                self._connected_at = now
                self._answered = False
                self._connects += 1
                self._window.rewind(self._window.acked)
                self._next_heartbeat = now
                self._last_sync_at = now
                self._sync_wanted = False
                self._wake = True
                self._wake_cv.notify()
            log.info(
                "kiosk %s: connected to %s:%d (session present: %s)",
                self.kiosk_id,
                self._settings.host,
                self._settings.port,
                flags.session_present,
            )
            # Queued in this order on one connection: birth, subscriptions, then the sync
            # request, so the coordinator's answer finds the subscriptions in place.
            self._publish(Channel.STATUS, self._status("online"), retain=True)
            client.subscribe(topics.kiosk_subscriptions(self.kiosk_id, self.store_id))
            self._send_sync()
            self._state_changed()
        except Exception:
            self._count("handler_errors")
            log.exception("kiosk %s: on_connect failed", self.kiosk_id)

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        try:
            self._count("connect_failures")
            delay = self._schedule_reconnect(client)
            level = logging.WARNING if self._backoff.failures == 1 else logging.INFO
            log.log(
                level,
                "kiosk %s: cannot reach broker %s:%d; retrying in %.1f s (attempt %d)",
                self.kiosk_id,
                self._settings.host,
                self._settings.port,
                delay,
                self._backoff.failures,
            )
        except Exception:
            self._count("handler_errors")
            log.exception("kiosk %s: on_connect_fail failed", self.kiosk_id)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: Any,
        properties: Properties | None,
    ) -> None:
        try:
            with self._lock:
                was_connected = self._connected
                self._connected = False
                self._answered = False
                stopping = self._stopping
            self._update_online()
            if not stopping:
                delay = self._schedule_reconnect(client)
                if was_connected:
                    log.warning(
                        "kiosk %s: lost the broker (%s); working offline, retrying in %.1f s",
                        self.kiosk_id,
                        reason_code,
                        delay,
                    )
            self._state_changed()
        except Exception:
            self._count("handler_errors")
            log.exception("kiosk %s: on_disconnect failed", self.kiosk_id)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            self._count("messages_received")
            try:
                _channel, decoded = read_downstream(
                    message.topic, bytes(message.payload), self.kiosk_id, self.store_id
                )
            except DownstreamRefused as exc:
                self._count(exc.counter)
                log.warning(
                    "kiosk %s: refused downstream message on %r: %s",
                    self.kiosk_id,
                    message.topic[:120],
                    exc,
                )
                return
            self._dispatch(decoded, message.topic)
            # Only after the handler: an Ack must reach the send window before going online
            # wakes the drainer. A retained message proves the broker, not the coordinator.
            if not message.retain:
                self._heard_from_coordinator()
        except Exception:
            self._count("handler_errors")
            log.exception("kiosk %s: on_message failed", self.kiosk_id)

    def _dispatch(self, decoded: p.Message, topic: str) -> None:
        """Run the handler for one decoded message; count and log whatever it raises."""
        handler = self._handlers[type(decoded)]
        try:
            handler(decoded)
        except TapfleetError as exc:  # refused on purpose (bad content, disk full, ...)
            self._count("ledger_refusals")
            catch_up = not isinstance(decoded, p.Ack | p.ClaimResult)
            log.warning(
                "kiosk %s: %s from %r not applied: %s%s",
                self.kiosk_id,
                type(decoded).__name__,
                topic[:120],
                exc,
                "; asking the coordinator for a sync" if catch_up else "",
            )
            if catch_up:
                self.request_sync()
        except Exception:
            self._count("handler_errors")
            log.exception(
                "kiosk %s: handling %s from %r failed; message skipped",
                self.kiosk_id,
                type(decoded).__name__,
                topic[:120],
            )

    # --- downstream handlers -----------------------------------------------------------------

    def _on_ack(self, ack: p.Ack) -> None:
        self._ledger.mark_acked(ack.acked_seq)
        self._ledger.observe_hlc(HLC(ack.hlc_ms, ack.hlc_c))
        now = self._clock.monotonic()
        wall = self._clock.wall_ms()
        replay_from: int | None = None
        with self._lock:
            if ack.resend_from is not None and ack.resend_from <= self._window.acked:
                # The coordinator asks for events it acknowledged before: it was restored
                # from a backup. Send them again from the journal, acknowledged or not.
                replay_from = ack.acked_seq + 1
                self._replay_until = max(self._replay_until, self._window.acked)
                self._window.restart_from(ack.acked_seq)
                self._counters["replays"] += 1
                self._coordinator_holds = ack.acked_seq
            else:
                self._coordinator_holds = max(self._coordinator_holds, ack.acked_seq)
                if self._replay_until and ack.acked_seq >= self._replay_until:
                    self._replay_until = 0  # the replay is done: retention may prune again
            rtt = self._window.acked_to(ack.acked_seq, now)
            if ack.resend_from is not None:
                self._window.rewind(ack.resend_from - 1)
                self._counters["resend_requests"] += 1
            self._counters["acks"] += 1
            self._last_ack_ms = wall
            self._hlc = merge(self._hlc, HLC(ack.hlc_ms, ack.hlc_c), wall)
            if rtt is not None:
                self._clock_offset_ms = round(wall - ack.coordinator_wall_ms - rtt * 500)
                self._offset_has_rtt = True
            elif not self._offset_has_rtt:
                self._clock_offset_ms = wall - ack.coordinator_wall_ms
            self._wake = True
            self._wake_cv.notify()
        if replay_from is not None:
            log.warning(
                "kiosk %s: the coordinator holds only up to seq %d; replaying the journal from "
                "seq %d (acknowledged rows included)",
                self.kiosk_id,
                ack.acked_seq,
                replay_from,
            )
        elif ack.resend_from is not None:
            log.info(
                "kiosk %s: coordinator asks to resend from seq %d", self.kiosk_id, ack.resend_from
            )
        self._state_changed()

    def _on_stream_notice(self, notice: p.StreamNotice) -> None:
        """The coordinator's word on this ledger's stream: refused, handed an epoch, or ok
        (then check that its event at ``applied_seq`` is ours before draining)."""
        if notice.state == "assign" and notice.start_seq is not None:
            if self._ledger.adopt_epoch(notice.epoch, notice.start_seq, notice.ledger_id):
                with self._lock:
                    self._window = SendWindow(
                        notice.start_seq - 1,
                        self._settings.window_events,
                        self._settings.resend_after_s,
                    )
                self._send_sync()
            self._state_changed()
            return
        if notice.restore_epoch:
            self._ledger.set_restore_epoch(notice.restore_epoch)
        if notice.backup_verified_ms is not None:
            self._ledger.set_backup_verified(notice.backup_verified_ms)
        if notice.state == "resync":
            self.request_sync()
            return
        if notice.state == "backup":
            return
        if notice.state == "refused":
            self._ledger.refuse_stream(notice.reason or "refused", notice.detail)
            self._state_changed()
            return
        if self._ledger.check_applied(notice.applied_seq, notice.applied_event_id):
            self._ledger.refuse_stream(None)
        self._state_changed()

    def _on_member_update(self, message: p.MemberUpdate) -> None:
        if message.hlc_ms:
            self._observe(HLC(message.hlc_ms, message.hlc_c))
        self._after_apply(message, self._ledger.apply_member_update(message))

    def _on_rule_bundle(self, message: p.RuleBundleMessage) -> None:
        self._after_apply(message, self._ledger.apply_rule_bundle(message))

    def _on_deny_update(self, message: p.DenyListUpdate) -> None:
        self._after_apply(message, self._ledger.apply_deny_update(message))

    def _on_claim_result(self, result: p.ClaimResult) -> None:
        if self._claims.resolve(result):
            self._count("claims_answered")
        else:
            self._count("claims_late")
            log.info(
                "kiosk %s: claim result %s for coupon %s came after its claim gave up",
                self.kiosk_id,
                result.claim_id,
                result.coupon_id,
            )

    def _after_apply(self, message: p.Message, outcome: ApplyOutcome) -> None:
        self._count(ApplyOutcome(outcome).value)
        if outcome is ApplyOutcome.NEED_SYNC:
            log.info(
                "kiosk %s: %s does not fit our versions; asking for a sync",
                self.kiosk_id,
                type(message).__name__,
            )
            self.request_sync()
        self._state_changed()

    def _observe(self, remote: HLC) -> None:
        self._ledger.observe_hlc(remote)
        wall = self._clock.wall_ms()
        with self._lock:
            self._hlc = merge(self._hlc, remote, wall)

    def _heard_from_coordinator(self) -> None:
        with self._lock:
            self._coordinator_seen_ms = self._clock.wall_ms()
            first = not self._answered
            self._answered = True
        if first:
            self._update_online()

    # --- drainer -----------------------------------------------------------------------------

    def _drain_forever(self) -> None:
        while True:
            with self._lock:
                if not self._wake and not self._stopping:
                    self._wake_cv.wait(self._next_wake_in(self._clock.monotonic()))
                self._wake = False
                if self._stopping:
                    return
            try:
                self._tick()
            except Exception:
                self._count("handler_errors")
                log.exception("kiosk %s: drainer round failed; retrying", self.kiosk_id)
                with self._lock:
                    self._wake_cv.wait(1.0)

    def _next_wake_in(self, now: float) -> float:
        """Seconds until something is due (caller holds the lock)."""
        waits = [self._settings.idle_poll_s]
        if self._connected:
            if self._next_heartbeat is not None:
                waits.append(self._next_heartbeat - now)
            if not self._online and self._connected_at is not None:
                waits.append(self._connected_at + self._settings.online_grace_s - now)
            if self._sync_wanted and self._last_sync_at is not None:
                waits.append(self._last_sync_at + self._settings.sync_min_interval_s - now)
            resend = self._window.seconds_until_resend(now)
            if resend is not None:
                waits.append(resend)
        return max(0.01, min(waits))

    def _tick(self) -> None:
        now = self._clock.monotonic()
        self._update_online()
        with self._lock:
            if not self._connected:
                return
            if self._window.resend_due(now):
                self._counters["resend_timeouts"] += 1
                log.warning(
                    "kiosk %s: no Ack for %d in-flight events; sending again from seq %d",
                    self.kiosk_id,
                    self._settings.window_events,
                    self._window.acked + 1,
                )
            sync_due = self._sync_wanted and (
                self._last_sync_at is None
                or now - self._last_sync_at >= self._settings.sync_min_interval_s
            )
            if self._ledger.stream_state().refused is not None and not sync_due:
                # Refused until re-provisioned: ask again now and then, so a new epoch (or
                # a coordinator that changed its mind) is heard without a restart.
                sync_due = (
                    self._last_sync_at is None
                    or now - self._last_sync_at >= self._settings.heartbeat_interval_s
                )
            if sync_due:
                self._sync_wanted = False
                self._last_sync_at = now
            heartbeat_due = self._next_heartbeat is not None and now >= self._next_heartbeat
            if heartbeat_due:
                self._next_heartbeat = now + self._settings.heartbeat_interval_s
        if sync_due:
            self._send_sync()
        if heartbeat_due:
            self._send_heartbeat()
        self._drain()
        self._prune_if_due(now)

    def _prune_if_due(self, now: float) -> None:
        """Retention: prune acknowledged rows the coordinator's verified backups hold."""
        with self._lock:
            if self._next_prune is not None and now < self._next_prune:
                return
            self._next_prune = now + self._settings.prune_interval_s
            if self._replay_until or not self._coordinator_holds:
                return  # replaying to a restored coordinator, or not heard from it yet
        try:
            pruned = self._ledger.prune_retained(
                self._settings.journal_keep_after_backup_s * 1000,
                self._settings.journal_min_keep_s * 1000,
                self._coordinator_holds,
            )
        except TapfleetError as exc:  # disk full: pruning waits for the next round
            log.warning("kiosk %s: journal pruning skipped: %s", self.kiosk_id, exc)
            return
        if pruned:
            self._count("journal_pruned", pruned)
            log.info("kiosk %s: pruned %d acknowledged journal rows", self.kiosk_id, pruned)

    def _drain(self) -> None:
        """Publish batches until the window is full or the outbox has nothing more.

        Only while online: after a (re)connect the coordinator's answer to our SyncRequest
        (an Ack) says where it stands, so nothing it already applied is sent again; if it
        stays silent, draining starts after ``online_grace_s`` anyway.
        """
        while True:
            with self._lock:
                if not self._connected or not self._online or self._stopping:
                    return
                if self._ledger.stream_state().refused is not None:
                    return  # the coordinator refuses this ledger's stream: nothing to send
                plan = self._window.plan(self._settings.batch_events)
            if plan is None:
                return
            replaying = plan.after_seq < self._replay_until
            if replaying:
                events = self._ledger.journal_events(plan.after_seq, plan.limit)
                if events and events[0].seq != plan.after_seq + 1:
                    # Pruned already: what the coordinator lost is not here any more.
                    self._count("replay_gaps")
                    log.error(
                        "kiosk %s: cannot replay seq %d..%d for the restored coordinator: the "
                        "journal was pruned; re-provision the kiosk to record them as lost",
                        self.kiosk_id,
                        plan.after_seq + 1,
                        events[0].seq - 1,
                    )
                    with self._lock:
                        self._replay_until = 0
            else:
                events = self._ledger.pending_events(plan.after_seq, plan.limit)
            if not events:
                return
            with self._lock:
                accepted = self._window.sent(plan, events[-1].seq, self._clock.monotonic())
                rewound = self._window.generation != plan.generation
            if not accepted:
                if rewound:
                    continue  # rewound meanwhile: plan again from the new cursor
                log.warning(
                    "kiosk %s: outbox returned seq %d..%d for a read after seq %d; not sent",
                    self.kiosk_id,
                    events[0].seq,
                    events[-1].seq,
                    plan.after_seq,
                )
                return
            for batch in self._encoded_batches(events):
                if self._publish_raw(Channel.EVENTS, batch) is None:
                    with self._lock:
                        self._window.rewind(plan.after_seq)
                    return
                self._count("batches_sent")
            self._count("events_sent", len(events))
            self._state_changed()

    def _encoded_batches(self, events: list[Event]) -> Iterator[bytes]:
        """Encoded EventBatches of these events in order, halved until each fits the cap."""
        try:
            yield p.encode(
                p.EventBatch(
                    kiosk_id=self.kiosk_id,
                    events=tuple(events),
                    epoch=self._ledger.stream_state().epoch,
                )
            )
        except PayloadTooLarge:
            if len(events) == 1:
                raise LinkError(
                    f"event seq {events[0].seq} alone exceeds the payload cap; it cannot be sent"
                ) from None
            half = len(events) // 2
            yield from self._encoded_batches(events[:half])
            yield from self._encoded_batches(events[half:])

    # --- upstream messages -------------------------------------------------------------------

    def _send_sync(self) -> None:
        stats = self._ledger.outbox_stats()
        stream = self._ledger.stream_state()
        message = p.SyncRequest(
            kiosk_id=self.kiosk_id,
            store_id=self.store_id,
            versions=self._ledger.versions(),
            last_seq=stats.last_seq,
            epoch=stream.epoch,
            ledger_id=stream.ledger_id or None,
            restore_epoch=stream.restore_epoch,
            epoch_start_seq=stream.start_seq if stream.epoch else None,
        )
        if self._publish(Channel.SYNC, message) is not None:
            self._count("syncs_sent")

    def _send_heartbeat(self) -> None:
        health = self._read_health()
        wall = self._clock.wall_ms()
        with self._lock:
            self._hlc = tick(self._hlc, wall)
            hlc = self._hlc
            offset = self._clock_offset_ms
            uptime = int(self._clock.monotonic() - (self._started_at or 0.0))
        message = build_heartbeat(
            kiosk_id=self.kiosk_id,
            store_id=self.store_id,
            now_ms=wall,
            hlc=hlc,
            interval_s=self._settings.heartbeat_interval_s,
            uptime_s=uptime,
            stats=self._ledger.outbox_stats(),
            versions=self._ledger.versions(),
            health=health,
            disk_free_bytes=self._disk_free(),
            clock_offset_ms=offset,
        ).model_copy(update={"epoch": self._ledger.stream_state().epoch})
        if self._publish(Channel.HEARTBEAT, message) is not None:
            self._count("heartbeats_sent")

    def _read_health(self) -> KioskHealth:
        if self._health is None:
            return KioskHealth()
        try:
            health = self._health()
        except Exception:
            self._count("handler_errors")
            if not self._health_failed:
                log.exception(
                    "kiosk %s: health callable failed; heartbeat without it", self.kiosk_id
                )
            self._health_failed = True
            return KioskHealth()
        self._health_failed = False
        return health

    def _disk_free(self) -> int | None:
        if self._disk_path is None:
            return None
        try:
            return shutil.disk_usage(self._disk_path).free
        except OSError as exc:
            log.warning(
                "kiosk %s: cannot read free space of %s: %s", self.kiosk_id, self._disk_path, exc
            )
            return None

    def _status(self, state: Literal["online", "offline"], *, stamped: bool = True) -> p.Status:
        return p.Status(
            kiosk_id=self.kiosk_id,
            state=state,
            at_ms=self._clock.wall_ms() if stamped else None,
            software_version=SOFTWARE_VERSION,
        )

    def _publish(
        self, channel: Channel, message: p.Message, *, retain: bool = False
    ) -> mqtt.MQTTMessageInfo | None:
        return self._publish_raw(channel, p.encode(message), retain=retain)

    def _publish_raw(
        self, channel: Channel, payload: bytes, *, retain: bool = False
    ) -> mqtt.MQTTMessageInfo | None:
        """Publish on one of our own topics; None (counted, logged) when paho refused it."""
        client = self._client
        if client is None:
            return None
        qos = topics.QOS[channel]
        info = client.publish(
            topics.kiosk_topic(self.kiosk_id, channel), payload, qos=qos, retain=retain
        )
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or (qos > 0 and info.rc in _QUEUED_OK):
            return info
        self._count("publish_failures")
        log.info(
            "kiosk %s: publish on %s not accepted by paho: %s",
            self.kiosk_id,
            channel.value,
            mqtt.error_string(info.rc),
        )
        return None

    # --- state -------------------------------------------------------------------------------

    def _update_online(self) -> None:
        """Recompute ``online`` and tell the ledger on every change, in order."""
        with self._online_lock:
            with self._lock:
                grace_over = (
                    self._connected_at is not None
                    and self._clock.monotonic() - self._connected_at
                    >= self._settings.online_grace_s
                )
                wanted = self._connected and not self._stopping and (self._answered or grace_over)
                if wanted == self._online:
                    return
                self._online = wanted
                if wanted:  # draining waits for online
                    self._wake = True
                    self._wake_cv.notify()
            try:
                self._ledger.set_online(wanted)
            except Exception:
                self._count("handler_errors")
                log.exception("kiosk %s: ledger.set_online(%s) failed", self.kiosk_id, wanted)
            log.info("kiosk %s: %s", self.kiosk_id, "online" if wanted else "offline")
        self._state_changed()

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counters[name] += n

    def _snapshot(self) -> LinkState:
        """Caller holds the lock."""
        return LinkState(
            connected=self._connected,
            online=self._online,
            coordinator_seen_ms=self._coordinator_seen_ms,
            last_ack_ms=self._last_ack_ms,
            acked_seq=self._window.acked,
            sent_seq=self._window.cursor,
            in_flight=self._window.in_flight,
            clock_offset_ms=self._clock_offset_ms,
            reconnects=max(0, self._connects - 1),
            counters=MappingProxyType(dict(self._counters)),
        )

    def _state_changed(self) -> None:
        with self._lock:
            self._state_cv.notify_all()
            snapshot = self._snapshot() if self._on_state_change is not None else None
        if snapshot is not None and self._on_state_change is not None:
            try:
                self._on_state_change(snapshot)
            except Exception:
                self._count("handler_errors")
                log.exception("kiosk %s: on_state_change listener failed", self.kiosk_id)
