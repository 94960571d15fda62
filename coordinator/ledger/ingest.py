"""MQTT ingest: the handler registry, the worker and the isolation of bad messages.

The subscriptions are built from :attr:`Ingest.handlers` itself, so a channel cannot be
subscribed without a handler or handled without a subscription. The worker takes groups
of messages from the queue, decodes and checks each one (topic, size, JSON, version,
schema, message type for the channel, kiosk id matching the topic, kiosk registered and
not revoked) and refuses bad ones one by one: counted per reason and kiosk, logged with
the kiosk id, acknowledged so they never come back, never stopping the loop. Good
messages are applied in as few transactions as possible; their replies (Acks, sync
catch-up, claim results) are published after the commit, and only then are the messages
PUBACKed to the broker.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.backups import restore_state
from coordinator.clock import Clock, HlcSource
from coordinator.db import TRANSIENT_RETRY_MAX_S, TRANSIENT_RETRY_MIN_S, Database
from coordinator.downstream import member_deltas as member_push
from coordinator.downstream.rule_bundles import bundle_for_store
from coordinator.downstream.snapshots import EncodedUpdate, SnapshotStream
from coordinator.fleet import liveness
from coordinator.ledger import deny_list, streams
from coordinator.ledger import refused_messages as rejects
from coordinator.ledger.coupon_claims import decide_claim
from coordinator.ledger.jsonrows import event_from_row
from coordinator.ledger.refused_messages import Rejection
from coordinator.ledger.sequencer import KioskInfo, Sequencer, StreamReport
from coordinator.metrics import Metrics
from coordinator.mqtt.link import Incoming
from coordinator.settings import CoordinatorSettings
from shared import topics
from shared.backoff import Backoff
from shared.errors import ProtocolError, TopicError
from shared.protocol import (
    MAX_VERSION,
    Ack,
    AnyMessage,
    CouponClaim,
    EventBatch,
    Heartbeat,
    Message,
    RuleBundleMessage,
    Status,
    StreamNotice,
    SyncRequest,
    decode,
)
from shared.topics import Channel

log = logging.getLogger(__name__)

Outgoing = Message | EncodedUpdate | SnapshotStream
"""A reply: a message, an encoded member update, or a snapshot still to be built."""
Send = Callable[[str, Outgoing], None]


@dataclass(frozen=True)
class Decoded:
    """A message that passed every check that needs no database."""

    incoming: Incoming
    channel: Channel
    kiosk_id: str
    message: AnyMessage


@dataclass
class GroupResult:
    """Replies to publish once the group's transactions are committed."""

    outgoing: list[tuple[str, Outgoing]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    stream: StreamReport | None = None


class TransientDbError(Exception):
    """The database is unreachable or busy; the group is retried, nothing is acked."""


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, sa.exc.OperationalError):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        code = getattr(getattr(exc, "orig", None), "sqlstate", None)
        return code in {"40001", "40P01"} or bool(exc.connection_invalidated)
    return False


