"""The central ledger without MQTT, on SQLite and (when reachable) PostgreSQL.

Everything here drives the same objects the ingest worker uses (``Sequencer``,
``HqRecorder``, member pushes, claims, deny-list, housekeeping) inside real transactions.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from coordinator import schema
from coordinator.db import Database, read_counter
from coordinator.downstream import member_deltas as member_push
from coordinator.errors import ApiError
from coordinator.ledger import coupon_claims as claims
from coordinator.ledger import deny_list, housekeeping
from coordinator.ledger.conflicts import anomaly_key
from coordinator.ledger.hq_events import HqFact
from coordinator.ledger.jsonrows import event_from_row, ledger_from_row
from coordinator.ledger.resolution import Decision, resolve
from coordinator.ledger.sequencer import KioskInfo, StreamReport
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal, Role
from coordinator.services import passes
from coordinator.settings import CoordinatorSettings
from shared.events import (
    Adjustment,
    CheckIn,
    ClassSignIn,
    CouponIssue,
    CouponRedeem,
    CredentialKind,
    CredentialRef,
    Event,
    EventBody,
    PassIssue,
    PointsRedeem,
)
from shared.fold import DAY_MS, fold_sorted
from shared.hlc import HLC
from shared.model import DenyEntry, MemberLedger, RuleBundle, Rules, TierRule
from shared.protocol import CouponClaim, EventBatch
from shared.reasons import RejectReason
from tests.support.factories import coupon, first_use_pass, punch_pass

T0 = 1_795_000_000_000


class FakeClock:
    """A clock the test moves."""

    def __init__(self, now: int = T0):
        self.now = now

    def wall_ms(self) -> int:
        return self.now


@dataclass
class Ledger:
    """A coordinator's ledger objects on one database, not started (no threads, no MQTT)."""

    coord: Coordinator
    clock: FakeClock
    kiosks: dict[str, KioskInfo]

    @property
    def db(self) -> Database:
        return self.coord.db

    def apply(self, *events: Event, received_ms: int | None = None) -> StreamReport:
        """Apply events as batches (one per kiosk, in the order given) in one transaction."""
        batches: dict[str, list[Event]] = {}
        for event in events:
            batches.setdefault(event.kiosk_id, []).append(event)
        received = received_ms if received_ms is not None else self.clock.now
        with self.db.write() as conn:
            return self.coord.events.apply(
                conn,
                [(EventBatch(kiosk_id=k, events=tuple(es)), received) for k, es in batches.items()],
                self.kiosks,
                self.clock.now,
            )

    def hq(self, member_id: str, *bodies: EventBody) -> list[Event]:
        with self.db.write() as conn:
            result = self.coord.recorder.record(
                conn, [HqFact(member_id, body) for body in bodies], self.clock.now
            )
        return result.events

    def central(self, member_id: str) -> MemberLedger:
        with self.db.read() as conn:
            return ledger_from_row(
                conn.execute(
                    sa.select(schema.member_states.c.ledger).where(
                        schema.member_states.c.member_id == member_id
                    )
                ).scalar_one()
            )

    def stored(self, member_id: str | None = None) -> list[Event]:
        ev = schema.events
        query = sa.select(ev.c.body).where(ev.c.quarantined.is_(False))
        if member_id:
            query = query.where(ev.c.member_id == member_id)
        with self.db.read() as conn:
            return [event_from_row(b) for b in conn.execute(query).scalars()]

    def conflicts(self, status: str | None = "open") -> list[sa.Row]:
        c = schema.conflicts
        query = sa.select(c)
        if status:
            query = query.where(c.c.status == status)
        with self.db.read() as conn:
            return list(conn.execute(query))


@pytest.fixture
def ledger(database: Database) -> Iterator[Ledger]:
    yield make_ledger(database)


