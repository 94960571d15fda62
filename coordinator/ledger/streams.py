"""Kiosk stream epochs: which ledger may speak for a kiosk id, and what a dead one lost.

A kiosk's stream is ``(kiosk_id, epoch, seq)``. Epoch 0 is every kiosk's first ledger (no
row here until something happens to it). Re-provisioning a kiosk id (a dead SD card, a
re-imaged Pi) closes the current epoch and opens the next one, which starts its seq above
everything the old ledger was heard to hold: a kiosk's seq stays unique across epochs, so
``(kiosk, seq)`` still identifies an event and the snapshots' ``included_seq`` keeps its
meaning. Seqs the old ledger was heard to hold (sync, heartbeat, held events) but never
delivered become **lost ranges**: reported on the kiosk's page and timeline, and stepped over
by the sequencer.

A ledger is judged at every sync (:func:`judge_sync`):

* a fresh ledger under a kiosk id whose stream is further on, or an older copy of the
  ledger, says a ``last_seq`` below the coordinator's ``applied_seq``: **refused**
  (``ledger_behind``) until staff re-provision the kiosk id;
* a ledger of another epoch than the current one: refused (``epoch_mismatch``);
* a fresh ledger (nothing recorded, epoch below the current one) of a kiosk id staff
  re-provisioned is handed the new epoch (``assign``), once, to that ledger only.

Refusals are recorded on the current epoch's row (the kiosk page shows them) and cleared by
the next sync that is in order. Nothing is silently accepted or silently dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.fleet import timeline

log = logging.getLogger(__name__)

STREAM_FACT = "stream"
"""The timeline fact of epoch changes, refusals and lost ranges."""


@dataclass(frozen=True)
class Stream:
    """A kiosk's current epoch as recorded (epoch 0 from seq 1 when there is no row)."""

    kiosk_id: str
    epoch: int
    start_seq: int
    heard_seq: int
    ledger_id: str | None
    refused_reason: str | None
    stored: bool


@dataclass(frozen=True)
class Verdict:
    """What the coordinator answers a ledger about its stream."""

    state: Literal["ok", "refused", "assign"]
    epoch: int
    applied_seq: int
    reason: str | None = None
    detail: str = ""
    start_seq: int | None = None


@dataclass(frozen=True)
class LostRange:
    """Seqs of a closed epoch that never arrived."""

    epoch: int
    first_seq: int
    last_seq: int

    @property
    def count(self) -> int:
        """How many events the range holds."""
        return self.last_seq - self.first_seq + 1


@dataclass(frozen=True)
class NewEpoch:
    """A re-provisioning's outcome."""

    kiosk_id: str
    epoch: int
    start_seq: int
    closed_epoch: int
    applied_seq: int
    lost: list[LostRange]


def current(conn: Connection, kiosk_id: str) -> Stream:
    """The kiosk's current (highest) epoch."""
    s = schema.kiosk_streams
    row = conn.execute(
        sa.select(s).where(s.c.kiosk_id == kiosk_id).order_by(s.c.epoch.desc()).limit(1)
    ).first()
    if row is None:
        return Stream(kiosk_id, 0, 1, 0, None, None, False)
    return Stream(
        kiosk_id,
        int(row.epoch),
        int(row.start_seq),
        int(row.heard_seq),
        row.ledger_id,
        row.refused_reason,
        True,
    )


def _ensure_row(conn: Connection, stream: Stream, now_ms: int) -> None:
    """Store the implicit epoch-0 row (a replica racing us may have stored it first)."""
    if stream.stored:
        return
    try:
        with conn.begin_nested():
            conn.execute(
                sa.insert(schema.kiosk_streams).values(
                    kiosk_id=stream.kiosk_id,
                    epoch=stream.epoch,
                    start_seq=stream.start_seq,
                    heard_seq=stream.heard_seq,
                    ledger_id=None,
                    opened_ms=now_ms,
                    opened_by="first_ledger",
                )
            )
    except sa.exc.IntegrityError:
        pass


def _applied_seq(conn: Connection, kiosk_id: str, *, lock: bool = False) -> int:
    k = schema.kiosks
    query = sa.select(k.c.applied_seq).where(k.c.kiosk_id == kiosk_id)
    if lock:
        query = query.with_for_update()
    return int(conn.execute(query).scalar_one())


def _set_heard(conn: Connection, stream: Stream, seq: int, now_ms: int) -> None:
    if seq <= stream.heard_seq:
        return
    _ensure_row(conn, stream, now_ms)
    s = schema.kiosk_streams
    conn.execute(
        sa.update(s)
        .where(s.c.kiosk_id == stream.kiosk_id, s.c.epoch == stream.epoch, s.c.heard_seq < seq)
        .values(heard_seq=seq)
    )


