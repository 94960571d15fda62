"""The stored-value overdraw bound, proven on the real kiosk ledger.

Several real :class:`KioskLedger` instances (each its own SQLite file) serve two members.
Hypothesis interleaves HQ top-ups and central charges, charges at the kiosks online and
offline (``KioskLedger.spend_stored_value``, the path the charge screen takes), outbox
drains, member snapshots and outages. Everything is delivered at the end; no member may
owe more than ``shared.money.worst_case_stored_value_overspend`` for that fleet size, and
every accepted charge must be a journal event the coordinator received exactly once.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from device.ledger import KioskLedger
from shared.decide import Accepted
from shared.events import HQ_SOURCE, Event, EventBody, StoredValueSpend, StoredValueTopUp
from shared.fold import fold_sorted
from shared.model import MemberLedger, MemberRecord
from shared.money import (
    MoneyRules,
    PaymentMethod,
    StoredValueLimits,
    worst_case_stored_value_overspend,
)
from shared.protocol import RuleBundleMessage
from tests.ledger.builders import FakeClock, snapshot
from tests.support.factories import T0, bundle, member

LIMITS = StoredValueLimits(
    max_unconfirmed_fen_per_member=6_000,
    max_offline_spend_fen=3_000,
    max_consecutive_offline_spends=2,
    kiosk_max_unconfirmed_fen=10_000,
)
RULES = MoneyRules(offline=LIMITS)
BUNDLE = bundle(money=RULES, points_per_checkin=0)
MEMBERS = ("m1", "m2")


@dataclass
class Kiosk:
    ledger: KioskLedger
    kiosk_id: str
    delivered: int = 0
    version: int = 1


@dataclass
class Central:
    """The coordinator reduced to its facts: its own events and what kiosks delivered."""

    events: list[Event] = field(default_factory=list)
    hq_seq: int = 0

    def hq(self, member_id: str, body: EventBody, now: int) -> None:
        self.hq_seq += 1
        self.events.append(
            Event(
                event_id=f"{self.hq_seq:032x}",
                kiosk_id=HQ_SOURCE,
                seq=self.hq_seq,
                hlc_ms=now,
                wall_ms=now,
                member_id=member_id,
                body=body,
            )
        )

    def ledger(self, member_id: str) -> MemberLedger:
        ledger, _ = fold_sorted(
            MemberLedger(), [e for e in self.events if e.member_id == member_id]
        )
        return ledger

    def records(self) -> list[MemberRecord]:
        return [member(m, cards=(), ledger=self.ledger(m)) for m in MEMBERS]


def deliver(kiosk: Kiosk, central: Central) -> None:
    events = kiosk.ledger.pending_events(kiosk.delivered, 1000)
    central.events.extend(events)
    if events:
        kiosk.delivered = events[-1].seq
        kiosk.ledger.mark_acked(kiosk.delivered)


def push_snapshot(kiosk: Kiosk, central: Central) -> None:
    kiosk.version += 1
    for message in snapshot(
        central.records(), kiosk.version, included_seq=kiosk.delivered, kiosk_id=kiosk.kiosk_id
    ):
        kiosk.ledger.apply_member_update(message)


def play(root: Path, n_kiosks: int, actions: list[tuple[str, int, int]]) -> tuple[int, int]:
    """Run the fleet; returns (largest principal debt, accepted kiosk charges)."""
    clock = FakeClock(T0)
    central = Central()
    for member_id in MEMBERS:
        central.hq(
            member_id,
            StoredValueTopUp(paid_fen=8_000, method=PaymentMethod.CASH, staff_user="hq"),
            clock.now_ms,
        )
    kiosks: list[Kiosk] = []
    for i in range(n_kiosks):
        ledger = KioskLedger.open(root / f"k{i}.db", kiosk_id=f"k{i}", store_id="s1", clock=clock)
        ledger.apply_rule_bundle(RuleBundleMessage(bundle=BUNDLE))
        ledger.set_online(True)
        kiosks.append(Kiosk(ledger, f"k{i}"))
        push_snapshot(kiosks[-1], central)
    accepted = 0
    try:
        for action, index, amount in actions:
            clock.advance(60_000)
            kiosk = kiosks[index % n_kiosks]
            member_id = MEMBERS[(index // n_kiosks) % len(MEMBERS)]
            value = central.ledger(member_id).stored_value
            if action == "spend":
                outcome = kiosk.ledger.spend_stored_value(member_id, amount, purpose="drink")
                if isinstance(outcome.decision, Accepted):
                    accepted += 1
                    assert outcome.member is not None
                    assert outcome.member.stored_value_fen >= 0  # never overdrawn in its view
            elif action == "topup" and value.principal_fen + amount <= RULES.member_cap_fen:
                central.hq(
                    member_id,
                    StoredValueTopUp(paid_fen=amount, method=PaymentMethod.CARD, staff_user="hq"),
                    clock.now_ms,
                )
            elif action == "charge" and value.available_fen(clock.now_ms) >= amount:
                central.hq(member_id, StoredValueSpend(amount_fen=amount), clock.now_ms)
            elif action == "toggle":
                kiosk.ledger.set_online(not kiosk.ledger.online)
            elif action == "deliver" and kiosk.ledger.online:
                deliver(kiosk, central)
            elif action == "snapshot" and kiosk.ledger.online:
                push_snapshot(kiosk, central)
        for kiosk in kiosks:
            deliver(kiosk, central)
    finally:
        for kiosk in kiosks:
            kiosk.ledger.close()
    spends = [e for e in central.events if e.kind == "sv_spend" and e.kiosk_id != HQ_SOURCE]
    assert len(spends) == accepted == len({e.event_id for e in spends})
    return max(max(0, -central.ledger(m).stored_value.principal_fen) for m in MEMBERS), accepted


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(
            ["spend", "spend", "spend", "topup", "charge", "toggle", "deliver", "snapshot"]
        ),
        st.integers(0, 7),
        st.sampled_from([500, 1_000, 2_000, 3_000, 4_000]),
    ),
    min_size=5,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3), actions=ACTIONS)
def test_real_kiosks_never_overdraw_beyond_the_bound(
    n: int, actions: list[tuple[str, int, int]]
) -> None:
    with tempfile.TemporaryDirectory() as root:
        over, _ = play(Path(root), n, actions)
    assert over <= worst_case_stored_value_overspend(RULES, n)


def test_two_offline_kiosks_and_a_central_charge_reach_the_bound(tmp_path: Path) -> None:
    actions = [("toggle", 0, 0), ("toggle", 1, 0)]
    actions += [("spend", k, 3_000) for k in (0, 1) for _ in range(2)]
    # A third offline spend at one kiosk is refused (consecutive offline spends).
    actions += [("spend", 0, 500), ("charge", 0, 8_000)]
    over, accepted = play(tmp_path, 2, actions)
    assert accepted == 4
    assert over == worst_case_stored_value_overspend(RULES, 2) == 12_000