def make_ledger(database: Database, **settings: object) -> Ledger:
    """A migrated ledger with stores s1 (k1, k2) and s2 (k3) and members m1, m2."""
    clock = FakeClock()
    coord = Coordinator(
        CoordinatorSettings(
            dev_mode=True,
            mqtt_enabled=False,
            max_held_per_kiosk=3,
            **settings,  # type: ignore[arg-type]
        ),
        clock=clock,
        database=database,
    )
    database.migrate()
    coord.bootstrap()
    kiosks = {"k1": "s1", "k2": "s1", "k3": "s2"}
    with database.write() as conn:
        for store in ("s1", "s2"):
            conn.execute(
                sa.insert(schema.stores).values(
                    store_id=store, name=f"Store {store}", timezone="Asia/Shanghai", created_ms=T0
                )
            )
        for kiosk_id, store in kiosks.items():
            conn.execute(
                sa.insert(schema.kiosks).values(
                    kiosk_id=kiosk_id,
                    store_id=store,
                    name=kiosk_id,
                    revoked=False,
                    created_ms=T0,
                    applied_seq=0,
                    poisoned_count=0,
                )
            )
            conn.execute(sa.insert(schema.kiosk_health).values(kiosk_id=kiosk_id))
        for member_id in ("m1", "m2"):
            conn.execute(
                sa.insert(schema.members).values(
                    member_id=member_id, display_name=member_id.upper(), created_ms=T0
                )
            )
    return Ledger(coord, clock, {k: KioskInfo(k, s, False) for k, s in kiosks.items()})


def ev(
    kiosk_id: str,
    seq: int,
    body: EventBody,
    *,
    member_id: str | None = "m1",
    at: int | None = None,
    offline: bool = True,
    credential: CredentialRef | None = None,
    store_id: str | None = None,
) -> Event:
    at = T0 + seq * 1000 if at is None else at
    return Event(
        event_id=uuid.uuid4().hex,
        kiosk_id=kiosk_id,
        store_id=store_id or {"k1": "s1", "k2": "s1", "k3": "s2"}[kiosk_id],
        seq=seq,
        hlc_ms=at,
        wall_ms=at,
        member_id=member_id,
        offline=offline,
        credential=credential,
        body=body,
    )


def _mixed_streams(rng: random.Random) -> dict[str, list[Event]]:
    """Three kiosks using the same pass, coupon and points, interleaved in time."""
    streams: dict[str, list[Event]] = {}
    for kiosk_id, offset in (("k1", 0), ("k2", 300), ("k3", 600)):
        events: list[Event] = []
        for seq in range(1, 9):
            at = T0 + seq * 1000 + offset + rng.randrange(200)
            member = rng.choice(["m1", "m2"])
            body: EventBody = rng.choice(
                [
                    CheckIn(points=40),
                    ClassSignIn(
                        class_session_id=f"c{kiosk_id}{seq}", class_type="yoga", pass_id="p1"
                    ),
                    PointsRedeem(points=30),
                    CouponRedeem(coupon_id="c1"),
                ]
            )
            events.append(ev(kiosk_id, seq, body, member_id=member, at=at))
        streams[kiosk_id] = events
    return streams


