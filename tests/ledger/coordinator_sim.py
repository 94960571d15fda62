"""A simulated coordinator for the ledger property tests, plus the simple reference fold.

The coordinator keeps its own facts (``hq`` events: passes sold, coupons issued, audited
adjustments) and the kiosk events it has received, folds them with ``shared.fold`` into
member records, and sends them back as snapshots or deltas saying which seq of the kiosk
they include.

``reference_balances`` is deliberately *not* ``shared.fold``: plain sums over the same facts,
so the property test compares the kiosk against an independent model.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from shared.events import (
    HQ_SOURCE,
    Adjustment,
    CheckIn,
    ClassSignIn,
    CouponIssue,
    CouponRedeem,
    Event,
    EventBody,
    PassIssue,
    PointsRedeem,
    Reversal,
)
from shared.fold import fold
from shared.model import MemberRecord
from shared.protocol import MemberUpdate
from tests.ledger.builders import KIOSK, STORE


@dataclass
class Balances:
    """What the kiosk screen shows about a member, as plain numbers."""

    points: int
    checkins: int
    sessions_left: dict[str, int]
    unused_coupons: frozenset[str]


@dataclass
class Coordinator:
    """The fleet side, reduced to what the kiosk ledger sees of it."""

    initial: dict[str, MemberRecord]
    hq_events: list[Event] = field(default_factory=list)
    received: list[Event] = field(default_factory=list)
    version: int = 1

    @property
    def acked_seq(self) -> int:
        """Highest contiguous kiosk seq received."""
        return self.received[-1].seq if self.received else 0

    def hq(self, member_id: str, body: EventBody, at_ms: int) -> Event:
        """Record one of the coordinator's own facts."""
        event = Event(
            event_id=uuid.uuid4().hex,
            kiosk_id=HQ_SOURCE,
            seq=len(self.hq_events) + 1,
            hlc_ms=at_ms,
            wall_ms=at_ms,
            member_id=member_id,
            body=body,
        )
        self.hq_events.append(event)
        return event

    def receive(self, events: Sequence[Event]) -> None:
        """Events drained from the kiosk outbox (must continue the received seqs)."""
        for event in events:
            assert event.seq == self.acked_seq + 1, "outbox handed out a gap"
            self.received.append(event)

    def records(self) -> list[MemberRecord]:
        """Every member folded from hq facts and received kiosk events (arrival order)."""
        out = []
        for member_id, start in self.initial.items():
            mine = [e for e in self._arrival() if e.member_id == member_id]
            ledger, _ = fold(start.ledger, mine)
            out.append(start.model_copy(update={"ledger": ledger}))
        return out

    def _arrival(self) -> list[Event]:
        # hq facts and kiosk facts are additive for the balances compared here, so
        # a fixed order (hq first) is as good as the coordinator's HLC order.
        return [*self.hq_events, *self.received]

    def update(self, *, full: bool, chunk_size: int, base_version: int) -> list[MemberUpdate]:
        """The next version, as snapshot chunks or one delta on ``base_version``."""
        self.version += 1
        records = self.records()
        included = {KIOSK: self.acked_seq} if self.acked_seq else {}
        if not full:
            return [
                MemberUpdate(
                    store_id=STORE,
                    version=self.version,
                    base_version=base_version,
                    members=tuple(records),
                    included_seq=included,
                )
            ]
        chunks = max(1, -(-len(records) // chunk_size))
        return [
            MemberUpdate(
                store_id=STORE,
                version=self.version,
                full=True,
                chunk=i,
                chunks=chunks,
                members=tuple(records[i * chunk_size : (i + 1) * chunk_size]),
                included_seq=included,
            )
            for i in range(chunks)
        ]


def reference_balances(start: MemberRecord, events: Iterable[Event]) -> Balances:
    """Plain sums of what the facts say (no lots, no ordering)."""
    lots = start.ledger.points_lots
    points = sum(lot.remaining for lot in lots) - start.ledger.points_debt
    checkins = start.ledger.checkins
    used = {p.pass_id: p.sessions_used for p in start.ledger.passes}
    total = {p.pass_id: p.sessions_total for p in start.ledger.passes}
    coupon_uses = {c.coupon_id: c.redeem_count for c in start.ledger.coupons}
    for event in events:
        body = event.body
        if isinstance(body, CheckIn):
            checkins += 1
            points += body.points
        elif isinstance(body, ClassSignIn):
            used[body.pass_id] = used.get(body.pass_id, 0) + body.sessions
        elif isinstance(body, PointsRedeem):
            points -= body.points
        elif isinstance(body, CouponRedeem):
            coupon_uses[body.coupon_id] = coupon_uses.get(body.coupon_id, 0) + 1
        elif isinstance(body, Reversal):
            if body.target_kind == "checkin":
                checkins -= 1
                points -= body.points
            elif body.target_kind == "points_redeem":
                points += body.points
            elif body.target_kind == "class_signin" and body.pass_id:
                used[body.pass_id] -= body.sessions
            elif body.target_kind == "coupon_redeem" and body.coupon_id:
                coupon_uses[body.coupon_id] -= 1
        elif isinstance(body, Adjustment):
            points += body.points_delta
            if body.pass_id:
                used[body.pass_id] -= body.sessions_delta
        elif isinstance(body, PassIssue):
            used.setdefault(body.pass_state.pass_id, body.pass_state.sessions_used)
            total.setdefault(body.pass_state.pass_id, body.pass_state.sessions_total)
        elif isinstance(body, CouponIssue):
            coupon_uses.setdefault(body.coupon.coupon_id, body.coupon.redeem_count)
    return Balances(
        points=points,
        checkins=checkins,
        sessions_left={pid: total[pid] - used[pid] for pid in total},
        unused_coupons=frozenset(c for c, n in coupon_uses.items() if n == 0),
    )