class Ingest:
    """Receives MQTT messages and applies them to the ledger."""

    def __init__(
        self,
        *,
        settings: CoordinatorSettings,
        db: Database,
        clock: Clock,
        hlc: HlcSource,
        metrics: Metrics,
        events: Sequencer,
        send: Send,
        members_changed: Callable[[], None],
    ):
        self._settings = settings
        self._db = db
        self._clock = clock
        self._hlc = hlc
        self._metrics = metrics
        self._events = events
        self._send = send
        self._members_changed = members_changed
        self._queue: queue.Queue[Incoming | None] = queue.Queue()
        self._ack: Callable[[Incoming], None] = lambda _m: None
        self.handlers: dict[Channel, Callable[[list[Decoded], GroupResult], None]] = {
            Channel.EVENTS: self._on_events,
            Channel.HEARTBEAT: self._on_heartbeats,
            Channel.STATUS: self._on_statuses,
            Channel.SYNC: self._on_syncs,
            Channel.CLAIM: self._on_claims,
        }
        self._kiosks: dict[str, KioskInfo] = {}
        self.processed = 0
        self._idle = threading.Condition()
        self._busy = False

    # -- wiring -----------------------------------------------------------------------------

    def subscriptions(self) -> list[tuple[str, int]]:
        """(filter, qos) for every channel that has a handler."""
        group = self._settings.mqtt_share_group
        return [
            (topics.subscription(channel, group), topics.QOS[channel]) for channel in self.handlers
        ]

    def set_acker(self, ack: Callable[[Incoming], None]) -> None:
        """How to PUBACK a message once processed (the MQTT link's ``ack``)."""
        self._ack = ack

    def submit(self, message: Incoming) -> None:
        """Queue a received message (called on paho's network thread: never blocks)."""
        self._queue.put(message)
        self._metrics.queue_depth.set(self._queue.qsize())

    def interrupt(self) -> None:
        """Wake the worker so it notices a stop request at once."""
        self._queue.put(None)

    def depth(self) -> int:
        """Messages waiting."""
        return self._queue.qsize()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the queue is empty and no group is in progress (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy or not self._queue.empty():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    # -- worker -----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Worker loop: take groups of messages until ``stop`` is set."""
        while not stop.is_set():
            try:
                first = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if first is None:  # interrupt(): look at the stop flag again
                continue
            with self._idle:
                self._busy = True
            group = [first]
            while len(group) < self._settings.ingest_group_max_messages:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is not None:
                    group.append(more)
            self._metrics.queue_depth.set(self._queue.qsize())
            try:
                self.process(group, stop)
            except TransientDbError:
                # Not acked: the broker redelivers after our reconnect. Requeue meanwhile.
                for message in group:
                    self._queue.put(message)
                stop.wait(1.0)
            finally:
                with self._idle:
                    self._busy = False
                    self._idle.notify_all()

    def process(self, group: Sequence[Incoming], stop: threading.Event | None = None) -> None:
        """Check, apply, commit, reply and acknowledge one group of messages."""
        started = time.monotonic()
        result = GroupResult()
        accepted: list[Decoded] = []
        for message in group:
            decoded = self._check(message, result)
            if decoded is not None:
                accepted.append(decoded)
        accepted = self._check_kiosks(accepted, result)

        by_channel: dict[Channel, list[Decoded]] = defaultdict(list)
        for item in accepted:
            by_channel[item.channel].append(item)
            self._metrics.messages.labels(channel=item.channel.value).inc()
        for channel, handler in self.handlers.items():
            items = by_channel.get(channel)
            if items:
                self._guarded(handler, items, result, stop)

        if result.rejections:
            self._write_rejections(result.rejections)
        for topic, reply in result.outgoing:
            self._send(topic, reply)
        for message in group:
            self._ack(message)
        self.processed += len(group)
        self._metrics.group_seconds.observe(time.monotonic() - started)

    def _guarded(
        self,
        handler: Callable[[list[Decoded], GroupResult], None],
        items: list[Decoded],
        result: GroupResult,
        stop: threading.Event | None,
    ) -> None:
        """Run a handler; on failure retry transient errors, then isolate message by message."""
        backoff = Backoff(TRANSIENT_RETRY_MIN_S, TRANSIENT_RETRY_MAX_S)
        for attempt in range(5):
            partial = GroupResult()
            try:
                handler(items, partial)
            except Exception as exc:
                if _is_transient(exc) or isinstance(exc, sa.exc.IntegrityError):
                    # Busy database, a deadlock victim, or a replica that inserted the same
                    # rows first: the retry sees the committed state.
                    log.warning("ingest transaction retried (%s): %s", attempt + 1, exc)
                    if stop is not None and stop.wait(backoff.next_delay()):
                        raise TransientDbError(str(exc)) from exc
                    continue
                if len(items) == 1:
                    item = items[0]
                    log.error(
                        "handler for %s failed on a message from kiosk %s; message dropped",
                        item.channel.value,
                        item.kiosk_id,
                        exc_info=True,
                    )
                    result.rejections.append(
                        Rejection(
                            item.kiosk_id, "handler_error", item.incoming.topic, repr(exc)[:300]
                        )
                    )
                    return
                for item in items:
                    self._guarded(handler, [item], result, stop)
                return
            result.outgoing.extend(partial.outgoing)
            result.rejections.extend(partial.rejections)
            if partial.stream is not None:
                result.stream = partial.stream
            return
        raise TransientDbError("database kept failing; will retry the group")

    # -- checks -----------------------------------------------------------------------------

    def _reject(
        self, result: GroupResult, message: Incoming, kiosk: str | None, reason: str, detail: str
    ) -> None:
        log.warning(
            "rejected message on %s from kiosk %s: %s (%s)",
            message.topic[:120],
            kiosk or "?",
            reason,
            detail[:300],
        )
        result.rejections.append(Rejection(kiosk or rejects.UNKNOWN, reason, message.topic, detail))

    def _check(self, message: Incoming, result: GroupResult) -> Decoded | None:
        try:
            parsed = topics.parse(message.topic)
        except TopicError as exc:
            self._reject(result, message, None, "bad_topic", str(exc))
            return None
        kiosk_id = parsed.kiosk_id
        if parsed.channel not in self.handlers or kiosk_id is None:
            self._reject(result, message, kiosk_id, "unexpected_channel", parsed.channel.value)
            return None
        if message.retain and parsed.channel is not Channel.STATUS:
            self._reject(result, message, kiosk_id, "unexpected_retained", parsed.channel.value)
            return None
        try:
            decoded = decode(message.payload)
        except ProtocolError as exc:
            self._reject(result, message, kiosk_id, exc.code, str(exc))
            return None
        if not topics.allowed(parsed.channel, decoded):
            self._reject(
                result,
                message,
                kiosk_id,
                "wrong_message_type",
                f"{type(decoded).__name__} is not allowed on {parsed.channel.value}",
            )
            return None
        named = getattr(decoded, "kiosk_id", None)
        if named != kiosk_id:
            self._reject(
                result,
                message,
                kiosk_id,
                "kiosk_mismatch",
                f"payload names kiosk {named!r} but arrived on kiosk {kiosk_id!r}'s topic",
            )
            return None
        return Decoded(message, parsed.channel, kiosk_id, decoded)

    def _check_kiosks(self, items: list[Decoded], result: GroupResult) -> list[Decoded]:
        if not items:
            return []
        ids = sorted({i.kiosk_id for i in items})
        k = schema.kiosks
        with self._db.read() as conn:
            found = {
                r.kiosk_id: KioskInfo(r.kiosk_id, r.store_id, bool(r.revoked))
                for r in conn.execute(
                    sa.select(k.c.kiosk_id, k.c.store_id, k.c.revoked).where(k.c.kiosk_id.in_(ids))
                )
            }
        kept: list[Decoded] = []
        for item in items:
            info = found.get(item.kiosk_id)
            if info is None:
                self._reject(
                    result,
                    item.incoming,
                    None,
                    "unknown_kiosk",
                    f"kiosk {item.kiosk_id!r} is not registered",
                )
                continue
            if info.revoked:
                self._reject(
                    result, item.incoming, item.kiosk_id, "kiosk_revoked", "kiosk is revoked"
                )
                continue
            store = getattr(item.message, "store_id", None)
            if store is not None and store != info.store_id:
                self._reject(
                    result,
                    item.incoming,
                    item.kiosk_id,
                    "wrong_store",
                    f"message names store {store!r}, kiosk is registered in {info.store_id!r}",
                )
                continue
            kept.append(item)
        self._kiosks = found
        return kept

    def _write_rejections(self, rejections: list[Rejection]) -> None:
        # Count under the kiosk only when it is registered: a topic can name any id, and
        # strangers must not create counter rows or metric labels at will.
        named = sorted({r.kiosk_key for r in rejections} - {rejects.UNKNOWN})
        k = schema.kiosks
        try:
            with self._db.read() as conn:
                known = set(
                    conn.execute(sa.select(k.c.kiosk_id).where(k.c.kiosk_id.in_(named))).scalars()
                )
        except sa.exc.SQLAlchemyError:
            known = set()
        rejections = [
            r
            if r.kiosk_key in known or r.kiosk_key == rejects.UNKNOWN
            else Rejection(rejects.UNKNOWN, r.reason, r.topic, f"kiosk {r.kiosk_key!r}: {r.detail}")
            for r in rejections
        ]
        try:
            with self._db.write() as conn:
                rejects.record(conn, rejections, self._clock.wall_ms())
        except sa.exc.SQLAlchemyError as exc:
            log.warning("could not store %d rejection counter(s): %s", len(rejections), exc)
        rejects.count_metrics(self._metrics, rejections)

    # -- handlers ---------------------------------------------------------------------------

    def _on_events(self, items: list[Decoded], result: GroupResult) -> None:
        batches: list[tuple[EventBatch, int]] = []
        for item in items:
            assert isinstance(item.message, EventBatch)
            batches.append((item.message, item.incoming.received_ms))
        now = self._clock.wall_ms()
        with self._db.write() as conn:
            report = self._events.apply(conn, batches, self._kiosks, now)
            for kiosk_id, reason, detail in report.rejects:
                result.rejections.append(
                    Rejection(
                        kiosk_id, reason, topics.kiosk_topic(kiosk_id, Channel.EVENTS), detail
                    )
                )
        result.stream = report
        for kiosk_id, (epoch, applied, why) in sorted(report.refused.items()):
            verdict = streams.Verdict("refused", epoch, applied, "epoch_mismatch", why[:200])
            result.outgoing.append(
                (
                    topics.kiosk_topic(kiosk_id, Channel.DIRECT),
                    self._stream_notice(kiosk_id, verdict, None),
                )
            )
        for kiosk_id, (acked, resend_from) in sorted(report.acks.items()):
            result.outgoing.append(
                (
                    topics.kiosk_topic(kiosk_id, Channel.ACK),
                    self._ack_message(kiosk_id, acked, resend_from),
                )
            )
        self._metrics.events_applied.inc(report.applied)
        self._metrics.events_duplicate.inc(report.duplicates)
        self._metrics.events_held.inc(report.held)
        self._metrics.members_recomputed.inc(report.recomputed_members)
        self._metrics.conflicts.inc(len(report.conflicts))
        if report.members_changed:
            self._members_changed()

    def _ack_message(self, kiosk_id: str, acked: int, resend_from: int | None) -> Ack:
        stamp = self._hlc.now()
        return Ack(
            kiosk_id=kiosk_id,
            acked_seq=acked,
            resend_from=resend_from,
            hlc_ms=stamp.wall_ms,
            hlc_c=stamp.counter,
            coordinator_wall_ms=self._clock.wall_ms(),
        )

    def _on_heartbeats(self, items: list[Decoded], result: GroupResult) -> None:
        # Kiosk rows in id order (stable: a kiosk's beats keep their order), as the sequencer
        # takes them: two replicas writing the same kiosks never lock them crosswise.
        beats: list[tuple[Heartbeat, int]] = []
        for item in sorted(items, key=lambda i: i.kiosk_id):
            assert isinstance(item.message, Heartbeat)
            beats.append((item.message, item.incoming.received_ms))
        with self._db.write() as conn:
            liveness.record_heartbeats(conn, beats)
            streams.observe_heartbeats(
                conn, [(b.kiosk_id, b.epoch, b.last_seq, at) for b, at in beats]
            )

    def _stream_notice(
        self, kiosk_id: str, verdict: streams.Verdict, at_id: str | None
    ) -> StreamNotice:
        return StreamNotice(
            kiosk_id=kiosk_id,
            state=verdict.state,
            epoch=verdict.epoch,
            applied_seq=verdict.applied_seq,
            applied_event_id=at_id if verdict.state == "ok" else None,
            start_seq=verdict.start_seq,
            reason=verdict.reason,
            detail=verdict.detail,
        )

    def _on_statuses(self, items: list[Decoded], result: GroupResult) -> None:
        with self._db.write() as conn:
            for item in sorted(items, key=lambda i: i.kiosk_id):  # id order, as above
                assert isinstance(item.message, Status)
                liveness.record_status(conn, item.message, item.incoming.received_ms)

    def _on_claims(self, items: list[Decoded], result: GroupResult) -> None:
        ttl_ms = self._settings.claim_ttl_s * 1000
        for item in items:
            claim = item.message
            assert isinstance(claim, CouponClaim)
            store_id = self._kiosks[item.kiosk_id].store_id
            with self._db.write() as conn:
                answer = decide_claim(conn, claim, store_id, self._clock.wall_ms(), ttl_ms)
            result.outgoing.append((topics.kiosk_topic(item.kiosk_id, Channel.DIRECT), answer))

    def _on_syncs(self, items: list[Decoded], result: GroupResult) -> None:
        for item in items:
            request = item.message
            assert isinstance(request, SyncRequest)
            at_limit = [
                name
                for name, version in request.versions.model_dump().items()
                if version >= MAX_VERSION
            ]
            if at_limit:
                # No version can follow the wire's largest: a corrupt or forged report.
                # Answering it would mean moving our counters past what the wire carries.
                self._reject(
                    result,
                    item.incoming,
                    item.kiosk_id,
                    "version_out_of_range",
                    f"{', '.join(at_limit)} version at the protocol's limit {MAX_VERSION}",
                )
                continue
            result.outgoing.extend(self.sync_replies(request, item.incoming.received_ms))

    def sync_replies(self, request: SyncRequest, received_ms: int) -> list[tuple[str, Outgoing]]:
        """Everything a connecting kiosk needs, for its DIRECT topic (and an Ack).

        A full member snapshot is left to be built after the commit, chunk by chunk as it
        is sent (:class:`SnapshotStream`), in a consistent read of its own."""
        direct = topics.kiosk_topic(request.kiosk_id, Channel.DIRECT)
        out: list[tuple[str, Outgoing]] = []
        with self._db.write() as conn:
            liveness.record_sync(conn, request, received_ms)
            verdict = streams.judge_sync(
                conn,
                request.kiosk_id,
                epoch=request.epoch,
                ledger_id=request.ledger_id,
                last_seq=request.last_seq,
                fresh=request.last_seq == 0,
                now_ms=self._clock.wall_ms(),
                start_seq=request.epoch_start_seq,
                restored=restore_state(conn)[0] > 0,
            )
            if verdict.state != "ok":
                # A refused ledger gets nothing to serve members with, an assigned one
                # adopts its epoch and syncs again: either way only the notice.
                notice = self._stream_notice(request.kiosk_id, verdict, None)
                if verdict.state == "assign":
                    notice = notice.model_copy(update={"ledger_id": request.ledger_id})
                return [(direct, notice)]
            bundle = bundle_for_store(conn, request.store_id)
            if bundle is not None and bundle.version > request.versions.rules:
                # Only this store's staff hashes (a chain-wide bundle holds every store's).
                out.append((direct, RuleBundleMessage(bundle=bundle.for_store(request.store_id))))
            deny = deny_list.catch_up(conn, request.versions.deny)
            if deny is not None:
                out.append((direct, deny))
            hlc = self._hlc.now()
            updates = member_push.catch_up_plan(
                conn,
                request.store_id,
                request.versions.members,
                max_delta_members=self._settings.catchup_delta_max_members,
                hlc=hlc,
            )
            if updates is None:
                out.append((direct, SnapshotStream(request.store_id, hlc)))
            else:
                out.extend((direct, update) for update in updates)
            applied = _applied_seq(conn, request.kiosk_id)
            if request.epoch is not None:
                # Before the Ack: the kiosk checks its own event at applied_seq first.
                restore_epoch, _, backup_ms = restore_state(conn)
                notice = self._stream_notice(
                    request.kiosk_id, verdict, _event_id_at(conn, request.kiosk_id, applied)
                ).model_copy(
                    update={"restore_epoch": restore_epoch, "backup_verified_ms": backup_ms}
                )
                out.append((direct, notice))
        resend = applied + 1 if request.last_seq > applied else None
        out.append(
            (
                topics.kiosk_topic(request.kiosk_id, Channel.ACK),
                self._ack_message(request.kiosk_id, applied, resend),
            )
        )
        log.info(
            "kiosk %s synced: rules %s, deny %s, members %s; applied seq %d of %d",
            request.kiosk_id,
            "new" if any(isinstance(m, RuleBundleMessage) for _, m in out) else "current",
            "sent" if deny is not None else "current",
            "full snapshot (streamed)" if updates is None else f"{len(updates)} message(s)",
            applied,
            request.last_seq,
        )
        return out


def _event_id_at(conn: Connection, kiosk_id: str, seq: int) -> str | None:
    """The id of the kiosk's event at ``seq`` as the kiosk sent it (None: none there)."""
    if seq <= 0:
        return None
    ev = schema.events
    row = conn.execute(
        sa.select(ev.c.event_id, ev.c.body).where(ev.c.source == kiosk_id, ev.c.seq == seq)
    ).first()
    if row is None:
        return None
    return event_from_row(row.body).event_id


def _applied_seq(conn: Connection, kiosk_id: str) -> int:
    k = schema.kiosks
    return int(
        conn.execute(sa.select(k.c.applied_seq).where(k.c.kiosk_id == kiosk_id)).scalar_one()
    )