def test_any_arrival_order_gives_the_reference_fold_and_its_conflicts(ledger: Ledger) -> None:
    for member_id in ("m1", "m2"):
        ledger.hq(
            member_id,
            PassIssue(
                pass_state=punch_pass(
                    "p1", 6, valid_from_ms=T0 - DAY_MS, valid_until_ms=T0 + DAY_MS
                )
            ),
            CouponIssue(coupon=coupon("c1", valid_from_ms=T0 - DAY_MS, valid_until_ms=T0 + DAY_MS)),
        )
    rng = random.Random(11)
    streams = _mixed_streams(rng)
    # Deliver in random groups: every event at least once, some twice, kiosks interleaved,
    # each kiosk's own events shuffled (gaps are held until filled).
    deliveries = [e for events in streams.values() for e in events]
    deliveries += rng.sample(deliveries, 8)
    rng.shuffle(deliveries)
    reports = []
    while deliveries:
        n = rng.randrange(1, 6)
        group, deliveries = deliveries[:n], deliveries[n:]
        reports.append(ledger.apply(*group))
    for events in streams.values():
        reports.append(ledger.apply(*events))  # the kiosks' final resend
    assert sum(r.duplicates for r in reports) > 0
    assert sum(r.held for r in reports) > 0
    assert sum(r.recomputed_members for r in reports) > 0

    stored = ledger.stored()
    kiosk_ids = sorted(e.event_id for es in streams.values() for e in es)
    assert sorted(e.event_id for e in stored if e.kiosk_id != "hq") == kiosk_ids
    expected_keys: set[str] = set()
    for member_id in ("m1", "m2"):
        reference, anomalies = fold_sorted(MemberLedger(), ledger.stored(member_id))
        assert ledger.central(member_id) == reference
        expected_keys |= {anomaly_key(a) for a in anomalies}
    open_keys = {c.dedupe_key for c in ledger.conflicts() if ":" in c.dedupe_key and c.kind in {
        "pass_overdrawn", "coupon_reused", "points_overdrawn", "pass_unknown", "coupon_unknown",
        "pass_invalid_at_use", "coupon_invalid_at_use"}}  # fmt: skip
    assert open_keys == expected_keys
    assert expected_keys, "the scenario should overdraw something"
    # Nothing was raised twice (unique keys), and applying everything again changes nothing.
    before = (ledger.central("m1"), len(ledger.conflicts(None)))
    for events in streams.values():
        assert ledger.apply(*events).applied == 0
    assert (ledger.central("m1"), len(ledger.conflicts(None))) == before


def test_late_event_moves_an_anomaly_and_withdraws_the_stale_conflict(ledger: Ledger) -> None:
    ledger.hq(
        "m1",
        CouponIssue(coupon=coupon("c1", valid_from_ms=T0 - DAY_MS, valid_until_ms=T0 + DAY_MS)),
    )
    later = ev("k3", 1, CouponRedeem(coupon_id="c1"), at=T0 + 5000)
    earlier = ev("k1", 1, CouponRedeem(coupon_id="c1"), at=T0 + 1000)
    ledger.apply(later)
    ledger.apply(earlier)  # sorts first: the *later* one becomes the reuse
    [open_conflict] = ledger.conflicts()
    assert open_conflict.event_id == later.event_id and open_conflict.kind == "coupon_reused"

    # A reversal-free example of withdrawal: an event at k2 sorts before both, making the
    # earlier redemption the reuse as well -> two open conflicts, none stale.
    first = ev("k2", 1, CouponRedeem(coupon_id="c1"), at=T0 + 10)
    ledger.apply(first)
    assert sorted(c.event_id for c in ledger.conflicts()) == sorted(
        [earlier.event_id, later.event_id]
    )
    assert ledger.central("m1") == fold_sorted(MemberLedger(), ledger.stored("m1"))[0]


def test_gap_is_held_bounded_and_filled(ledger: Ledger) -> None:
    events = [ev("k1", s, CheckIn(points=1)) for s in range(1, 8)]
    report = ledger.apply(*events[1:])  # 2..7 without 1; at most 3 are held
    assert report.acks["k1"] == (0, 1)
    assert report.held == 3
    assert [r[1] for r in report.rejects] == ["held_overflow"] * 3
    report = ledger.apply(events[0])
    assert report.acks["k1"] == (4, None)
    report = ledger.apply(*events[4:])
    assert report.acks["k1"] == (7, None)
    assert ledger.central("m1").points_earned_total == 7
    with ledger.db.read() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(schema.held_events)).scalar_one()
            == 0
        )


