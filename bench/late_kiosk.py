"""Late kiosk: the coordinator folding a kiosk's old events after newer ones of the same members.

Not one of issue 8's seven benchmarks (``run_all`` leaves it out); it measures the cost the
backlog-drain work found: a kiosk that was offline while another kiosk of the store kept
reporting for the same members. Every one of its batches lands *behind* events already
folded, so each member it touches must be recomputed to stay equal to the sorted reference
fold (``shared.fold.fold_sorted``).

Tapfleet: the coordinator's own ``Sequencer`` (as the ingest worker calls it, one
transaction per batch of 200, SQLite on this disk) applies kiosk A's 10,000 check-ins over
200 members, then kiosk B's 10,000 check-ins over the same members and the same period,
each slightly older than A's neighbouring ones. Timed: B's drain.

Baseline: A's drain in the same run: the same number of events folded incrementally.
The ratio is B's time over A's: about 14 before fold checkpoints, 3-4 with them; the
target (at most 6) is a regression guard, issue 8 sets none.
"""

from __future__ import annotations

import time
import uuid

from bench.common import Result, emit, parse_args, progress, rate, work_dir

NAME = "late_kiosk"
T0 = 1_795_000_000_000
SPAN_MS = 100 * 86_400_000
BATCH = 200


def run(events: int, members: int, keep: bool) -> Result:
    """Seed, drain A in order, drain B late; verify two members against the reference."""
    import sqlalchemy as sa

    from coordinator import schema
    from coordinator.db import Database
    from coordinator.ledger.jsonrows import ledger_from_row
    from coordinator.ledger.member_fold import member_events
    from coordinator.ledger.sequencer import KioskInfo
    from coordinator.runtime import Coordinator
    from coordinator.settings import CoordinatorSettings
    from shared.events import CheckIn, CredentialKind, CredentialRef, Event
    from shared.fold import fold
    from shared.model import MemberLedger
    from shared.protocol import EventBatch

    with work_dir(NAME, keep) as folder:
        db = Database(f"sqlite:///{folder / 'coordinator.db'}")
        db.migrate()
        coord = Coordinator(CoordinatorSettings(dev_mode=True, mqtt_enabled=False), database=db)
        coord.bootstrap()
        kiosks = {k: KioskInfo(k, "s1", False) for k in ("ka", "kb")}
        with db.write() as conn:
            conn.execute(
                sa.insert(schema.stores).values(
                    store_id="s1", name="s1", timezone="Asia/Shanghai", created_ms=T0
                )
            )
            for kiosk_id in kiosks:
                conn.execute(
                    sa.insert(schema.kiosks).values(
                        kiosk_id=kiosk_id,
                        store_id="s1",
                        name=kiosk_id,
                        revoked=False,
                        created_ms=T0,
                        applied_seq=0,
                        poisoned_count=0,
                    )
                )
                conn.execute(sa.insert(schema.kiosk_health).values(kiosk_id=kiosk_id))
            conn.execute(
                sa.insert(schema.members),
                [
                    {"member_id": f"m{i:04d}", "display_name": "X", "created_ms": T0}
                    for i in range(members)
                ],
            )
        card = CredentialRef(kind=CredentialKind.CARD, uid="04A1B2C3")

        def stream(kiosk_id: str, offset_ms: int) -> list[Event]:
            return [
                Event(
                    event_id=uuid.uuid4().hex,
                    kiosk_id=kiosk_id,
                    store_id="s1",
                    seq=i + 1,
                    hlc_ms=T0 + (i * SPAN_MS) // events + offset_ms,
                    wall_ms=T0 + (i * SPAN_MS) // events + offset_ms,
                    member_id=f"m{i % members:04d}",
                    offline=True,
                    credential=card,
                    body=CheckIn(points=10, reward_day="2026-11-25"),
                )
                for i in range(events)
            ]

        now = T0 + SPAN_MS + 1000

        def drain(batch_events: list[Event]) -> float:
            started = time.perf_counter()
            for i in range(0, len(batch_events), BATCH):
                batch = EventBatch(
                    kiosk_id=batch_events[0].kiosk_id, events=tuple(batch_events[i : i + BATCH])
                )
                with db.write() as conn:
                    coord.events.apply(conn, [(batch, now)], kiosks, now)
            return time.perf_counter() - started

        progress(NAME, f"kiosk A: {events:,} events over {members} members, in order")
        in_order = drain(stream("ka", 7))
        progress(NAME, f"kiosk B: {events:,} older events over the same members")
        late = drain(stream("kb", 3))
        with db.read() as conn:
            for member_id in ("m0000", f"m{members - 1:04d}"):
                stored = conn.execute(
                    sa.select(schema.member_states.c.ledger).where(
                        schema.member_states.c.member_id == member_id
                    )
                ).scalar_one()
                reference, _ = fold(MemberLedger(), member_events(conn, member_id))
                if ledger_from_row(stored) != reference:
                    raise RuntimeError(f"{member_id} differs from the reference fold")
        checkpoints = getattr(coord, "fold_checkpoints", None)  # None: older code
        hits = f"{checkpoints.hits:,}" if checkpoints is not None else "n/a"
        db.dispose()

    ratio = late / in_order
    return Result(
        name=NAME,
        tapfleet=(
            f"late kiosk's {events:,} events folded in {late:.2f} s "
            f"({rate(events, late):,.0f} events/s, every batch recomputing its {members} "
            f"members; checkpoint hits {hits}), reference fold verified"
        ),
        baseline=(
            f"the other kiosk's {events:,} events in order in {in_order:.2f} s "
            f"({rate(events, in_order):,.0f} events/s)"
        ),
        ratio=ratio,
        target="late <= 6x in order (regression guard; 14x before checkpoints)",
        passed=ratio <= 6,
    )


def main() -> None:
    """Entry point."""
    args = parse_args(__doc__ or NAME)
    emit(run(1_000, 50, args.keep) if args.quick else run(10_000, 200, args.keep))


if __name__ == "__main__":
    main()
