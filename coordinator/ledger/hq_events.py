"""The coordinator's own facts: events from source ``hq`` with their own gapless seq.

Passes sold, coupons issued, points expired, pass updates and audited adjustments are
events in the same table as the kiosks' facts and folded by the same function, so a
balance's audit trail is simply the member's events in order.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.clock import HlcSource
from coordinator.db import next_counter
from coordinator.ledger.conflicts import record_fold_conflicts
from coordinator.ledger.member_fold import FoldCheckpoints, FoldOutcome, fold_new_events
from coordinator.outbound.integration import publish_events
from coordinator.reports import rollups
from coordinator.reports.indexes import report_columns
from shared.events import HQ_SOURCE, Event, EventBody
from shared.model import Rules


@dataclass(frozen=True)
class HqFact:
    """One fact to record: about ``member_id``, optionally in a store."""

    member_id: str
    body: EventBody
    store_id: str | None = None


@dataclass
class HqResult:
    """Events recorded and what folding them did."""

    events: list[Event]
    outcomes: list[FoldOutcome]
    conflicts: list[str]


class HqRecorder:
    """Records hq events and folds them into the members' balances."""

    def __init__(
        self,
        *,
        hlc: HlcSource,
        rules_provider: Callable[[Connection], Rules],
        checkpoints: FoldCheckpoints | None = None,
    ):
        self._hlc = hlc
        self._rules = rules_provider
        self._checkpoints = checkpoints

    def record(self, conn: Connection, facts: Sequence[HqFact], now_ms: int) -> HqResult:
        """Record ``facts`` in order inside the caller's transaction (seq and fold included)."""
        if not facts:
            return HqResult([], [], [])
        last = next_counter(conn, "hq_seq", len(facts))
        first = last - len(facts) + 1
        events: list[Event] = []
        for offset, fact in enumerate(facts):
            stamp = self._hlc.now()
            events.append(
                Event(
                    event_id=uuid.uuid4().hex,
                    kiosk_id=HQ_SOURCE,
                    store_id=fact.store_id,
                    seq=first + offset,
                    hlc_ms=stamp.wall_ms,
                    hlc_c=stamp.counter,
                    wall_ms=now_ms,
                    member_id=fact.member_id,
                    offline=False,
                    body=fact.body,
                )
            )
        rows = [
            {
                "event_id": e.event_id,
                "source": HQ_SOURCE,
                "seq": e.seq,
                "store_id": e.store_id,
                "member_id": e.member_id,
                "kind": e.kind,
                "hlc_ms": e.hlc_ms,
                "hlc_c": e.hlc_c,
                "wall_ms": e.wall_ms,
                "received_ms": now_ms,
                "offline": False,
                "quarantined": False,
                "body": e.model_dump_json(),
                **report_columns(e),
            }
            for e in events
        ]
        conn.execute(sa.insert(schema.events), rows)
        rollups.add_events(conn, rows)
        publish_events(conn, events, now_ms)  # integrators' webhooks, with the facts
        by_member: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            assert event.member_id is not None
            by_member[event.member_id].append(event)
        outcomes = fold_new_events(
            conn, by_member, rules=self._rules(conn), now_ms=now_ms, checkpoints=self._checkpoints
        )
        conflicts = record_fold_conflicts(conn, outcomes, now_ms)
        return HqResult(events, outcomes, conflicts)