def test_poisoned_seq_keeps_the_first_event(ledger: Ledger) -> None:
    good = ev("k1", 1, CheckIn(points=5))
    ledger.apply(good)
    bad = ev("k1", 1, CheckIn(points=500))
    held_good = ev("k1", 3, CheckIn(points=1))
    held_bad = ev("k1", 3, CheckIn(points=900))
    report = ledger.apply(bad, held_good)
    report2 = ledger.apply(held_bad)
    assert [r[1] for r in report.rejects + report2.rejects] == ["poisoned_seq", "poisoned_seq"]
    ledger.apply(ev("k1", 2, CheckIn(points=2)))
    assert ledger.central("m1").points_earned_total == 8
    assert {c.kind for c in ledger.conflicts()} == {"poisoned_seq"}


def test_reused_event_id_is_quarantined_and_stream_continues(ledger: Ledger) -> None:
    original = ev("k1", 1, CheckIn(points=5))
    ledger.apply(original)
    clash = ev("k2", 1, CheckIn(points=7)).model_copy(update={"event_id": original.event_id})
    report = ledger.apply(clash, ev("k2", 2, CheckIn(points=1)))
    assert report.acks["k2"] == (2, None)
    assert ledger.central("m1").points_earned_total == 6
    [conflict] = ledger.conflicts()
    assert conflict.kind == "duplicate_event_id" and "k1 seq 1" in conflict.explanation
    # The same clashing event redelivered is a plain duplicate, not a new poisoning.
    again = ledger.apply(clash)
    assert again.duplicates == 1 and not again.rejects


def test_member_push_says_exactly_which_seq_it_includes(ledger: Ledger) -> None:
    ledger.apply(ev("k1", 1, CheckIn(points=3)), ev("k1", 2, CheckIn(points=4)))
    ledger.apply(ev("k1", 4, CheckIn(points=100)))  # held behind the gap at 3
    with ledger.db.write() as conn:
        updates = [u.message() for u in member_push.collect_push(conn, HLC(T0, 0))]
    by_store = {u.store_id: u for u in updates}
    assert set(by_store) == {"s1", "s2"}
    s1 = by_store["s1"]
    assert s1.included_seq == {"k1": 2, "k2": 0}
    assert by_store["s2"].included_seq == {"k3": 0}
    record = next(r for r in s1.members if r.member_id == "m1")
    assert record.ledger.points_earned_total == 7  # seq 1 and 2 folded, the held 4 not
    assert s1.base_version + 1 == s1.version
    with ledger.db.write() as conn:
        assert member_push.collect_push(conn, HLC(T0, 1)) == []  # nothing changed since


def test_catch_up_chooses_delta_or_chunked_snapshot(ledger: Ledger) -> None:
    with ledger.db.write() as conn:
        conn.execute(
            sa.insert(schema.members),
            [
                {"member_id": f"x{i:05d}", "display_name": "X", "created_ms": T0}
                for i in range(2100)
            ],
        )
        from coordinator.ledger.member_fold import mark_changed

        mark_changed(conn, [f"x{i:05d}" for i in range(2100)], T0)
    pushed = []
    while True:
        with ledger.db.write() as conn:
            got = member_push.collect_push(conn, HLC(T0, 0))
        if not got:
            break
        pushed.append(got)
    assert len(pushed) == 2  # more changed members than one delta may carry
    with ledger.db.write() as conn:
        current = read_counter(conn, "members_version")
        snapshot = member_push.catch_up(conn, "s1", 0, max_delta_members=100, hlc=HLC(T0, 0))
        delta = member_push.catch_up(
            conn, "s1", current - 1, max_delta_members=5000, hlc=HLC(T0, 0)
        )
        nothing = member_push.catch_up(conn, "s1", current, max_delta_members=100, hlc=HLC(T0, 0))
        ahead = member_push.catch_up(
            conn, "s1", current + 50, max_delta_members=100, hlc=HLC(T0, 0)
        )
    assert [u.chunk for u in snapshot] == [0, 1] and {u.chunks for u in snapshot} == {2}
    assert all(u.full and u.version == current for u in snapshot)
    assert len(snapshot[0].members) == 2000
    assert sorted(r.member_id for u in snapshot for r in u.members) == sorted(
        ["m1", "m2"] + [f"x{i:05d}" for i in range(2100)]
    )
    [d] = delta
    assert not d.full and d.base_version == current - 1 and len(d.members) == 100
    assert nothing == []
    # A kiosk ahead of us (restored database): our counter jumps past it, full snapshot.
    assert ahead[0].full and ahead[0].version == current + 51


