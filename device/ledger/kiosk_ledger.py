"""The kiosk's durable ledger: decide with ``shared.decide``, commit, then answer.

Every request runs in one ``BEGIN IMMEDIATE`` transaction: read the kiosk row, the member's
cached record and this kiosk's events not yet folded into it, decide with the pure functions
of :mod:`shared.decide`, append the resulting events (accepted bodies, or the refusal) with
consecutive seqs, and commit with ``synchronous=FULL`` before the result is returned. A full
disk rolls the whole request back and answers ``STORAGE_FULL``; nothing is half-written.

The journal doubles as the outbox the MQTT link drains (:class:`device.ports.OutboxPort`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError

from device.ledger import class_seats, downstream, journal, members, stations, stream
from device.ledger.database import is_corruption, is_disk_full, open_database, write_transaction
from device.ledger.errors import LedgerClosed, LedgerCorrupt, LedgerStorageFull
from device.ledger.journal import KioskState
from device.ledger.outcomes import (
    ClassRoster,
    MemberSummary,
    QrClaims,
    RecentEvent,
    RosterEntry,
    StationTapOutcome,
    SyncStatus,
    TapOutcome,
)
from device.ledger.schema import current_version
from device.ledger.stream import StreamState
from device.ledger.trusted_time import TimeSource, TrustedTime
from device.ports import ApplyOutcome, Clock, OutboxPort, OutboxStats
from shared.decide import (
    Accepted,
    ClaimOutcome,
    Decision,
    KioskContext,
    MemberView,
    Refused,
    decide_coupon_redeem,
    decide_points_redeem,
    decide_reversal,
    decide_stored_value_spend,
    decide_tap_folded,
    local_day,
    refuse,
)
from shared.events import (
    REVERSIBLE_KINDS,
    CredentialKind,
    CredentialRef,
    Event,
    EventBody,
    StationRef,
    points_spent,
    session_delta,
)
from shared.fold import fold
from shared.hlc import HLC, merge, tick
from shared.model import DeviceKey, MemberLedger, MemberRecord, RuleBundle
from shared.protocol import DenyListUpdate, MemberUpdate, RuleBundleMessage, Versions
from shared.reasons import RejectReason

log = logging.getLogger(__name__)

T = TypeVar("T")
DAY_MS = 86_400_000


@dataclass
class _Tx:
    """What one decision transaction knows."""

    conn: sqlite3.Connection
    state: KioskState
    hlc: HLC
    """Timestamp of the decision (and of its first event)."""
    wall_ms: int
    bundle: RuleBundle | None
    ctx: KioskContext

    @property
    def now_ms(self) -> int:
        return self.hlc.wall_ms


@dataclass
class _Plan:
    """A decision and what to record with it."""

    decision: Decision
    credential: CredentialRef | None = None
    view: MemberView | None = None
    ledger_after: MemberLedger | None = None
    """The member's ledger with the decision's events folded in, when the decision computed
    it (see :func:`shared.decide.decide_tap_folded`); otherwise the summary folds the view."""
    station: StationRef | None = None
    """The door station the tap came through (recorded on the events)."""


class KioskLedger:
    """The kiosk's SQLite ledger and outbox. Thread-safe: one connection, one lock.

    Open it with :meth:`open`; nothing touches the disk before that.
    """

    def __init__(
        self, conn: sqlite3.Connection, path: Path, kiosk_id: str, store_id: str, clock: Clock
    ) -> None:
        """Use :meth:`open`."""
        self.kiosk_id = kiosk_id
        self.store_id = store_id
        self.path = path
        self._conn: sqlite3.Connection | None = conn
        self._clock = clock
        self._lock = threading.RLock()
        state = journal.read_state(conn)
        self._observed = state.hlc
        self._time = TrustedTime(clock, state.hlc.wall_ms)
        self._bundle = self._load_bundle(conn)
        self._stream = stream.read(conn)
        self._online = False
        self._offline_since_ms: int | None = (
            state.offline_since_ms or state.last_online_ms or self._now_ms(state.hlc)
        )

    # --- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, kiosk_id: str, store_id: str, clock: Clock) -> KioskLedger:
        """Open (or create) the ledger file for this kiosk.

        Raises :class:`LedgerCorrupt` for a damaged or foreign file (left untouched),
        :class:`LedgerSchemaTooNew` for a file from newer software and
        :class:`LedgerIdentityMismatch` for another kiosk's file.
        """
        path = Path(path)
        conn = open_database(path, kiosk_id, store_id, clock.wall_ms())
        return cls(conn, path, kiosk_id, store_id, clock)

    def close(self) -> None:
        """Close the database (idempotent). Committed data is already on disk."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> KioskLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ---------------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise LedgerClosed(f"the kiosk ledger {self.path} is closed; open it again")
        return self._conn

    def _now_ms(self, floor: HLC | None = None) -> int:
        """Trusted time, never earlier than the last timestamp issued or heard."""
        return max(self._time.now_ms(), (floor or self._observed).wall_ms)

    @staticmethod
    def _load_bundle(conn: sqlite3.Connection) -> RuleBundle | None:
        row = conn.execute("SELECT bundle FROM rule_bundle WHERE id = 1").fetchone()
        return RuleBundle.model_validate_json(row[0]) if row else None

    @contextmanager
    def _write(self, what: str) -> Iterator[tuple[sqlite3.Connection, KioskState]]:
        """One write transaction with the kiosk row; maps disk-full and corruption errors."""
        conn = self._db()
        try:
            with write_transaction(conn):
                state = journal.read_state(conn)
                state.hlc = max(state.hlc, self._observed)
                yield conn, state
                journal.write_state(conn, state)
        except sqlite3.DatabaseError as exc:
            if is_disk_full(exc):
                raise LedgerStorageFull(what) from exc
            if is_corruption(exc):
                raise LedgerCorrupt(str(self.path), f"SQLite: {exc}") from exc
            raise
        self._observed = max(self._observed, state.hlc)

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            conn = self._db()
            try:
                return fn(conn)
            except sqlite3.DatabaseError as exc:
                if is_corruption(exc):
                    raise LedgerCorrupt(str(self.path), f"SQLite: {exc}") from exc
                raise

    def _context(self, state: KioskState, now_ms: int) -> KioskContext:
        return KioskContext(
            kiosk_id=self.kiosk_id,
            store_id=self.store_id,
            now_ms=now_ms,
            online=self._online,
            offline_since_ms=None if self._online else self._offline_since_ms,
            kiosk_unconfirmed_sessions=max(0, state.unconfirmed_sessions),
            kiosk_unconfirmed_points=max(0, state.unconfirmed_points),
        )

    def _view(self, tx: _Tx, member_id: str) -> MemberView | None:
        """Snapshot record + this kiosk's events not yet folded into it."""
        found = members.record(tx.conn, member_id)
        if found is None:
            return None
        record, included = found
        pending = journal.pending_for_member(tx.conn, member_id, included)
        sessions = points = 0
        if tx.bundle is not None and pending:
            tz = tx.bundle.rules.timezone
            today = local_day(tx.now_ms, tz)
            for event in pending:
                if event.offline and local_day(event.hlc_ms, tz) == today:
                    sessions += session_delta(event)[1]
                    points += points_spent(event)
        return MemberView(
            record=record,
            pending=tuple(pending),
            offline_sessions_today=max(0, sessions),
            offline_points_today=max(0, points),
        )

    def _not_ready(self, tx: _Tx) -> bool:
        return tx.bundle is None or tx.state.members_version == 0

    def _decide(self, what: str, plan_for: Callable[[_Tx], _Plan]) -> TapOutcome:
        """Run one decision in one transaction; STORAGE_FULL if the disk is full.

        While the coordinator refuses this ledger's stream nothing is recorded: a fact
        recorded now could never reach the ledger of record."""
        if self._stream.refused is not None:
            return TapOutcome(refuse(RejectReason.STREAM_REFUSED), (), None)
        with self._lock:
            try:
                with self._write(what) as (conn, state):
                    wall = self._clock.wall_ms()  # evidence only: see trusted_time
                    hlc = tick(state.hlc, self._time.now_ms())
                    ctx = self._context(state, hlc.wall_ms)
                    if self._bundle is not None:
                        seats = class_seats.seat_counts(
                            conn, self._bundle, self.store_id, hlc.wall_ms
                        )
                        ctx = ctx.model_copy(update={"class_seats": seats})
                    tx = _Tx(conn, state, hlc, wall, self._bundle, ctx)
                    plan = plan_for(tx)
                    decision = plan.decision
                    bodies: tuple[EventBody, ...] = ()
                    if isinstance(decision, Accepted):
                        bodies = decision.bodies
                    elif isinstance(decision, Refused):
                        bodies = (decision.body,)
                    events: list[Event] = []
                    if bodies:
                        events = journal.append(
                            conn,
                            state,
                            bodies,
                            first_hlc=hlc,
                            wall_ms=wall,
                            member_id=decision.member_id,
                            credential=plan.credential,
                            offline=not self._online,
                            rules_version=state.rules_version,
                            station=plan.station,
                        )
                        if self._online:
                            state.last_online_ms = hlc.wall_ms
                    summary = None
                    if plan.view is not None:
                        summary = _summary(plan.view, events, hlc.wall_ms, plan.ledger_after)
            except LedgerStorageFull as exc:
                log.warning("%s", exc)
                return TapOutcome(refuse(RejectReason.STORAGE_FULL), (), None)
            return TapOutcome(decision, tuple(events), summary)

    # --- member requests -----------------------------------------------------------------------

    def tap_card(self, uid: str, class_session_id: str | None = None) -> TapOutcome:
        """A card was tapped: deny-list, then card index, then :func:`shared.decide.decide_tap`.

        ``class_session_id`` names the class when staff chose one; otherwise an open sign-in
        window of this store's classes decides.
        """
        return self._decide("the card tap", self._card_plan(uid, class_session_id))

    def tap_station(self, uid: str, station: StationRef, room: str | None) -> StationTapOutcome:
        """A card read by a door station of this kiosk: the card tap's path, and once only.

        Decided like :meth:`tap_card` (deny-list, card index, ``decide_tap``) with the classes
        of the station's ``room`` whose sign-in was open when the card was read
        (``station.read_ms``, earlier than now for a tap the station buffered). The events
        carry ``station``; the verdict is recorded with them in one transaction, and a tap
        already recorded (the same station and tap number, handed over again) is answered
        from that record without a second decision.
        """
        with self._lock:
            known = self._read(
                lambda conn: stations.recorded_tap(conn, station.station_id, station.tap_no)
            )
            if known is not None:
                return StationTapOutcome(known, duplicate=True, outcome=None)
            card_plan = self._card_plan(uid, None, room=room, read_ms=station.read_ms)

            def plan(tx: _Tx) -> _Plan:
                chosen = card_plan(tx)
                chosen.station = station
                verdict = stations.verdict_of(chosen.decision)
                stations.record_tap(tx.conn, station.station_id, station.tap_no, verdict, tx.now_ms)
                return chosen

            outcome = self._decide("the station tap", plan)
            return StationTapOutcome(stations.verdict_of(outcome.decision), False, outcome)

    def accept_station_number(self, station_id: str, number: int) -> int | None:
        """Record a station's request number if above every one heard from it (durably).

        Returns None when accepted, else the highest number heard (the request is a replay
        or the station's counter is behind). Raises LedgerStorageFull when the disk is full.
        """
        with self._lock, self._write("a station request number") as (conn, _state):
            return stations.accept_number(conn, station_id, number)

    def _card_plan(
        self,
        uid: str,
        class_session_id: str | None,
        *,
        room: str | None = None,
        read_ms: int | None = None,
    ) -> Callable[[_Tx], _Plan]:
        uid = uid.strip().upper()

        def plan(tx: _Tx) -> _Plan:
            try:
                credential = CredentialRef(kind=CredentialKind.CARD, uid=uid)
            except ValidationError:
                credential = CredentialRef(kind=CredentialKind.CARD)
                return _Plan(
                    refuse(RejectReason.UNKNOWN_CARD, None, f"bad uid {uid[:40]}"), credential
                )
            member_id = members.member_for_card(tx.conn, uid)
            denied = tx.conn.execute(
                "SELECT revoked_ms, reason FROM deny_list WHERE uid = ?", (uid,)
            ).fetchone()
            if denied is not None and denied[0] <= tx.now_ms:
                return _Plan(refuse(RejectReason.CARD_REVOKED, member_id, denied[1]), credential)
            if self._not_ready(tx):
                return _Plan(refuse(RejectReason.NOT_READY, member_id), credential)
            if member_id is None:
                return _Plan(refuse(RejectReason.UNKNOWN_CARD, None, uid), credential)
            view = self._view(tx, member_id)
            assert tx.bundle is not None
            decision, after = decide_tap_folded(
                _with_unconfirmed_fen(tx),
                tx.bundle,
                view,
                class_session_id=class_session_id,
                room=room,
                read_ms=read_ms,
            )
            return _Plan(decision, credential, view, after)

        return plan

    def tap_qr(self, claims: QrClaims, class_session_id: str | None = None) -> TapOutcome:
        """A verified member QR token was shown (see ``shared.qrtoken.verify_token``).

        A nonce already used at this kiosk is refused (``QR_REPLAYED``); otherwise it is
        remembered until the token's expiry plus the allowed clock skew, in the same
        transaction as the decision's events. A token past that point is refused
        (``QR_EXPIRED``) whatever the verifier said, so forgetting old nonces is safe.
        """

        def plan(tx: _Tx) -> _Plan:
            try:
                credential = CredentialRef(
                    kind=CredentialKind.QR, qr_nonce=claims.nonce, qr_key_id=claims.key_id
                )
            except ValidationError:
                return _Plan(refuse(RejectReason.QR_MALFORMED, None), None)
            member_id = claims.member_id
            view = self._view(tx, member_id)
            known = member_id if view is not None else None
            skew_ms = (tx.bundle.rules.qr_clock_skew_s if tx.bundle else 3600) * 1000
            if claims.expires_ms + skew_ms < tx.now_ms:
                # The nonce memory ends here, so an older token must never pass this point.
                return _Plan(refuse(RejectReason.QR_EXPIRED, known), credential, view)
            tx.conn.execute("DELETE FROM qr_nonces WHERE expires_ms < ?", (tx.now_ms,))
            seen = tx.conn.execute(
                "SELECT 1 FROM qr_nonces WHERE nonce = ?", (claims.nonce,)
            ).fetchone()
            if seen:
                return _Plan(refuse(RejectReason.QR_REPLAYED, known), credential, view)
            tx.conn.execute(
                "INSERT INTO qr_nonces (nonce, expires_ms) VALUES (?, ?)",
                (claims.nonce, claims.expires_ms + skew_ms),
            )
            if self._not_ready(tx):
                return _Plan(refuse(RejectReason.NOT_READY, known), credential, view)
            assert tx.bundle is not None
            decision, after = decide_tap_folded(
                _with_unconfirmed_fen(tx), tx.bundle, view, class_session_id=class_session_id
            )
            return _Plan(decision, credential, view, after)

        return self._decide("the QR tap", plan)

    def redeem_points(
        self, member_id: str, reward_id: str, staff_id: str | None = None
    ) -> TapOutcome:
        """Spend a member's points on a reward of the current bundle."""

        def plan(tx: _Tx) -> _Plan:
            credential = _staff(staff_id)
            view = self._view(tx, member_id)
            if self._not_ready(tx):
                return _Plan(refuse(RejectReason.NOT_READY, _known(view)), credential, view)
            assert tx.bundle is not None
            return _Plan(decide_points_redeem(tx.ctx, tx.bundle, view, reward_id), credential, view)

        return self._decide("the points redemption", plan)

    def redeem_coupon(
        self,
        member_id: str,
        coupon_id: str,
        claim: ClaimOutcome | None = None,
        staff_id: str | None = None,
    ) -> TapOutcome:
        """Use one of a member's coupons.

        Online, the first call returns a ``NeedsClaim`` decision and records nothing: ask the
        coordinator for a claim, then call again with its :class:`ClaimOutcome`.
        """

        def plan(tx: _Tx) -> _Plan:
            credential = _staff(staff_id)
            view = self._view(tx, member_id)
            if self._not_ready(tx):
                return _Plan(refuse(RejectReason.NOT_READY, _known(view)), credential, view)
            assert tx.bundle is not None
            decision = decide_coupon_redeem(tx.ctx, tx.bundle, view, coupon_id, claim)
            return _Plan(decision, credential, view)

        return self._decide("the coupon redemption", plan)

    def spend_stored_value(
        self,
        member_id: str,
        amount_fen: int,
        *,
        purpose: str = "",
        staff_id: str | None = None,
    ) -> TapOutcome:
        """Charge a member's stored value (the staff charge screen, a drop-in class), online
        or offline within the rules' stored-value limits
        (:func:`shared.decide.decide_stored_value_spend`)."""

        def plan(tx: _Tx) -> _Plan:
            credential = _staff(staff_id)
            view = self._view(tx, member_id)
            if self._not_ready(tx):
                return _Plan(refuse(RejectReason.NOT_READY, _known(view)), credential, view)
            assert tx.bundle is not None
            decision = decide_stored_value_spend(
                _with_unconfirmed_fen(tx, always=True),
                tx.bundle,
                view,
                amount_fen,
                purpose=purpose,
                staff_id=staff_id,
            )
            return _Plan(decision, credential, view)

        return self._decide("the stored-value charge", plan)

    def record_refusal(
        self, reason: RejectReason, credential: CredentialRef | None = None, detail: str = ""
    ) -> TapOutcome:
        """Journal a refusal decided before the ledger could look anyone up.

        A QR code that fails verification (forged, expired, garbage) names no member we can
        trust, but ops still want it counted and audited (rejection-rate alerts, replay
        forensics), so it is recorded as a ``Rejected`` event without a member.
        """

        def plan(tx: _Tx) -> _Plan:
            return _Plan(refuse(reason, None, detail), credential)

        return self._decide("the refusal", plan)

    def reverse(self, event_id: str, staff_id: str) -> TapOutcome:
        """Staff undo of one of this kiosk's recent events: records a Reversal, never deletes."""

        def plan(tx: _Tx) -> _Plan:
            credential = _staff(staff_id)
            target = journal.find(tx.conn, event_id)
            view = self._view(tx, target.member_id) if target and target.member_id else None
            already = journal.is_reversed(tx.conn, event_id)
            if self._not_ready(tx):
                return _Plan(refuse(RejectReason.NOT_READY, _known(view)), credential, view)
            assert tx.bundle is not None
            decision = decide_reversal(
                tx.ctx, tx.bundle, view, target, already_reversed=already, staff_id=staff_id
            )
            return _Plan(decision, credential, view)

        return self._decide("the undo", plan)

    def set_online(self, online: bool) -> None:
        """The link reports whether the coordinator is reachable; offline time is tracked."""
        with self._lock:
            if online == self._online:
                return  # nothing changed: no write (the link may repeat itself)
            now = self._now_ms()
            if online:
                self._offline_since_ms = None
            elif self._online or self._offline_since_ms is None:
                self._offline_since_ms = now
            self._online = online
            try:
                with self._write("the online state") as (_, state):
                    state.offline_since_ms = self._offline_since_ms
                    if online:
                        state.last_online_ms = now
            except LedgerStorageFull as exc:
                log.warning("online state kept in memory only: %s", exc)

    @property
    def online(self) -> bool:
        """What the link last reported."""
        return self._online

    def now_ms(self) -> int:
        """The time decisions are taken at: coordinator-anchored once it has been heard,
        never earlier than the last timestamp issued or heard (see ``trusted_time``)."""
        with self._lock:
            return self._now_ms()

    def time_source(self) -> TimeSource:
        """Where :meth:`now_ms` comes from: the coordinator, the wall clock, or the floor
        (the wall clock was not believed)."""
        return self._time.source()

    # --- stream identity -------------------------------------------------------------------------

    def stream_state(self) -> StreamState:
        """This ledger's id, epoch and refusal (cached; every change goes through here)."""
        return self._stream

    def refuse_stream(self, reason: str | None, detail: str = "") -> bool:
        """Record (None: clear) that this ledger's stream is refused; True if it changed."""
        with self._lock:
            if self._stream.refused == reason and (
                reason is None or self._stream.refused_detail == detail
            ):
                return False
            with self._write("the stream state") as (conn, _):
                stream.set_refused(conn, reason, detail)
                self._stream = stream.read(conn)
            if reason is None:
                log.info("kiosk %s: stream accepted again", self.kiosk_id)
            else:
                log.warning("kiosk %s: stream refused (%s): %s", self.kiosk_id, reason, detail)
            return True

    def adopt_epoch(self, epoch: int, start_seq: int, ledger_id: str | None) -> bool:
        """Take the epoch the coordinator handed this ledger; only an empty ledger of a lower
        epoch can (returns False and changes nothing otherwise)."""
        with self._lock:
            if ledger_id != self._stream.ledger_id or epoch <= self._stream.epoch:
                return False
            with self._write("the stream epoch") as (conn, state):
                if stream.journal_rows(conn) or state.last_seq != 0:
                    log.warning(
                        "kiosk %s: epoch %d offered but this ledger already holds seq %d; "
                        "it needs an empty ledger file",
                        self.kiosk_id,
                        epoch,
                        state.last_seq,
                    )
                    return False
                stream.adopt(conn, epoch, start_seq)
                state.last_seq = state.acked_seq = state.confirmed_seq = start_seq - 1
                self._stream = stream.read(conn)
            log.info("kiosk %s: stream epoch %d from seq %d", self.kiosk_id, epoch, start_seq)
            return True

    def set_restore_epoch(self, restore_epoch: int) -> None:
        """Remember the coordinator's restore epoch last seen (reported in every sync)."""
        with self._lock:
            if restore_epoch == self._stream.restore_epoch:
                return
            with self._write("the restore epoch") as (conn, _):
                stream.set_restore_epoch(conn, restore_epoch)
                self._stream = stream.read(conn)
            log.warning(
                "kiosk %s: the coordinator was restored from a backup (restore epoch %d)",
                self.kiosk_id,
                restore_epoch,
            )

    def check_applied(self, applied_seq: int, event_id: str | None) -> bool:
        """False (and the stream refused) when the coordinator's event at ``applied_seq`` is
        not this ledger's: an older copy of the ledger that recorded taps of its own."""
        if event_id is None or applied_seq < self._stream.start_seq:
            return True
        mine = self._read(lambda conn: stream.event_id_at(conn, applied_seq))
        if mine is None or mine == event_id:
            return True
        self.refuse_stream(
            "ledger_diverged",
            f"seq {applied_seq} of this ledger is not the event the coordinator holds: an "
            "older copy of the ledger; re-provision the kiosk and start it with an empty ledger",
        )
        return False

    # --- OutboxPort ------------------------------------------------------------------------------

    def pending_events(self, after_seq: int, limit: int) -> list[Event]:
        """Unacknowledged journal events with seq > after_seq, in seq order, at most limit."""

        def read(conn: sqlite3.Connection) -> list[Event]:
            rows = conn.execute(
                "SELECT payload FROM journal WHERE seq > ? AND acked = 0 ORDER BY seq LIMIT ?",
                (after_seq, max(0, limit)),
            )
            return journal.parse(rows)

        return self._read(read)

    def mark_acked(self, acked_seq: int) -> None:
        """Record the coordinator's highest contiguous applied seq (lower values ignored).

        Raises LedgerStorageFull when the disk is full (the ack is simply heard again later).
        """
        with self._lock:
            state = journal.read_state(self._db())
            if acked_seq <= state.acked_seq:
                return
            with self._write("the acknowledgement") as (conn, state):
                if acked_seq > state.last_seq:
                    log.warning(
                        "ack for seq %d but kiosk %s only reached seq %d; capped",
                        acked_seq,
                        self.kiosk_id,
                        state.last_seq,
                    )
                    acked_seq = state.last_seq
                if acked_seq <= state.acked_seq:
                    return
                conn.execute(
                    "UPDATE journal SET acked = 1, acked_ms = ? WHERE seq > ? AND seq <= ?",
                    (self._now_ms(state.hlc), state.acked_seq, acked_seq),
                )
                state.acked_seq = acked_seq
                state.last_online_ms = self._now_ms(state.hlc)

    def outbox_stats(self) -> OutboxStats:
        """Outbox depth and age for heartbeats."""

        def read(conn: sqlite3.Connection) -> OutboxStats:
            state = journal.read_state(conn)
            row = conn.execute(
                "SELECT wall_ms FROM journal WHERE seq > ? ORDER BY seq LIMIT 1",
                (state.acked_seq,),
            ).fetchone()
            age = None
            if row is not None:
                age = max(0, (self._clock.wall_ms() - int(row[0])) // 1000)
            return OutboxStats(
                last_seq=state.last_seq,
                acked_seq=state.acked_seq,
                depth=state.last_seq - state.acked_seq,
                oldest_unacked_age_s=age,
            )

        return self._read(read)

    def versions(self) -> Versions:
        """Downstream versions applied."""
        state = self._read(journal.read_state)
        return Versions(
            rules=state.rules_version, deny=state.deny_version, members=state.members_version
        )

    def apply_member_update(self, message: MemberUpdate) -> ApplyOutcome:
        """Apply a member delta or stage a snapshot chunk (switching when all are in).

        Raises LedgerStorageFull (nothing applied) or BadDownstreamMessage.
        """
        with self._lock:
            if message.hlc_ms:
                self.observe_hlc(HLC(message.hlc_ms, message.hlc_c))
            with self._write(f"member update v{message.version}") as (conn, state):
                outcome = downstream.apply_members(conn, state, message)
            return outcome

    def apply_rule_bundle(self, message: RuleBundleMessage) -> ApplyOutcome:
        """Apply a rule bundle if newer and meant for this store."""
        with self._lock:
            with self._write(f"rule bundle v{message.bundle.version}") as (conn, state):
                outcome = downstream.apply_rules(conn, state, message)
            if outcome is ApplyOutcome.APPLIED:
                self._bundle = message.bundle.for_store(self.store_id)
            return outcome

    def apply_deny_update(self, message: DenyListUpdate) -> ApplyOutcome:
        """Apply a deny-list delta or full list."""
        with self._lock, self._write(f"deny-list v{message.version}") as (conn, state):
            return downstream.apply_deny(conn, state, message)

    def observe_hlc(self, remote: HLC) -> None:
        """Merge a timestamp heard from the coordinator (persisted with the next write)."""
        with self._lock:
            self._time.observe_coordinator(remote[0])
            self._observed = merge(self._observed, HLC(*remote), self._time.now_ms())

    # --- lookups for the UI -----------------------------------------------------------------------

    def rule_bundle(self) -> RuleBundle | None:
        """The rule bundle in force (None before the first one arrived)."""
        return self._bundle

    def member_for_card(self, uid: str) -> str | None:
        """The member a card belongs to (None if unknown)."""
        return self._read(lambda conn: members.member_for_card(conn, uid.strip().upper()))

    def member_devices(self, member_id: str) -> tuple[DeviceKey, ...]:
        """The phones that sign the member's codes, from the last pushed record (none if
        the member is unknown here)."""

        def read(conn: sqlite3.Connection) -> tuple[DeviceKey, ...]:
            found = members.record(conn, member_id)
            return found[0].devices if found is not None else ()

        return self._read(read)

    def member_summary(self, member_id: str) -> MemberSummary | None:
        """The member as this kiosk sees them now (snapshot + pending events)."""

        def read(conn: sqlite3.Connection) -> MemberSummary | None:
            tx = self._read_tx(conn)
            view = self._view(tx, member_id)
            return _summary(view, [], tx.now_ms) if view else None

        return self._read(read)

    def class_rosters(self) -> list[ClassRoster]:
        """Today's classes in this store and who has signed in to each.

        Today is the store-local day; a class whose sign-in is open now, or which is
        running now, is listed too, so a class just after midnight is on the roster while
        its students are signing in and one running past midnight stays until it ends.
        """

        def read(conn: sqlite3.Connection) -> list[ClassRoster]:
            tx = self._read_tx(conn)
            if tx.bundle is None:
                return []
            tz = tx.bundle.rules.timezone
            today = local_day(tx.now_ms, tz)
            sessions = sorted(
                (
                    c
                    for c in tx.bundle.classes
                    if c.store_id == self.store_id
                    and (
                        local_day(c.starts_ms, tz) == today
                        or c.signin_open(tx.now_ms)
                        or c.starts_ms <= tx.now_ms < c.ends_ms
                    )
                ),
                key=lambda c: (c.starts_ms, c.class_session_id),
            )
            rosters = []
            for session in sessions:
                sid = session.class_session_id
                candidates = conn.execute(
                    "SELECT member_id FROM member_signins WHERE class_session_id = ?"
                    " UNION SELECT member_id FROM journal"
                    " WHERE class_session_id = ? AND kind = 'class_signin'",
                    (sid, sid),
                ).fetchall()
                entries = []
                for (member_id,) in candidates:
                    view = self._view(tx, member_id)
                    if view is None:
                        continue
                    signin = next(
                        (s for s in view.ledger().signins if s.class_session_id == sid), None
                    )
                    if signin is not None:
                        entries.append(
                            RosterEntry(
                                member_id=member_id,
                                display_name=view.record.display_name,
                                at_ms=signin.at_ms,
                                pass_id=signin.pass_id,
                                station_id=_signin_station(conn, sid, member_id),
                            )
                        )
                entries.sort(key=lambda e: (e.at_ms, e.member_id))
                here = {e.member_id for e in entries}
                absent = []
                for member_id in session.booked:
                    if member_id not in here:
                        found = members.record(conn, member_id)
                        name = found[0].display_name if found else member_id
                        absent.append((member_id, name))
                rosters.append(
                    ClassRoster(
                        session=session, signed_in=tuple(entries), booked_absent=tuple(absent)
                    )
                )
            return rosters

        return self._read(read)

    def recent_events(
        self, limit: int = 20, *, member_id: str | None = None, include_rejected: bool = False
    ) -> list[RecentEvent]:
        """This kiosk's latest events, newest first, marked reversed/undoable for staff."""

        def read(conn: sqlite3.Connection) -> list[RecentEvent]:
            rows = conn.execute(
                "SELECT payload, acked FROM journal"
                " WHERE (? OR kind != 'rejected') AND (? IS NULL OR member_id = ?)"
                " ORDER BY seq DESC LIMIT ?",
                (int(include_rejected), member_id, member_id, max(0, limit)),
            ).fetchall()
            now = self._now_ms()
            window_ms = (self._bundle.rules.undo_window_s if self._bundle else 0) * 1000
            out = []
            for payload, acked in rows:
                event = Event.model_validate_json(payload)
                reversed_ = journal.is_reversed(conn, event.event_id)
                undoable = (
                    event.kind in REVERSIBLE_KINDS
                    and not reversed_
                    and now - event.hlc_ms <= window_ms
                )
                out.append(RecentEvent(event, reversed_, undoable, bool(acked)))
            return out

        return self._read(read)

    def journal_events(self, after_seq: int = 0, limit: int = 1000) -> list[Event]:
        """Journal events (acknowledged or not) with seq > after_seq, in seq order."""
        return self._read(
            lambda conn: journal.parse(
                conn.execute(
                    "SELECT payload FROM journal WHERE seq > ? ORDER BY seq LIMIT ?",
                    (after_seq, max(0, limit)),
                )
            )
        )

    def sync_status(self) -> SyncStatus:
        """Online, outbox, confirmation and version facts, each on its own."""
        stats = self.outbox_stats()

        def read(conn: sqlite3.Connection) -> SyncStatus:
            state = journal.read_state(conn)
            return SyncStatus(
                online=self._online,
                offline_since_ms=None if self._online else self._offline_since_ms,
                last_seq=state.last_seq,
                acked_seq=state.acked_seq,
                confirmed_seq=state.confirmed_seq,
                outbox_depth=stats.depth,
                oldest_unacked_age_s=stats.oldest_unacked_age_s,
                versions=Versions(
                    rules=state.rules_version,
                    deny=state.deny_version,
                    members=state.members_version,
                ),
                members=members.count(conn),
                unconfirmed_sessions=max(0, state.unconfirmed_sessions),
                unconfirmed_points=max(0, state.unconfirmed_points),
                staging_chunks=members.staged_chunks(conn),
            )

        return self._read(read)

    def storage_settings(self) -> dict[str, str | int]:
        """The connection's durability settings and schema version (for field inspection)."""

        def read(conn: sqlite3.Connection) -> dict[str, str | int]:
            return {
                "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
                "synchronous": conn.execute("PRAGMA synchronous").fetchone()[0],
                "foreign_keys": conn.execute("PRAGMA foreign_keys").fetchone()[0],
                "busy_timeout_ms": conn.execute("PRAGMA busy_timeout").fetchone()[0],
                "schema_version": current_version(conn),
            }

        return self._read(read)

    def prune_acked(self, older_than_days: int) -> int:
        """Delete acknowledged events older than N days that every view has folded in.

        Unacknowledged rows are never deleted (a trigger enforces it); returns rows deleted.
        """
        with self._lock, self._write("pruning") as (conn, state):
            cutoff = self._now_ms(state.hlc) - older_than_days * DAY_MS
            # The unconfirmed totals are the sums above confirmed_seq: what leaves from there
            # leaves them too.
            gone = conn.execute(
                _PRUNABLE_UNCONFIRMED_SUMS, (state.acked_seq, cutoff, state.confirmed_seq)
            ).fetchone()
            state.unconfirmed_sessions -= int(gone[0])
            state.unconfirmed_points -= int(gone[1])
            cur = conn.execute(_PRUNE_ACKED, (state.acked_seq, cutoff))
            return cur.rowcount

    def set_backup_verified(self, at_ms: int) -> None:
        """Remember the time of the coordinator's last verified backup (retention's anchor)."""
        with self._lock:
            if at_ms == self._stream.backup_verified_ms:
                return
            with self._write("the backup time") as (conn, _):
                stream.set_backup_verified(conn, at_ms)
                self._stream = stream.read(conn)

    def prune_retained(self, margin_ms: int, min_keep_ms: int, up_to_seq: int) -> int:
        """Delete acknowledged rows a coordinator restore can no longer need; returns rows
        deleted.

        A row goes only when the coordinator acknowledged it more than ``margin_ms`` before
        its last verified backup (so every backup a restore would use holds it: the margin
        covers the clocks' difference), it is older than ``min_keep_ms`` (undo, recent
        events and class sign-ins read the journal), every member view has folded it in and
        its seq is at most ``up_to_seq`` (what the coordinator said it holds since the link
        last heard of a restore). Nothing goes while the coordinator has not said when it
        last backed up.
        """
        with self._lock:
            backup_ms = self._stream.backup_verified_ms
            if backup_ms is None:
                return 0
            with self._write("pruning") as (conn, state):
                cutoff = min(backup_ms - margin_ms, self._now_ms(state.hlc) - min_keep_ms)
                bound = min(state.acked_seq, up_to_seq)
                gone = conn.execute(
                    _PRUNABLE_RETAINED_SUMS, (bound, cutoff, state.confirmed_seq)
                ).fetchone()
                state.unconfirmed_sessions -= int(gone[0])
                state.unconfirmed_points -= int(gone[1])
                return conn.execute(_PRUNE_RETAINED, (bound, cutoff)).rowcount

    def journal_size(self) -> tuple[int, int]:
        """(journal rows, database bytes in use: pages minus free pages)."""

        def read(conn: sqlite3.Connection) -> tuple[int, int]:
            rows = stream.journal_rows(conn)
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            size = conn.execute("PRAGMA page_size").fetchone()[0]
            return rows, (int(pages) - int(free)) * int(size)

        return self._read(read)

    def _read_tx(self, conn: sqlite3.Connection) -> _Tx:
        state = journal.read_state(conn)
        now = self._now_ms(max(state.hlc, self._observed))
        return _Tx(conn, state, HLC(now, 0), now, self._bundle, self._context(state, now))


def _with_unconfirmed_fen(tx: _Tx, *, always: bool = False) -> KioskContext:
    """The decision context with the stored value this kiosk spent unconfirmed (all members).

    Summed here rather than kept in the kiosk row: only a charge, or a tap that may pay a
    drop-in class (a class with a drop-in price in the bundle), asks for it."""
    may_spend = always or (
        tx.bundle is not None and any(c.drop_in_price_fen > 0 for c in tx.bundle.classes)
    )
    if not may_spend:
        return tx.ctx
    unconfirmed = tx.conn.execute(_UNCONFIRMED_FEN, (tx.state.confirmed_seq,)).fetchone()
    return tx.ctx.model_copy(update={"kiosk_unconfirmed_fen": int(unconfirmed[0])})


# Stored value this kiosk spent (all members) above the confirmed seq.
_UNCONFIRMED_FEN = """
SELECT coalesce(sum(json_extract(payload, '$.body.amount_fen')), 0)
FROM journal WHERE seq > ? AND kind = 'sv_spend'
"""

# Acknowledged rows older than the cutoff that every member view has folded in.
_PRUNE_ACKED = """
DELETE FROM journal WHERE acked = 1 AND seq <= ? AND wall_ms < ? AND (
    member_id IS NULL
    OR NOT EXISTS (SELECT 1 FROM members m WHERE m.member_id = journal.member_id)
    OR seq <= (SELECT m.included_seq FROM members m WHERE m.member_id = journal.member_id))
"""
# Retention (prune_retained): the same rows, by acknowledgement time instead of wall time.
_PRUNE_RETAINED = """
DELETE FROM journal WHERE acked = 1 AND seq <= ? AND acked_ms < ? AND (
    member_id IS NULL
    OR NOT EXISTS (SELECT 1 FROM members m WHERE m.member_id = journal.member_id)
    OR seq <= (SELECT m.included_seq FROM members m WHERE m.member_id = journal.member_id))
"""
_PRUNABLE_RETAINED_SUMS = """
SELECT coalesce(sum(d_sessions), 0), coalesce(sum(d_points), 0)
FROM journal WHERE acked = 1 AND seq <= ? AND acked_ms < ? AND (
    member_id IS NULL
    OR NOT EXISTS (SELECT 1 FROM members m WHERE m.member_id = journal.member_id)
    OR seq <= (SELECT m.included_seq FROM members m WHERE m.member_id = journal.member_id))
    AND seq > ?
"""
# What those same rows contribute above confirmed_seq (the unconfirmed totals).
_PRUNABLE_UNCONFIRMED_SUMS = """
SELECT coalesce(sum(d_sessions), 0), coalesce(sum(d_points), 0)
FROM journal WHERE acked = 1 AND seq <= ? AND wall_ms < ? AND (
    member_id IS NULL
    OR NOT EXISTS (SELECT 1 FROM members m WHERE m.member_id = journal.member_id)
    OR seq <= (SELECT m.included_seq FROM members m WHERE m.member_id = journal.member_id))
    AND seq > ?
"""


def _signin_station(conn: sqlite3.Connection, class_session_id: str, member_id: str) -> str | None:
    """The door station this kiosk recorded the member's sign-in through, if any."""
    row = conn.execute(
        "SELECT payload FROM journal WHERE class_session_id = ? AND member_id = ?"
        " AND kind = 'class_signin' ORDER BY seq DESC LIMIT 1",
        (class_session_id, member_id),
    ).fetchone()
    if row is None:
        return None
    station = Event.model_validate_json(row[0]).station
    return station.station_id if station is not None else None


def _known(view: MemberView | None) -> str | None:
    return view.record.member_id if view else None


def _staff(staff_id: str | None) -> CredentialRef:
    """Requests made through the kiosk screen (by staff, when ``staff_id`` is given)."""
    return CredentialRef(kind=CredentialKind.STAFF, staff_id=staff_id)


def _summary(
    view: MemberView,
    new_events: list[Event],
    now_ms: int,
    ledger_after: MemberLedger | None = None,
) -> MemberSummary:
    """What the screen shows; ``ledger_after`` is the view's ledger with ``new_events`` already
    folded in when the decision computed it (saves folding them a second time)."""
    ledger: MemberLedger
    if ledger_after is not None:
        ledger = ledger_after
    else:
        ledger, _ = fold(view.ledger(), new_events)
    record: MemberRecord = view.record
    relevant = [e for e in new_events if e.kind != "rejected"]
    return MemberSummary(
        member_id=record.member_id,
        display_name=record.display_name,
        tier=record.tier,
        lang=record.lang,
        status=record.status,
        points_balance=ledger.points_available(now_ms),
        stored_value_fen=ledger.stored_value.available_fen(now_ms),
        checkins=ledger.checkins,
        passes=ledger.passes,
        coupons=tuple(c for c in ledger.coupons if not c.is_used),
        pending_events=len(view.pending) + len(relevant),
    )


if TYPE_CHECKING:  # mypy proves the ledger is what the MQTT link expects

    def _is_outbox_port(ledger: KioskLedger) -> OutboxPort:
        return ledger