def _set_refusal(
    conn: Connection, stream: Stream, reason: str | None, detail: str, now_ms: int
) -> None:
    if reason is None and stream.refused_reason is None:
        return
    if reason == stream.refused_reason and reason is not None:
        return
    _ensure_row(conn, stream, now_ms)
    s = schema.kiosk_streams
    conn.execute(
        sa.update(s)
        .where(s.c.kiosk_id == stream.kiosk_id, s.c.epoch == stream.epoch)
        .values(
            refused_reason=reason,
            refused_detail=detail or None,
            refused_ms=now_ms if reason else None,
        )
    )
    timeline.insert(
        conn,
        [
            timeline.Change(
                stream.kiosk_id,
                STREAM_FACT,
                f"refused: {reason}" if reason else "accepted",
                f"refused: {stream.refused_reason}" if stream.refused_reason else None,
                now_ms,
                {"epoch": stream.epoch, "detail": detail} if reason else {"epoch": stream.epoch},
            )
        ],
    )


def judge_sync(
    conn: Connection,
    kiosk_id: str,
    *,
    epoch: int | None,
    ledger_id: str | None,
    last_seq: int,
    fresh: bool,
    now_ms: int,
    start_seq: int | None = None,
    restored: bool = False,
) -> Verdict:
    """Judge a connecting ledger (inside the caller's write transaction); records the outcome.

    ``epoch`` None is a build before epochs: judged as epoch 0 but only logged when out of
    order (it could not show a refusal). ``fresh`` says the ledger has recorded nothing;
    ``start_seq`` is where the ledger's epoch starts and ``restored`` whether this database
    was ever restored from a backup (only then may a ledger be ahead of it by an epoch).
    """
    applied = _applied_seq(conn, kiosk_id)
    stream = current(conn, kiosk_id)
    if epoch is None:
        if last_seq < applied:
            log.warning(
                "kiosk %s (a build without stream epochs) reports seq %d below applied %d: "
                "a fresh or older ledger; update its software and re-provision it",
                kiosk_id,
                last_seq,
                applied,
            )
        elif stream.epoch == 0:
            _set_heard(conn, stream, last_seq, now_ms)
        return Verdict("ok", stream.epoch, applied)

    claimable = stream.ledger_id is None or stream.ledger_id == ledger_id
    if (
        epoch > stream.epoch
        and start_seq is not None
        and start_seq > applied
        and ledger_id is not None
        and restored
    ):
        # A ledger of an epoch this database never opened: it was restored from a backup
        # taken before the re-provisioning. The ledger's word re-creates the epoch; what
        # lies between the restored stream and its start is lost (the old ledger is gone).
        open_epoch(conn, kiosk_id, by="restore", now_ms=now_ms, known=(epoch, start_seq, ledger_id))
        stream = current(conn, kiosk_id)
        applied = _applied_seq(conn, kiosk_id)

    if epoch < stream.epoch and fresh and ledger_id is not None and claimable:
        if stream.ledger_id is None:
            s = schema.kiosk_streams
            conn.execute(
                sa.update(s)
                .where(s.c.kiosk_id == kiosk_id, s.c.epoch == stream.epoch)
                .values(ledger_id=ledger_id)
            )
            timeline.insert(
                conn,
                [
                    timeline.Change(
                        kiosk_id,
                        STREAM_FACT,
                        f"epoch {stream.epoch} handed to a new ledger",
                        None,
                        now_ms,
                        {"ledger_id": ledger_id, "start_seq": stream.start_seq},
                    )
                ],
            )
            log.info(
                "kiosk %s: epoch %d (from seq %d) handed to ledger %s",
                kiosk_id,
                stream.epoch,
                stream.start_seq,
                ledger_id,
            )
        return Verdict("assign", stream.epoch, applied, start_seq=stream.start_seq)

    reason: str | None = None
    detail = ""
    if epoch != stream.epoch:
        reason = "epoch_mismatch"
        detail = (
            f"this ledger is of stream epoch {epoch}, the kiosk id's current epoch is "
            f"{stream.epoch}: re-provision the kiosk, then start it with an empty ledger"
        )
    elif stream.ledger_id is not None and ledger_id is not None and ledger_id != stream.ledger_id:
        reason = "foreign_ledger"
        detail = (
            f"epoch {epoch} belongs to another ledger file: re-provision the kiosk, then start "
            "it with an empty ledger"
        )
    elif last_seq < applied:
        reason = "ledger_behind"
        detail = (
            f"this ledger holds seq {last_seq} but the coordinator applied seq {applied} of "
            "this kiosk: a new or restored ledger; re-provision the kiosk on the dashboard"
        )
    if reason is not None:
        if stream.refused_reason != reason:
            log.warning("kiosk %s: stream refused (%s): %s", kiosk_id, reason, detail)
        _set_refusal(conn, stream, reason, detail, now_ms)
        return Verdict("refused", stream.epoch, applied, reason, detail[:200])
    _set_refusal(conn, stream, None, "", now_ms)
    _set_heard(conn, stream, last_seq, now_ms)
    return Verdict("ok", stream.epoch, applied)