def test_deny_list_deltas_and_full_list(ledger: Ledger) -> None:
    with ledger.db.write() as conn:
        first = deny_list.change(conn, [DenyEntry(uid="04A1B2C3", revoked_ms=T0)], [])
        second = deny_list.change(conn, [DenyEntry(uid="04A1B2C4", revoked_ms=T0)], ["04A1B2C3"])
    assert (first.version, second.base_version, second.version) == (1, 1, 2)
    with ledger.db.write() as conn:
        delta = deny_list.catch_up(conn, 1)
        full = deny_list.catch_up(conn, 0)
        none = deny_list.catch_up(conn, 2)
    assert delta is not None and [e.uid for e in delta.added] == ["04A1B2C4"]
    assert delta.removed == ("04A1B2C3",) and delta.base_version == 1
    assert full is not None and full.full and [e.uid for e in full.added] == ["04A1B2C4"]
    assert none is None


def test_coupon_claims(ledger: Ledger) -> None:
    ledger.hq(
        "m1",
        CouponIssue(
            coupon=coupon(
                "c1", store_ids=("s1",), valid_from_ms=T0 - DAY_MS, valid_until_ms=T0 + DAY_MS
            )
        ),
    )

    def ask(
        claim_id: str, store: str = "s1", coupon_id: str = "c1"
    ) -> tuple[bool, RejectReason | None]:
        with ledger.db.write() as conn:
            result = claims.decide_claim(
                conn,
                CouponClaim(kiosk_id="k1", claim_id=claim_id, member_id="m1", coupon_id=coupon_id),
                store,
                ledger.clock.now,
                60_000,
            )
        return result.granted, result.reason

    assert ask("a") == (True, None)
    assert ask("a") == (True, None)  # same claim, same answer
    assert ask("b") == (False, RejectReason.COUPON_USED)  # live claim held by "a"
    assert ask("c", store="s2") == (False, RejectReason.COUPON_WRONG_STORE)
    assert ask("d", coupon_id="nope") == (False, RejectReason.COUPON_NOT_FOUND)
    ledger.clock.now += 61_000  # claim "a" lapses: its redemption never arrived
    with ledger.db.write() as conn:
        assert claims.expire_claims(conn, ledger.clock.now) == 1
    assert ask("e") == (True, None)
    ledger.apply(ev("k1", 1, CouponRedeem(coupon_id="c1", claim_id="e"), at=ledger.clock.now))
    assert ask("f") == (False, RejectReason.COUPON_USED)  # the ledger shows it used
    with ledger.db.read() as conn:
        status = conn.execute(
            sa.select(schema.coupon_claims.c.status).where(schema.coupon_claims.c.claim_id == "e")
        ).scalar_one()
    assert status == "consumed"


