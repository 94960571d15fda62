"""Property test: random taps, redemptions, undos, coordinator snapshots, acks and restarts.

Whatever the sequence, the kiosk's balances equal a simple reference fold of the facts it
knows (hq facts in the last snapshot it applied + every event it recorded itself); journal
seqs are gapless and never reused; a class session is never paid twice; a deny-listed card
is never accepted; a QR nonce is never accepted twice.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import uuid
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from device.ledger import KioskLedger, TapOutcome, VerifiedQr, journal
from shared.decide import Accepted, ClaimOutcome, NeedsClaim
from shared.events import (
    REVERSIBLE_KINDS,
    Adjustment,
    CheckIn,
    ClassSignIn,
    CouponIssue,
    Event,
    PassIssue,
    Reversal,
)
from shared.model import DenyEntry, MemberLedger, PointsLot
from shared.protocol import DenyListUpdate, RuleBundleMessage
from shared.reasons import RejectReason
from tests.ledger.builders import FakeClock, open_ledger
from tests.ledger.coordinator_sim import Coordinator, reference_balances
from tests.support.factories import (
    DAY,
    HOUR,
    T0,
    bundle,
    coupon,
    member,
    punch_pass,
    time_pass,
    yoga_class,
)

MEMBERS = ("m0", "m1", "m2", "m3")
CARDS = {m: f"0{i}A0B0C0" for i, m in enumerate(MEMBERS)}
CLASSES = [
    yoga_class(f"yoga-d{d}", starts_ms=T0 + d * DAY + 10 * 60_000, class_type=kind)
    for d in range(8)
    for kind in ["yoga" if d % 3 else "spin"]
]


def _lot(points: int) -> tuple[PointsLot, ...]:
    return (
        PointsLot(
            lot_id="seed", earned_ms=T0 - DAY, expires_ms=T0 + 700 * DAY, amount=0, remaining=points
        ),
    )


def _initial() -> dict[str, object]:
    far = T0 + 300 * DAY
    return {
        "m0": member(
            "m0",
            cards=(CARDS["m0"],),
            ledger=MemberLedger(
                passes=(punch_pass("p0", 4, valid_until_ms=far),), points_lots=_lot(50)
            ),
        ),
        "m1": member("m1", cards=(CARDS["m1"],), ledger=MemberLedger(passes=(time_pass("t1"),))),
        "m2": member(
            "m2",
            cards=(CARDS["m2"],),
            ledger=MemberLedger(
                passes=(punch_pass("p2", 2, class_types=(), valid_until_ms=far),),
                coupons=(coupon("c2", store_ids=("s1",), valid_until_ms=far), coupon("c3")),
            ),
        ),
        "m3": member("m3", cards=(CARDS["m3"],), ledger=MemberLedger(points_lots=_lot(300))),
    }


class KioskLedgerMachine(RuleBasedStateMachine):
    """The kiosk ledger against a simulated coordinator and a reference model."""

    def __init__(self) -> None:
        super().__init__()
        # RAM-backed when available: hundreds of ledgers with synchronous=FULL on a real disk
        # would spend the test's time in fsync, which the crash test already exercises.
        shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
        self.dir = Path(tempfile.mkdtemp(prefix="tapfleet-ledger-prop-", dir=shm))
        self.path = self.dir / "ledger.db"
        self.clock = FakeClock()
        self.ledger: KioskLedger | None = None
        self.initial = _initial()
        self.coordinator = Coordinator(initial=dict(self.initial))  # type: ignore[arg-type]
        self.kiosk_version = 1
        self.hq_known: list[Event] = []
        self.events: list[Event] = []  # every event the kiosk returned, in order
        self.denied: set[str] = set()
        self.deny_version = 0
        self.tokens: list[VerifiedQr] = []
        self.online = False

    @initialize()
    def provision(self) -> None:
        self.ledger = open_ledger(self.path, self.clock)
        self.ledger.apply_rule_bundle(RuleBundleMessage(bundle=bundle(classes=CLASSES)))
        for message in self.coordinator.update(full=True, chunk_size=3, base_version=0):
            self.ledger.apply_member_update(message)
        self.kiosk_version = self.coordinator.version

    def teardown(self) -> None:
        if self.ledger is not None:
            self.ledger.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- helpers -----------------------------------------------------------------------------

    @property
    def led(self) -> KioskLedger:
        assert self.ledger is not None
        return self.ledger

    def _record(self, events: tuple[Event, ...]) -> None:
        for event in events:
            assert event.seq == len(self.events) + 1, "seq reused or skipped"
            self.events.append(event)

    def _summary_is_the_journals(self, outcome: TapOutcome) -> None:
        """A tap's summary (from the ledger its decision folded) is what folding the events
        it recorded gives, read back from the journal at the same instant."""
        if outcome.member is not None:
            assert outcome.member == self.led.member_summary(outcome.member.member_id)

    # --- member requests ---------------------------------------------------------------------

    @rule(member_id=st.sampled_from(MEMBERS), name_class=st.booleans())
    def tap_card(self, member_id: str, name_class: bool) -> None:
        day = max(0, (self.clock.now_ms - T0) // DAY)
        class_id = CLASSES[min(day, len(CLASSES) - 1)].class_session_id if name_class else None
        outcome = self.led.tap_card(CARDS[member_id], class_id)
        if CARDS[member_id] in self.denied:
            assert outcome.reason is RejectReason.CARD_REVOKED
        self._record(outcome.events)
        self._summary_is_the_journals(outcome)

    @rule(member_id=st.sampled_from(MEMBERS), replay=st.booleans())
    def tap_qr(self, member_id: str, replay: bool) -> None:
        if replay and self.tokens:
            claims = self.tokens[-1]  # a screenshot of an earlier code, shown again
        else:
            nonce = uuid.uuid4().hex[:16]
            claims = VerifiedQr(member_id, nonce, "k1", self.clock.now_ms + 60_000)
            replay = False
        outcome = self.led.tap_qr(claims)
        if replay:
            assert outcome.reason in (RejectReason.QR_REPLAYED, RejectReason.QR_EXPIRED)
        else:
            self.tokens.append(claims)
        self._record(outcome.events)
        self._summary_is_the_journals(outcome)

    @rule(member_id=st.sampled_from(MEMBERS), reward=st.sampled_from(["water", "towel", "gone"]))
    def redeem_points(self, member_id: str, reward: str) -> None:
        self._record(self.led.redeem_points(member_id, reward, staff_id="staff1").events)

    @rule(
        member_id=st.sampled_from(MEMBERS),
        coupon_id=st.sampled_from(["c2", "c3", "c9"]),
        grant=st.booleans(),
    )
    def redeem_coupon(self, member_id: str, coupon_id: str, grant: bool) -> None:
        outcome = self.led.redeem_coupon(member_id, coupon_id)
        if isinstance(outcome.decision, NeedsClaim):
            assert outcome.events == ()
            claim = ClaimOutcome(claim_id=uuid.uuid4().hex[:12], granted=grant)
            outcome = self.led.redeem_coupon(member_id, coupon_id, claim)
        self._record(outcome.events)

    @rule(pick=st.integers(min_value=0, max_value=50))
    def undo(self, pick: int) -> None:
        targets = [e for e in self.events if e.kind in REVERSIBLE_KINDS]
        if not targets:
            return
        target = targets[-1 - pick % len(targets)]
        outcome = self.led.reverse(target.event_id, "staff1")
        if any(
            isinstance(e.body, Reversal) and e.body.target_event_id == target.event_id
            for e in self.events
        ):
            assert outcome.reason is RejectReason.UNDO_NOT_ALLOWED
        self._record(outcome.events)

    # --- time, network, restarts ---------------------------------------------------------------

    @rule(step=st.sampled_from([30_000, 5 * 60_000, HOUR, 6 * HOUR, DAY, -HOUR]))
    def advance_clock(self, step: int) -> None:
        self.clock.advance(step)

    @rule(online=st.booleans())
    def set_online(self, online: bool) -> None:
        self.led.set_online(online)
        self.online = online

    @rule()
    def restart(self) -> None:
        self.led.close()
        self.ledger = open_ledger(self.path, self.clock)
        self.online = False

    # --- coordinator ---------------------------------------------------------------------------

    @rule(limit=st.integers(min_value=1, max_value=12))
    def drain_and_ack(self, limit: int) -> None:
        batch = self.led.pending_events(self.coordinator.acked_seq, limit)
        expected = self.events[self.coordinator.acked_seq : self.coordinator.acked_seq + limit]
        assert [e.event_id for e in batch] == [e.event_id for e in expected]
        self.coordinator.receive(batch)
        self.led.mark_acked(self.coordinator.acked_seq)
        self.led.mark_acked(self.coordinator.acked_seq - 1)  # stale acks are ignored
        assert self.led.outbox_stats().acked_seq == self.coordinator.acked_seq

    @rule(full=st.booleans(), chunk_size=st.integers(min_value=1, max_value=4))
    def push_members(self, full: bool, chunk_size: int) -> None:
        messages = self.coordinator.update(
            full=full, chunk_size=chunk_size, base_version=self.kiosk_version
        )
        outcomes = [self.led.apply_member_update(m) for m in messages]
        assert outcomes[-1] == "applied" and set(outcomes[:-1]) <= {"staged"}
        self.kiosk_version = self.coordinator.version
        self.hq_known = list(self.coordinator.hq_events)

    @rule(full=st.booleans())
    def push_stale_or_unbased(self, full: bool) -> None:
        before = self.led.versions().members
        if full:
            stale = self.coordinator.update(full=True, chunk_size=4, base_version=0)
            stale = [m.model_copy(update={"version": before - 1}) for m in stale]
            self.coordinator.version -= 1
            assert all(self.led.apply_member_update(m) == "ignored_old" for m in stale)
        else:
            wrong = self.coordinator.update(full=False, chunk_size=4, base_version=before - 1)
            self.coordinator.version -= 1
            wrong = [m.model_copy(update={"version": before + 5}) for m in wrong]
            assert self.led.apply_member_update(wrong[0]) == "need_sync"
        assert self.led.versions().members == before

    @rule(
        member_id=st.sampled_from(MEMBERS),
        kind=st.sampled_from(["pass", "coupon", "adjust"]),
        amount=st.integers(min_value=-30, max_value=60),
    )
    def hq_fact(self, member_id: str, kind: str, amount: int) -> None:
        n = len(self.coordinator.hq_events)
        if kind == "pass":
            body = PassIssue(
                pass_state=punch_pass(f"hp{n}", 3, class_types=(), valid_until_ms=T0 + 300 * DAY)
            )
        elif kind == "coupon":
            body = CouponIssue(coupon=coupon(f"hc{n}", valid_until_ms=T0 + 300 * DAY))
        else:
            body = Adjustment(staff_user="hq1", reason="goodwill", points_delta=amount)
        self.coordinator.hq(member_id, body, self.clock.now_ms)

    @precondition(lambda self: len(self.denied) < len(MEMBERS))
    @rule(member_id=st.sampled_from(MEMBERS))
    def revoke_card(self, member_id: str) -> None:
        uid = CARDS[member_id]
        update = DenyListUpdate(
            version=self.deny_version + 1,
            base_version=self.deny_version,
            added=(DenyEntry(uid=uid, revoked_ms=T0 - DAY, reason="lost"),),
        )
        assert self.led.apply_deny_update(update) == "applied"
        self.deny_version += 1
        self.denied.add(uid)

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def journal_is_the_events_returned(self) -> None:
        if self.ledger is None:
            return
        journal = self.led.journal_events(limit=10_000)
        assert [e.seq for e in journal] == list(range(1, len(journal) + 1))
        assert [e.event_id for e in journal] == [e.event_id for e in self.events]

    @invariant()
    def unconfirmed_totals_are_the_journal_sums_above_confirmed(self) -> None:
        """Kept incrementally; always what summing the journal would give."""
        if self.ledger is None:
            return
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            confirmed, sessions, points = conn.execute(
                "SELECT confirmed_seq, unconfirmed_sessions, unconfirmed_points FROM kiosk"
            ).fetchone()
            assert (sessions, points) == journal.unconfirmed_totals(conn, confirmed)
        finally:
            conn.close()

    @invariant()
    def balances_match_the_reference(self) -> None:
        if self.ledger is None:
            return
        for member_id in MEMBERS:
            facts = [e for e in (*self.hq_known, *self.events) if e.member_id == member_id]
            expected = reference_balances(self.initial[member_id], facts)  # type: ignore[arg-type]
            summary = self.led.member_summary(member_id)
            assert summary is not None
            assert summary.points_balance == expected.points, member_id
            assert summary.checkins == expected.checkins, member_id
            assert {p.pass_id: p.sessions_left for p in summary.passes} == expected.sessions_left
            assert {c.coupon_id for c in summary.coupons} == expected.unused_coupons

    @invariant()
    def no_class_paid_twice(self) -> None:
        paid: dict[tuple[str | None, str], int] = {}
        for e in self.events:
            if isinstance(e.body, ClassSignIn):
                key = (e.member_id, e.body.class_session_id)
                paid[key] = paid.get(key, 0) + 1
            elif isinstance(e.body, Reversal) and e.body.class_session_id:
                key = (e.member_id, e.body.class_session_id)
                paid[key] = paid.get(key, 0) - 1
        assert all(n in (0, 1) for n in paid.values()), paid

    @invariant()
    def no_second_checkin_within_the_double_tap_window(self) -> None:
        window_ms = bundle().rules.double_tap_window_s * 1000
        undone = {e.body.target_event_id for e in self.events if isinstance(e.body, Reversal)}
        last: dict[str | None, int] = {}
        for e in self.events:
            if isinstance(e.body, CheckIn) and e.event_id not in undone:
                previous = last.get(e.member_id)
                assert previous is None or e.hlc_ms - previous >= window_ms, e
                last[e.member_id] = e.hlc_ms


KioskLedgerMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestKioskLedger = KioskLedgerMachine.TestCase


def test_accepted_tap_outcome_carries_its_events(tmp_path: Path):
    """A smoke check of the pieces the machine relies on, so a failure there reads simply."""
    with open_ledger(tmp_path / "l.db", FakeClock()) as led:
        led.apply_rule_bundle(RuleBundleMessage(bundle=bundle(classes=CLASSES)))
        coordinator = Coordinator(initial=dict(_initial()))  # type: ignore[arg-type]
        for m in coordinator.update(full=True, chunk_size=2, base_version=0):
            led.apply_member_update(m)
        outcome = led.tap_card(CARDS["m2"])
        assert isinstance(outcome.decision, Accepted)
        assert [e.kind for e in outcome.events] == ["class_signin", "checkin"]