def observe_heartbeat(
    conn: Connection, kiosk_id: str, epoch: int, last_seq: int, now_ms: int
) -> None:
    """Remember the highest seq a ledger of the current epoch says it holds."""
    stream = current(conn, kiosk_id)
    if epoch == stream.epoch and stream.refused_reason is None:
        _set_heard(conn, stream, last_seq, now_ms)


def observe_heartbeats(conn: Connection, beats: list[tuple[str, int, int, int]]) -> None:
    """:func:`observe_heartbeat` for a batch of (kiosk_id, epoch, last_seq, received_ms):
    one read of the kiosks' streams and one update for those whose heard seq moves."""
    if not beats:
        return
    s = schema.kiosk_streams
    kiosk_ids = sorted({kiosk_id for kiosk_id, *_ in beats})
    top: dict[str, Any] = {}
    for row in conn.execute(
        sa.select(s.c.kiosk_id, s.c.epoch, s.c.heard_seq, s.c.refused_reason).where(
            s.c.kiosk_id.in_(kiosk_ids)
        )
    ):
        if row.kiosk_id not in top or row.epoch > top[row.kiosk_id].epoch:
            top[row.kiosk_id] = row
    heard: dict[tuple[str, int], int] = {}
    for kiosk_id, epoch, last_seq, received_ms in beats:
        row = top.get(kiosk_id)
        if row is None:  # no stored stream yet (epoch 0): the one-by-one path stores it
            observe_heartbeat(conn, kiosk_id, epoch, last_seq, received_ms)
            continue
        if epoch == row.epoch and row.refused_reason is None and last_seq > row.heard_seq:
            key = (kiosk_id, int(row.epoch))
            heard[key] = max(heard.get(key, 0), last_seq)
    if heard:
        conn.execute(
            sa.update(s)
            .where(
                s.c.kiosk_id == sa.bindparam("k"),
                s.c.epoch == sa.bindparam("e"),
                s.c.heard_seq < sa.bindparam("seq"),
            )
            .values(heard_seq=sa.bindparam("seq")),
            [{"k": k, "e": e, "seq": seq} for (k, e), seq in sorted(heard.items())],
        )


def batch_refusal(conn: Connection, kiosk_id: str, epoch: int) -> str | None:
    """Why events of ``epoch`` cannot be applied for this kiosk, or None (caller holds the
    kiosk row lock)."""
    stream = current(conn, kiosk_id)
    if epoch != stream.epoch:
        return f"events of stream epoch {epoch} while the kiosk's current epoch is {stream.epoch}"
    return None


def lost_in(conn: Connection, kiosk_id: str, above_seq: int) -> list[LostRange]:
    """Lost ranges of the kiosk reaching above ``above_seq``, in seq order."""
    r = schema.lost_ranges
    rows = conn.execute(
        sa.select(r.c.epoch, r.c.first_seq, r.c.last_seq)
        .where(r.c.kiosk_id == kiosk_id, r.c.last_seq > above_seq)
        .order_by(r.c.first_seq)
    ).all()
    return [LostRange(int(x.epoch), int(x.first_seq), int(x.last_seq)) for x in rows]