def test_points_expire_centrally_and_tiers_follow_earnings(ledger: Ledger) -> None:
    rules = Rules(
        tiers=(
            TierRule(name="basic", min_points_earned=0),
            TierRule(name="silver", min_points_earned=100),
        ),
        tier_window_days=30,
    )
    with ledger.db.write() as conn:
        from coordinator.downstream import rule_bundles

        draft = rule_bundles.create_draft(
            conn, RuleBundle(version=0, rules=rules), note="", user="t", now_ms=T0
        )
        rule_bundles.publish(conn, draft, store_ids=(), user="t", now_ms=T0)
    ledger.apply(ev("k1", 1, CheckIn(points=120, points_expires_ms=T0 + 10 * DAY_MS), at=T0))
    with ledger.db.read() as conn:
        tier = conn.execute(
            sa.select(schema.member_states.c.tier).where(schema.member_states.c.member_id == "m1")
        ).scalar_one()
    assert tier == "silver"
    ledger.apply(ev("k1", 2, PointsRedeem(points=100), at=T0 + 1000))
    assert ledger.central("m1").points_available(T0 + 2000) == 20

    ledger.clock.now = T0 + 11 * DAY_MS
    housekeeping.run_once(
        ledger.db, ledger.coord.recorder, ledger.coord.rules, ledger.clock.now, ""
    )
    central = ledger.central("m1")
    assert central.points_available(ledger.clock.now) == 0
    assert [e.kind for e in ledger.stored("m1") if e.kiosk_id == "hq"] == ["points_expire"]
    # Redeeming did not demote; leaving the 30-day window does.
    ledger.clock.now = T0 + 31 * DAY_MS
    report = housekeeping.run_once(
        ledger.db, ledger.coord.recorder, ledger.coord.rules, ledger.clock.now, ""
    )
    assert report.tiers_changed == 1
    with ledger.db.read() as conn:
        row = conn.execute(
            sa.select(schema.member_states).where(schema.member_states.c.member_id == "m1")
        ).one()
    assert row.tier == "basic" and row.dirty is True and row.next_expiry_ms is None


def test_clock_skew_revoked_card_and_qr_replay_are_flagged(ledger: Ledger) -> None:
    with ledger.db.write() as conn:
        conn.execute(
            sa.insert(schema.cards).values(
                uid="04A1B2C3", member_id="m1", status="lost", bound_ms=T0, revoked_ms=T0
            )
        )
        deny_list.change(conn, [DenyEntry(uid="04A1B2C3", revoked_ms=T0 + 500)], [])
    card = CredentialRef(kind=CredentialKind.CARD, uid="04A1B2C3")
    qr = CredentialRef(kind=CredentialKind.QR, qr_nonce="nonce-12345", qr_key_id="k1")
    hour = 3_600_000
    ledger.apply(
        ev("k1", 1, CheckIn(), at=T0, credential=card),  # before revocation: fine
        ev("k1", 2, CheckIn(), at=T0 + 1000, credential=card),  # after: flagged
        ev("k1", 3, CheckIn(), at=T0 + 2000, credential=qr),
        ev("k1", 4, CheckIn(), at=T0 + 2001, credential=qr),  # same scan, same kiosk: fine
        received_ms=T0 + 3000,
    )
    ledger.apply(ev("k3", 1, CheckIn(), at=T0 + 2500, credential=qr), received_ms=T0 + 3000)
    # Online events stamped an hour in the future: one conflict, counted twice.
    ledger.apply(
        ev("k2", 1, CheckIn(), at=T0 + hour, offline=False),
        ev("k2", 2, CheckIn(), at=T0 + hour + 1, offline=False),
        received_ms=T0 + 3000,
    )
    kinds = sorted(c.kind for c in ledger.conflicts())
    assert kinds == ["card_revoked_used", "clock_skew", "qr_replay"]
    skew = next(c for c in ledger.conflicts() if c.kind == "clock_skew")
    assert skew.occurrences == 2 and skew.kiosk_id == "k2" and "ahead of" in skew.explanation
    replay = next(c for c in ledger.conflicts() if c.kind == "qr_replay")
    assert "kiosk k1" in replay.explanation and "kiosk k3" in replay.explanation


def test_hq_seq_is_gapless_even_across_rollbacks(ledger: Ledger) -> None:
    ledger.hq("m1", CheckIn(points=1), CheckIn(points=2))
    with pytest.raises(RuntimeError), ledger.db.write() as conn:
        ledger.coord.recorder.record(conn, [HqFact("m1", CheckIn(points=3))], ledger.clock.now)
        raise RuntimeError("rolled back")
    ledger.hq("m2", CheckIn(points=4))
    seqs = sorted(e.seq for e in ledger.stored() if e.kiosk_id == "hq")
    assert seqs == list(range(1, len(seqs) + 1))


