"""Exactly-once, in-order application of each kiosk's event stream.

Per kiosk the ledger keeps ``applied_seq``: every event with a seq at or below it is in the
``events`` table, and nothing above it is. A batch is applied inside the caller's
transaction:

* the kiosk row is locked first (replicas handling the same kiosk take turns);
* events at or below ``applied_seq`` are duplicates (same event id) or a poisoned stream
  (different id: rejected, counted and raised as a conflict, never overwritten);
* events above it join the kiosk's held events (a table, so any replica can fill the gap);
  the contiguous run from ``applied_seq + 1`` is inserted and folded, the rest stays held,
  and the Ack asks the kiosk to resend from the gap.

Correctness rests on the unique constraints of ``events`` and on that lock, never on which
replica got which message. The caller publishes the Ack only after the commit.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.clock import HlcSource
from coordinator.ledger import streams
from coordinator.ledger.class_capacity import check_capacity
from coordinator.ledger.conflicts import (
    ConflictDraft,
    ConflictKind,
    load_place,
    raise_conflict,
    raise_or_count,
    record_fold_conflicts,
)
from coordinator.ledger.explain import (
    Place,
    explain_clock_skew,
    explain_duplicate_id,
    explain_poisoned,
    explain_qr_replay,
    explain_quarantined,
    explain_revoked_card,
)
from coordinator.ledger.jsonrows import event_from_row
from coordinator.ledger.member_fold import FoldCheckpoints, fold_new_events
from coordinator.outbound.integration import publish_events
from coordinator.reports import rollups
from coordinator.reports.indexes import report_columns
from shared.events import KIOSK_KINDS, CouponRedeem, Event, Rejected
from shared.model import Rules
from shared.protocol import EventBatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KioskInfo:
    """A registered kiosk as the ingest needs it."""

    kiosk_id: str
    store_id: str
    revoked: bool


@dataclass
class StreamReport:
    """What one group of event batches did (everything here is committed with it)."""

    acks: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    """kiosk id -> (highest contiguous applied seq, resend_from or None)."""
    applied: int = 0
    duplicates: int = 0
    held: int = 0
    members_changed: set[str] = field(default_factory=set)
    rejects: list[tuple[str, str, str]] = field(default_factory=list)
    """(kiosk id, reason, detail) of single events refused inside accepted batches."""
    conflicts: list[str] = field(default_factory=list)
    recomputed_members: int = 0
    refused: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    """kiosk id -> (current epoch, applied seq, why) for batches of another stream epoch."""


@dataclass
class _Pending:
    event: Event
    received_ms: int
    from_held: bool


class Sequencer:
    """Applies event batches; one instance per coordinator, stateless between calls."""

    def __init__(
        self,
        *,
        hlc: HlcSource,
        rules_provider: Callable[[Connection], Rules],
        max_held_per_kiosk: int,
        checkpoints: FoldCheckpoints | None = None,
    ):
        self._hlc = hlc
        self._rules = rules_provider
        self._max_held = max_held_per_kiosk
        self._checkpoints = checkpoints

    def apply(
        self,
        conn: Connection,
        batches: Sequence[tuple[EventBatch, int]],
        kiosks: Mapping[str, KioskInfo],
        now_ms: int,
    ) -> StreamReport:
        """Apply ``(batch, received_ms)`` pairs of registered kiosks in the caller's transaction."""
        report = StreamReport()
        by_kiosk: dict[str, list[tuple[Event, int]]] = defaultdict(list)
        self._lock_kiosks(conn, {batch.kiosk_id for batch, _ in batches})
        for batch, received_ms in batches:
            why = streams.batch_refusal(conn, batch.kiosk_id, batch.epoch)
            if why is not None:
                report.rejects.append((batch.kiosk_id, "stream_epoch_mismatch", why))
                stream = streams.current(conn, batch.kiosk_id)
                applied_now = int(
                    conn.execute(
                        sa.select(schema.kiosks.c.applied_seq).where(
                            schema.kiosks.c.kiosk_id == batch.kiosk_id
                        )
                    ).scalar_one()
                )
                report.refused[batch.kiosk_id] = (stream.epoch, applied_now, why)
                continue
            for event in batch.events:
                if event.kiosk_id != batch.kiosk_id:
                    report.rejects.append(
                        (
                            batch.kiosk_id,
                            "event_kiosk_mismatch",
                            f"event {event.event_id} names kiosk {event.kiosk_id}",
                        )
                    )
                    continue
                by_kiosk[batch.kiosk_id].append((event, received_ms))

        applied: list[tuple[Event, int, bool]] = []
        place: Place | None = None
        inserted: list[dict[str, object]] = []
        for kiosk_id in sorted(by_kiosk):
            info = kiosks[kiosk_id]
            got, place = self._apply_kiosk(
                conn, info, by_kiosk[kiosk_id], report, now_ms, place, inserted
            )
            applied.extend(got)
        # Once per group, in key order, after every kiosk row lock and before any member's:
        # replicas take the locks in one order (kiosks, rollups, members).
        rollups.add_events(conn, inserted)

        folded = [(e, r) for e, r, quarantined in applied if not quarantined]
        if folded:
            place = self._checks(conn, folded, kiosks, report, now_ms, place)
            publish_events(conn, (e for e, _ in folded), now_ms)  # integrators' webhooks
        by_member: dict[str, list[Event]] = defaultdict(list)
        for event, _ in folded:
            if event.member_id is not None:
                by_member[event.member_id].append(event)
        if by_member:
            outcomes = fold_new_events(
                conn,
                by_member,
                rules=self._rules(conn),
                now_ms=now_ms,
                checkpoints=self._checkpoints,
            )
            report.recomputed_members += sum(1 for o in outcomes if o.recomputed)
            report.conflicts.extend(record_fold_conflicts(conn, outcomes, now_ms, place))
            report.members_changed.update(by_member)
        return report

    # -- one kiosk's stream ------------------------------------------------------------------

    @staticmethod
    def _lock_kiosks(conn: Connection, kiosk_ids: set[str]) -> None:
        """Lock the kiosks' rows before their epochs are judged, so a re-provisioning cannot
        slip between the check and the apply; always in kiosk id order, as every replica
        does, so two replicas with the same kiosks in one group never deadlock."""
        k = schema.kiosks
        for kiosk_id in sorted(kiosk_ids):
            conn.execute(
                sa.select(k.c.kiosk_id).where(k.c.kiosk_id == kiosk_id).with_for_update()
            ).first()

    def _apply_kiosk(
        self,
        conn: Connection,
        info: KioskInfo,
        incoming: list[tuple[Event, int]],
        report: StreamReport,
        now_ms: int,
        place: Place | None,
        inserted: list[dict[str, object]],
    ) -> tuple[list[tuple[Event, int, bool]], Place | None]:
        """Apply one kiosk's events in seq order; the rows it inserts are added to
        ``inserted`` (the caller rolls them up once for the group)."""
        k = schema.kiosks
        ev = schema.events
        held = schema.held_events
        kiosk_id = info.kiosk_id
        applied_seq = int(
            conn.execute(
                sa.select(k.c.applied_seq).where(k.c.kiosk_id == kiosk_id).with_for_update()
            ).scalar_one()
        )

        # One candidate per seq from this group; a second, different event for a seq that
        # is still undecided is refused as poisoned right away.
        candidates: dict[int, tuple[Event, int]] = {}
        for event, received_ms in incoming:
            first = candidates.get(event.seq)
            if first is None:
                candidates[event.seq] = (event, received_ms)
            elif first[0].event_id != event.event_id:
                place = self._poisoned(
                    conn, kiosk_id, event.seq, first[0].event_id, event.event_id, False, report,
                    now_ms, place,
                )  # fmt: skip
            else:
                report.duplicates += 1

        low = sorted(s for s in candidates if s <= applied_seq)
        if low:
            stored = dict(
                conn.execute(
                    sa.select(ev.c.seq, ev.c.event_id).where(
                        ev.c.source == kiosk_id, ev.c.seq.in_(low)
                    )
                ).all()
            )
            for seq in low:
                event = candidates[seq][0]
                if stored.get(seq) == event.event_id or (
                    seq in stored and _stored_under_new_id(conn, kiosk_id, seq, event.event_id)
                ):
                    report.duplicates += 1
                else:
                    place = self._poisoned(
                        conn, kiosk_id, seq, str(stored.get(seq)), event.event_id, False, report,
                        now_ms, place,
                    )  # fmt: skip

        pool: dict[int, _Pending] = {}
        held_rows = conn.execute(
            sa.select(held.c.seq, held.c.event_id, held.c.body, held.c.received_ms)
            .where(held.c.source == kiosk_id)
            .order_by(held.c.seq)
        ).all()
        for row in held_rows:
            pool[row.seq] = _Pending(event_from_row(row.body), row.received_ms, True)
        for seq in sorted(s for s in candidates if s > applied_seq):
            event, received_ms = candidates[seq]
            existing = pool.get(seq)
            if existing is None:
                pool[seq] = _Pending(event, received_ms, False)
            elif existing.event.event_id == event.event_id:
                report.duplicates += 1
            else:
                place = self._poisoned(
                    conn, kiosk_id, seq, existing.event.event_id, event.event_id, True, report,
                    now_ms, place,
                )  # fmt: skip

        run: list[_Pending] = []
        nxt = applied_seq + 1
        lost = streams.lost_in(conn, kiosk_id, applied_seq)
        while True:
            if nxt in pool:
                run.append(pool.pop(nxt))
                nxt += 1
                continue
            # A lost range of a closed epoch: nothing will ever fill it, step over it.
            gap = next((r for r in lost if r.first_seq <= nxt <= r.last_seq), None)
            if gap is None:
                break
            nxt = gap.last_seq + 1
        new_applied = nxt - 1

        # What stays above the gap: keep it (bounded) so any replica can apply it later.
        waiting = [p for p in pool.values() if p.event.seq > new_applied]
        to_hold = sorted((p for p in waiting if not p.from_held), key=lambda p: p.event.seq)
        room = max(0, self._max_held - (len(held_rows) - sum(1 for p in run if p.from_held)))
        for pending in to_hold[room:]:
            report.rejects.append(
                (
                    kiosk_id,
                    "held_overflow",
                    f"seq {pending.event.seq} dropped: {self._max_held} events already held; "
                    "the kiosk will resend it",
                )
            )
        if to_hold[:room]:
            conn.execute(
                sa.insert(held),
                [
                    {
                        "source": kiosk_id,
                        "seq": p.event.seq,
                        "event_id": p.event.event_id,
                        "body": p.event.model_dump_json(),
                        "received_ms": p.received_ms,
                    }
                    for p in to_hold[:room]
                ],
            )
            report.held += len(to_hold[:room])
        if any(p.from_held for p in run):
            conn.execute(
                sa.delete(held).where(held.c.source == kiosk_id, held.c.seq <= new_applied)
            )

        resend_from = new_applied + 1 if waiting else None
        report.acks[kiosk_id] = (new_applied, resend_from)
        if not run:
            if new_applied != applied_seq:
                conn.execute(
                    sa.update(k).where(k.c.kiosk_id == kiosk_id).values(applied_seq=new_applied)
                )
            return [], place

        rows, result, place = self._rows_for(conn, info, run, report, now_ms, place)
        conn.execute(sa.insert(ev), rows)
        inserted.extend(rows)
        conn.execute(
            sa.update(k)
            .where(k.c.kiosk_id == kiosk_id)
            .values(applied_seq=new_applied, last_event_received_ms=now_ms)
        )
        report.applied += len(run)
        return result, place

    def _rows_for(
        self,
        conn: Connection,
        info: KioskInfo,
        run: list[_Pending],
        report: StreamReport,
        now_ms: int,
        place: Place | None,
    ) -> tuple[list[dict[str, object]], list[tuple[Event, int, bool]], Place | None]:
        ev = schema.events
        ids = [p.event.event_id for p in run]
        taken = {
            r.event_id: (r.source, r.seq)
            for r in conn.execute(
                sa.select(ev.c.event_id, ev.c.source, ev.c.seq).where(ev.c.event_id.in_(ids))
            )
        }
        rows: list[dict[str, object]] = []
        result: list[tuple[Event, int, bool]] = []
        for pending in run:
            event = pending.event
            stored_id = event.event_id
            why: str | None = None
            draft: ConflictDraft | None = None
            if stored_id in taken:
                other_source, other_seq = taken[stored_id]
                stored_id = uuid.uuid4().hex
                draft = ConflictDraft(
                    dedupe_key=f"duplicate_event_id:{info.kiosk_id}:{event.seq}",
                    kind=ConflictKind.DUPLICATE_EVENT_ID,
                    explanation=explain_duplicate_id(
                        event=event, other_source=other_source, other_seq=other_seq
                    ),
                )
                report.rejects.append(
                    (info.kiosk_id, "duplicate_event_id", f"seq {event.seq} id {event.event_id}")
                )
            elif event.kind not in KIOSK_KINDS:
                why = f"kiosks may not record {event.kind} events"
            elif event.store_id is not None and event.store_id != info.store_id:
                why = (
                    f"it names store {event.store_id} while kiosk {info.kiosk_id} is "
                    f"registered in store {info.store_id}"
                )
            if why is not None:
                draft = ConflictDraft(
                    dedupe_key=f"quarantined_event:{info.kiosk_id}:{event.seq}",
                    kind=ConflictKind.QUARANTINED_EVENT,
                    explanation=explain_quarantined(event=event, why=why),
                )
                report.rejects.append((info.kiosk_id, "event_quarantined", why))
            quarantined = draft is not None
            if draft is not None:
                draft.member_id = event.member_id
                draft.event_id = stored_id
                draft.kiosk_id = info.kiosk_id
                draft.store_id = info.store_id
                draft.store_ids = [info.store_id]
                new_id = raise_conflict(conn, draft, now_ms)
                if new_id:
                    report.conflicts.append(new_id)
            taken[stored_id] = (info.kiosk_id, event.seq)
            rows.append(
                {
                    "event_id": stored_id,
                    "source": info.kiosk_id,
                    "seq": event.seq,
                    "store_id": event.store_id or info.store_id,
                    "member_id": event.member_id,
                    "kind": event.kind,
                    "hlc_ms": event.hlc_ms,
                    "hlc_c": event.hlc_c,
                    "wall_ms": event.wall_ms,
                    "received_ms": pending.received_ms,
                    "offline": event.offline,
                    "quarantined": quarantined,
                    "body": event.model_dump_json(),
                    **report_columns(event),
                }
            )
            result.append((event, pending.received_ms, quarantined))
        return rows, result, place

    def _poisoned(
        self,
        conn: Connection,
        kiosk_id: str,
        seq: int,
        stored_event_id: str,
        new_event_id: str,
        held: bool,
        report: StreamReport,
        now_ms: int,
        place: Place | None,
    ) -> Place | None:
        report.rejects.append(
            (
                kiosk_id,
                "poisoned_seq",
                f"seq {seq}: event {new_event_id} differs from {stored_event_id}",
            )
        )
        log.warning(
            "kiosk %s sent event %s for seq %s which holds %s: rejected (poisoned stream)",
            kiosk_id,
            new_event_id,
            seq,
            stored_event_id,
        )
        conn.execute(
            sa.update(schema.kiosks)
            .where(schema.kiosks.c.kiosk_id == kiosk_id)
            .values(poisoned_count=schema.kiosks.c.poisoned_count + 1)
        )
        new_id = raise_conflict(
            conn,
            ConflictDraft(
                dedupe_key=f"poisoned_seq:{kiosk_id}:{seq}:{new_event_id}",
                kind=ConflictKind.POISONED_SEQ,
                explanation=explain_poisoned(
                    kiosk_id=kiosk_id,
                    seq=seq,
                    stored_event_id=stored_event_id,
                    new_event_id=new_event_id,
                    held=held,
                ),
                kiosk_id=kiosk_id,
                event_id=stored_event_id,
                detail={"seq": seq, "rejected_event_id": new_event_id},
            ),
            now_ms,
        )
        if new_id:
            report.conflicts.append(new_id)
        return place

    # -- checks on applied events ------------------------------------------------------------

    def _checks(
        self,
        conn: Connection,
        applied: list[tuple[Event, int]],
        kiosks: Mapping[str, KioskInfo],
        report: StreamReport,
        now_ms: int,
        place: Place | None,
    ) -> Place | None:
        rules = self._rules(conn)
        limit_ms = rules.clock_skew_flag_s * 1000
        taps = [(e, r) for e, r in applied if not isinstance(e.body, Rejected)]

        for event, received_ms in applied:
            skew = event.wall_ms - received_ms
            future_hlc = event.hlc_ms - received_ms > limit_ms
            if skew > limit_ms or future_hlc or (not event.offline and -skew > limit_ms):
                place = place or load_place(conn)
                if future_hlc and skew <= limit_ms:
                    skew = event.hlc_ms - received_ms
                new_id = raise_or_count(
                    conn,
                    ConflictDraft(
                        dedupe_key=f"clock_skew:{event.kiosk_id}:{event.event_id}",
                        kind=ConflictKind.CLOCK_SKEW,
                        explanation=explain_clock_skew(
                            event=event, received_ms=received_ms, skew_ms=skew, place=place
                        ),
                        member_id=event.member_id,
                        event_id=event.event_id,
                        kiosk_id=event.kiosk_id,
                        store_id=kiosks[event.kiosk_id].store_id,
                        store_ids=[kiosks[event.kiosk_id].store_id],
                        amount=abs(skew) // 1000,
                        detail={"skew_ms": skew, "received_ms": received_ms},
                    ),
                    now_ms,
                )
                if new_id:
                    report.conflicts.append(new_id)
            self._hlc.observe(event.hlc, max_ahead_ms=limit_ms)

        place = self._check_revoked_cards(conn, taps, report, now_ms, place)
        place = self._check_qr_nonces(conn, taps, report, now_ms, place)
        over, place = check_capacity(conn, [e for e, _ in taps], now_ms, place)
        report.conflicts.extend(over)
        self._consume_claims(conn, taps)
        last_tap: dict[str, int] = {}
        for event, _ in taps:
            last_tap[event.kiosk_id] = max(last_tap.get(event.kiosk_id, 0), event.wall_ms)
        kh = schema.kiosk_health
        for kiosk_id, at_ms in sorted(last_tap.items()):
            conn.execute(
                sa.update(kh)
                .where(
                    kh.c.kiosk_id == kiosk_id,
                    sa.or_(kh.c.last_good_tap_ms.is_(None), kh.c.last_good_tap_ms < at_ms),
                )
                .values(last_good_tap_ms=at_ms)
            )
        return place

    def _check_revoked_cards(
        self,
        conn: Connection,
        taps: list[tuple[Event, int]],
        report: StreamReport,
        now_ms: int,
        place: Place | None,
    ) -> Place | None:
        uids = sorted({e.credential.uid for e, _ in taps if e.credential and e.credential.uid})
        if not uids:
            return place
        d = schema.deny_entries
        denied = {
            r.uid: r
            for r in conn.execute(
                sa.select(d.c.uid, d.c.revoked_ms, d.c.reason).where(
                    d.c.uid.in_(uids), d.c.removed.is_(False)
                )
            )
        }
        if not denied:
            return place
        cards = schema.cards
        owners = dict(
            conn.execute(
                sa.select(cards.c.uid, cards.c.member_id).where(cards.c.uid.in_(sorted(denied)))
            ).all()
        )
        from coordinator.ledger.conflicts import display_name

        for event, _ in taps:
            uid = event.credential.uid if event.credential else None
            entry = denied.get(uid or "")
            if entry is None or event.hlc_ms < entry.revoked_ms:
                continue
            place = place or load_place(conn)
            member_id = event.member_id or owners.get(entry.uid)
            new_id = raise_conflict(
                conn,
                ConflictDraft(
                    dedupe_key=f"card_revoked_used:{event.event_id}",
                    kind=ConflictKind.CARD_REVOKED_USED,
                    explanation=explain_revoked_card(
                        uid=entry.uid,
                        member_id=member_id,
                        display_name=display_name(conn, member_id),
                        revoked_ms=entry.revoked_ms,
                        reason=entry.reason,
                        event=event,
                        place=place,
                    ),
                    member_id=member_id,
                    subject_id=entry.uid,
                    event_id=event.event_id,
                    kiosk_id=event.kiosk_id,
                    store_id=place.store_of(event),
                    store_ids=[s] if (s := place.store_of(event)) else [],
                    detail={"revoked_ms": entry.revoked_ms, "reason": entry.reason},
                ),
                now_ms,
            )
            if new_id:
                report.conflicts.append(new_id)
        return place

    def _check_qr_nonces(
        self,
        conn: Connection,
        taps: list[tuple[Event, int]],
        report: StreamReport,
        now_ms: int,
        place: Place | None,
    ) -> Place | None:
        with_nonce = [(e, r) for e, r in taps if e.credential and e.credential.qr_nonce]
        if not with_nonce:
            return place
        q = schema.qr_nonces
        nonces = sorted(
            {e.credential.qr_nonce for e, _ in with_nonce if e.credential and e.credential.qr_nonce}
        )
        seen: dict[str, tuple[str, str, int]] = {
            r.nonce: (r.kiosk_id, r.event_id, r.at_ms)
            for r in conn.execute(sa.select(q).where(q.c.nonce.in_(nonces)))
        }
        from coordinator.ledger.conflicts import display_name

        for event, _ in sorted(with_nonce, key=lambda p: p[0].sort_key()):
            nonce = event.credential.qr_nonce if event.credential else None
            assert nonce is not None
            first = seen.get(nonce)
            if first is None:
                seen[nonce] = (event.kiosk_id, event.event_id, event.hlc_ms)
                try:
                    with conn.begin_nested():
                        conn.execute(
                            sa.insert(q).values(
                                nonce=nonce,
                                event_id=event.event_id,
                                kiosk_id=event.kiosk_id,
                                at_ms=event.hlc_ms,
                            )
                        )
                except sa.exc.IntegrityError:
                    pass  # another replica recorded the nonce first; judged on its next use
                continue
            if first[0] == event.kiosk_id:
                continue  # one scan can produce several events at one kiosk
            place = place or load_place(conn)
            new_id = raise_conflict(
                conn,
                ConflictDraft(
                    dedupe_key=f"qr_replay:{event.event_id}",
                    kind=ConflictKind.QR_REPLAY,
                    explanation=explain_qr_replay(
                        nonce=nonce,
                        member_id=event.member_id,
                        display_name=display_name(conn, event.member_id),
                        first=(first[0], place.kiosk_stores.get(first[0]), first[2]),
                        event=event,
                        place=place,
                    ),
                    member_id=event.member_id,
                    subject_id=nonce,
                    event_id=event.event_id,
                    kiosk_id=event.kiosk_id,
                    store_id=place.store_of(event),
                    store_ids=sorted(
                        {s for s in (place.kiosk_stores.get(first[0]), place.store_of(event)) if s}
                    ),
                    detail={"first_event_id": first[1], "first_kiosk_id": first[0]},
                ),
                now_ms,
            )
            if new_id:
                report.conflicts.append(new_id)
        return place

    def _consume_claims(self, conn: Connection, taps: list[tuple[Event, int]]) -> None:
        cc = schema.coupon_claims
        for event, _ in taps:
            body = event.body
            if isinstance(body, CouponRedeem) and body.claim_id:
                conn.execute(
                    sa.update(cc)
                    .where(cc.c.claim_id == body.claim_id, cc.c.status.in_(["granted", "expired"]))
                    .values(status="consumed", event_id=event.event_id)
                )


def _stored_under_new_id(conn: Connection, kiosk_id: str, seq: int, event_id: str) -> bool:
    """True when (kiosk, seq) holds this very event, stored under a fresh id because its own
    id was already taken (see ``duplicate_event_id``)."""
    ev = schema.events
    body = conn.execute(
        sa.select(ev.c.body).where(ev.c.source == kiosk_id, ev.c.seq == seq)
    ).scalar_one_or_none()
    return body is not None and event_from_row(body).event_id == event_id