def open_epoch(
    conn: Connection,
    kiosk_id: str,
    *,
    by: str,
    now_ms: int,
    known: tuple[int, int, str] | None = None,
) -> NewEpoch:
    """Close the kiosk's current epoch and open the next (inside the caller's transaction).

    The new epoch starts above the highest seq the old ledger was heard to hold; the seqs
    it was heard to hold but never delivered (neither applied nor held) are recorded as
    lost ranges. The next fresh ledger that connects under this kiosk id is handed the
    epoch (:func:`judge_sync`).

    ``known`` (epoch, start_seq, ledger_id) re-creates an epoch a ledger already holds but
    a database restored from a backup taken before its re-provisioning does not know.
    """
    applied = _applied_seq(conn, kiosk_id, lock=True)
    stream = current(conn, kiosk_id)
    h = schema.held_events
    held = sorted(
        int(s) for s in conn.execute(sa.select(h.c.seq).where(h.c.source == kiosk_id)).scalars()
    )
    already = {(x.first_seq, x.last_seq) for x in lost_in(conn, kiosk_id, applied)}
    heard = max([stream.heard_seq, applied, *held])
    if known is not None:
        heard = known[1] - 1
        held = [x for x in held if x <= heard]
    lost: list[LostRange] = []
    held_set = set(held)
    seq = applied + 1
    while seq <= heard:
        if seq in held_set:
            seq += 1
            continue
        first = seq
        while seq <= heard and seq not in held_set:
            seq += 1
        if not any(a <= first and seq - 1 <= b for a, b in already):
            lost.append(LostRange(stream.epoch, first, seq - 1))
    _ensure_row(conn, stream, now_ms)
    s = schema.kiosk_streams
    conn.execute(
        sa.update(s)
        .where(s.c.kiosk_id == kiosk_id, s.c.epoch == stream.epoch)
        .values(closed_ms=now_ms, closed_applied_seq=applied)
    )
    new_epoch = stream.epoch + 1 if known is None else known[0]
    start_seq = heard + 1
    conn.execute(
        sa.insert(s).values(
            kiosk_id=kiosk_id,
            epoch=new_epoch,
            start_seq=start_seq,
            heard_seq=heard,
            ledger_id=None if known is None else known[2],
            opened_ms=now_ms,
            opened_by=by,
        )
    )
    if lost:
        conn.execute(
            sa.insert(schema.lost_ranges),
            [
                {
                    "kiosk_id": kiosk_id,
                    "epoch": r.epoch,
                    "first_seq": r.first_seq,
                    "last_seq": r.last_seq,
                    "recorded_ms": now_ms,
                    "recorded_by": by,
                    "note": (
                        f"seq {r.first_seq}..{r.last_seq} of epoch {r.epoch}: the old ledger "
                        "reported them but never delivered them before it was replaced"
                    ),
                }
                for r in lost
            ],
        )
    if not held:
        # Nothing waits inside the gap: the stream continues right after it.
        conn.execute(
            sa.update(schema.kiosks)
            .where(schema.kiosks.c.kiosk_id == kiosk_id)
            .values(applied_seq=heard)
        )
    changes = [
        timeline.Change(
            kiosk_id,
            STREAM_FACT,
            f"epoch {new_epoch} opened from seq {start_seq}",
            f"epoch {stream.epoch}",
            now_ms,
            {"by": by, "applied_seq": applied, "heard_seq": heard},
        )
    ]
    changes.extend(
        timeline.Change(
            kiosk_id,
            STREAM_FACT,
            f"lost seq {r.first_seq}..{r.last_seq} ({r.count} events) of epoch {r.epoch}",
            None,
            now_ms,
            {"epoch": r.epoch, "first_seq": r.first_seq, "last_seq": r.last_seq},
        )
        for r in lost
    )
    timeline.insert(conn, changes)
    log.warning(
        "kiosk %s re-provisioned by %s: epoch %d closed at applied seq %d (heard %d), epoch %d "
        "starts at seq %d; lost: %s",
        kiosk_id,
        by,
        stream.epoch,
        applied,
        heard,
        new_epoch,
        start_seq,
        ", ".join(f"{r.first_seq}..{r.last_seq}" for r in lost) or "nothing",
    )
    return NewEpoch(kiosk_id, new_epoch, start_seq, stream.epoch, applied, lost)


def kiosk_streams(conn: Connection, kiosk_id: str) -> dict[str, Any]:
    """The kiosk's epochs (newest first) and lost ranges, for its page and the API."""
    s = schema.kiosk_streams
    r = schema.lost_ranges
    epochs = [
        {
            "epoch": int(row.epoch),
            "start_seq": int(row.start_seq),
            "heard_seq": int(row.heard_seq),
            "opened_ms": int(row.opened_ms),
            "opened_by": row.opened_by,
            "closed_ms": row.closed_ms,
            "closed_applied_seq": row.closed_applied_seq,
            "claimed": row.ledger_id is not None,
            "refused_reason": row.refused_reason,
            "refused_detail": row.refused_detail,
            "refused_ms": row.refused_ms,
        }
        for row in conn.execute(
            sa.select(s).where(s.c.kiosk_id == kiosk_id).order_by(s.c.epoch.desc())
        )
    ]
    lost = [
        {
            "epoch": int(row.epoch),
            "first_seq": int(row.first_seq),
            "last_seq": int(row.last_seq),
            "count": int(row.last_seq) - int(row.first_seq) + 1,
            "recorded_ms": int(row.recorded_ms),
            "recorded_by": row.recorded_by,
            "note": row.note,
        }
        for row in conn.execute(
            sa.select(r).where(r.c.kiosk_id == kiosk_id).order_by(r.c.first_seq)
        )
    ]
    return {"kiosk_id": kiosk_id, "epochs": epochs, "lost": lost}