def test_resolution_rules(ledger: Ledger) -> None:
    ledger.apply(ev("k1", 1, CheckIn(points=5)))
    ledger.apply(ev("k1", 1, CheckIn(points=6)))  # poisoned: a conflict without a member
    [conflict] = ledger.conflicts()
    with pytest.raises(ApiError) as err, ledger.db.write() as conn:
        resolve(
            conn,
            ledger.coord.recorder,
            conflict.conflict_id,
            Decision(note="x", points_delta=5),
            staff_user="ops",
            now_ms=T0,
        )
    assert err.value.code == "no_member"
    with ledger.db.write() as conn:
        row, event = resolve(
            conn,
            ledger.coord.recorder,
            conflict.conflict_id,
            Decision(note="kiosk reimaged"),
            staff_user="ops",
            now_ms=T0,
        )
    assert row.status == "resolved" and row.resolved_by == "ops" and event is None


def _outcome(ledger: Ledger, members: list[str]) -> tuple[str, ...]:
    """Balances (checked against the reference fold) and every conflict with its status, as
    text with the ids of hq events (random per coordinator) replaced by their seq."""
    hq_ids = {e.event_id: f"hq-{e.seq}" for e in ledger.stored() if e.kiosk_id == "hq"}

    def plain(text: str) -> str:
        for event_id, name in hq_ids.items():
            text = text.replace(event_id, name)
        return text

    out = []
    for member_id in members:
        central = ledger.central(member_id)
        assert central == fold_sorted(MemberLedger(), ledger.stored(member_id))[0], member_id
        out.append(plain(central.model_dump_json()))
    conflicts = sorted((c.dedupe_key, c.status, c.event_id or "") for c in ledger.conflicts(None))
    out.append(plain(repr(conflicts)))
    return tuple(out)


def test_late_kiosks_refold_from_checkpoints_like_from_the_start(
    ledger: Ledger, tmp_path: Path
) -> None:
    """k1 reports first; k2, offline over the same period, drains its older events in
    batches; an HQ fact comes in between; k3's even older events arrive last, before every
    checkpoint. After every transaction each member equals the sorted reference fold, and
    balances and conflicts (with their status) are exactly those of a coordinator that
    recomputes from the first event; the recomputations did start from checkpoints."""
    plain_db = Database(f"sqlite:///{tmp_path / 'plain.db'}")
    plain = make_ledger(plain_db, fold_checkpoints_max=0)
    members = ["m1", "m2"]
    for side in (ledger, plain):
        for member_id in members:
            side.hq(
                member_id,
                PassIssue(pass_state=punch_pass("p1", 30, valid_from_ms=T0 - DAY_MS)),
                CouponIssue(coupon=coupon("c1", valid_from_ms=T0 - DAY_MS)),
            )
    rng = random.Random(5)

    def stream(kiosk_id: str, offset: int, n: int) -> list[Event]:
        bodies: list[EventBody] = [CheckIn(points=10), PointsRedeem(points=25)]
        bodies += [CouponRedeem(coupon_id="c1")]
        bodies += [ClassSignIn(class_session_id=f"c-{kiosk_id}", class_type="yoga", pass_id="p1")]
        return [
            ev(
                kiosk_id,
                seq,
                rng.choices(bodies, weights=(8, 3, 1, 1))[0],
                member_id=members[seq % 2],
                at=T0 + seq * 10_000 + offset,
            )
            for seq in range(1, n + 1)
        ]

    k1, k2, k3 = stream("k1", 5_000, 160), stream("k2", 2_000, 150), stream("k3", 0, 40)
    steps: list[tuple[Event, ...]] = [tuple(k1[s : s + 40]) for s in range(0, len(k1), 40)]
    steps += [tuple(k2[s : s + 15]) for s in range(0, len(k2), 15)]
    steps += [tuple(k3[s : s + 10]) for s in range(0, len(k3), 10)]
    hits = ledger.coord.fold_checkpoints.hits
    try:
        for n, step in enumerate(steps):
            for side in (ledger, plain):
                side.apply(*step)
                if n == 8:  # an HQ fact while k2 drains: newest, folded incrementally
                    side.hq("m1", Adjustment(staff_user="hq1", reason="goodwill", points_delta=7))
            assert _outcome(ledger, members) == _outcome(plain, members), f"step {n}"
    finally:
        plain_db.dispose()
    assert ledger.coord.fold_checkpoints.hits > hits + 10
    assert plain.coord.fold_checkpoints.hits == 0


def test_a_rolled_back_fold_leaves_no_checkpoint(ledger: Ledger) -> None:
    ledger.apply(*[ev("k1", s, CheckIn(points=1), at=T0 + s * 1000) for s in range(1, 41)])
    late = [ev("k2", s, CheckIn(points=2), at=T0 + s * 1000 - 500) for s in range(1, 41)]
    ledger.apply(*late[:20])  # a recomputation: its checkpoints are remembered
    with pytest.raises(RuntimeError), ledger.db.write() as conn:
        ledger.coord.events.apply(
            conn, [(EventBatch(kiosk_id="k2", events=tuple(late[20:30])), T0)], ledger.kiosks, T0
        )
        raise RuntimeError("roll back")
    misses = ledger.coord.fold_checkpoints.misses
    ledger.apply(*late[20:])
    assert ledger.coord.fold_checkpoints.misses == misses  # still valid: nothing committed
    assert ledger.central("m1") == fold_sorted(MemberLedger(), ledger.stored("m1"))[0]


def test_two_kiosks_starting_a_pass_offline_converge_to_the_earliest_tap(ledger: Ledger) -> None:
    """A pass sold to start at its first use, started offline at two kiosks of two stores:
    whichever arrives first, the central fold ends with the window of the earliest tap (the
    reference fold), raises no conflict, and the started pass freezes, unfreezes and
    extends."""
    sold = first_use_pass("fu1", sold_ms=T0 - DAY_MS)
    ledger.hq("m1", PassIssue(pass_state=sold))
    early = ev("k3", 1, CheckIn(points=10, first_use_of="fu1"), at=T0 + 3_600_000)
    late = ev("k1", 1, CheckIn(points=10, first_use_of="fu1"), at=T0 + 5 * 3_600_000)
    ledger.clock.now = late.hlc_ms  # both kiosks report as they reconnect, clocks right
    ledger.apply(late)
    after_late = ledger.central("m1").find_pass("fu1")
    assert after_late is not None and after_late.valid_from_ms == late.hlc_ms
    ledger.apply(early)  # sorts first: the member's window started there
    central = ledger.central("m1")
    assert central == fold_sorted(MemberLedger(), ledger.stored("m1"))[0]
    started = central.find_pass("fu1")
    assert started is not None and started.first_use is not None
    assert started.first_use.started_ms == early.hlc_ms
    assert (started.valid_from_ms, started.valid_until_ms) == (
        early.hlc_ms,
        early.hlc_ms + 30 * DAY_MS,
    )
    assert ledger.conflicts() == []

    # Started, the pass freezes and gives the frozen time back like any pass.
    admin = Principal("admin", Role.HQ_ADMIN, None)
    ledger.clock.now = T0 + DAY_MS
    assert passes.update_pass(ledger.coord, admin, "m1", "fu1", frozen=True).pass_ is not None
    ledger.clock.now = T0 + 3 * DAY_MS
    thawed = passes.update_pass(ledger.coord, admin, "m1", "fu1", frozen=False).pass_
    assert thawed is not None and not thawed.frozen
    assert thawed.valid_until_ms == early.hlc_ms + 32 * DAY_MS
    # ... and extends.
    longer = passes.PassChange(valid_until_ms=early.hlc_ms + 60 * DAY_MS)
    extended = passes.extend_pass(ledger.coord, admin, "m1", "fu1", longer).pass_
    assert extended is not None and extended.valid_until_ms == early.hlc_ms + 60 * DAY_MS
    assert extended.first_use is not None and extended.first_use.started_ms == early.hlc_ms
