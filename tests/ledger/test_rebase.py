"""Snapshots and deltas from the coordinator re-base the local view correctly.

Local view = the coordinator's record (which says up to which seq of this kiosk it includes)
+ this kiosk's own events above that seq. Newer versions replace, older ones are ignored.
"""

from __future__ import annotations

import pytest

from device.ledger import BadDownstreamMessage, KioskLedger
from device.ports import ApplyOutcome
from shared.events import Event
from shared.fold import fold
from shared.model import MemberLedger, MemberRecord
from shared.protocol import MemberUpdate
from tests.ledger.builders import FakeClock, delta, snapshot
from tests.ledger.conftest import CARD_1, CARD_2
from tests.support.factories import HOUR, coupon, member, punch_pass

M1_START = MemberLedger(passes=(punch_pass("p1", 3),), coupons=(coupon("c1"),))


def _coordinator_record(events: list[Event], upto: int) -> MemberRecord:
    """m1 as the coordinator would send it after folding this kiosk's events up to ``upto``."""
    mine = [e for e in events if e.seq <= upto and e.member_id == "m1"]
    ledger, _ = fold(M1_START, mine)
    return member("m1", cards=(CARD_1,), ledger=ledger)


def test_pending_events_above_included_seq_still_count(ledger: KioskLedger, clock: FakeClock):
    ledger.tap_card(CARD_1)  # seqs 1-2: class sign-in + check-in (10 points)
    clock.advance(24 * HOUR)
    ledger.redeem_points("m1", "water")  # refused: 10 points only (seq 3, rejected)
    clock.advance(24 * HOUR)
    ledger.tap_card(CARD_1)  # seq 4: check-in, 10 more points
    before = ledger.member_summary("m1")
    assert before is not None
    assert (before.points_balance, before.passes[0].sessions_left) == (20, 2)
    assert ledger.sync_status().unconfirmed_sessions == 1

    events = ledger.journal_events()
    rebased = _coordinator_record(events, upto=2)
    assert ledger.apply_member_update(delta([rebased], 2, 1, included_seq=2)) == "applied"

    after = ledger.member_summary("m1")
    assert after is not None
    assert (after.points_balance, after.passes[0].sessions_left) == (20, 2)  # nothing doubled
    assert after.pending_events == 1  # the check-in at seq 4
    status = ledger.sync_status()
    assert status.confirmed_seq == 2
    assert status.unconfirmed_sessions == 0

    # a full snapshot that includes everything leaves nothing pending
    full = _coordinator_record(events, upto=4)
    for message in snapshot([full, member("m2", cards=(CARD_2,))], 3, included_seq=4):
        ledger.apply_member_update(message)
    final = ledger.member_summary("m1")
    assert final is not None
    assert (final.points_balance, final.passes[0].sessions_left, final.pending_events) == (20, 2, 0)


def test_sign_in_folded_into_the_snapshot_still_blocks_a_second_deduction(
    ledger: KioskLedger, clock: FakeClock
):
    ledger.tap_card(CARD_1)
    rebased = _coordinator_record(ledger.journal_events(), upto=2)
    assert rebased.ledger.signins  # the coordinator's record carries the sign-in
    assert ledger.apply_member_update(delta([rebased], 2, 1, included_seq=2)) == "applied"
    clock.advance(5 * 60_000)  # sign-in window still open, double-tap window over
    again = ledger.tap_card(CARD_1)
    assert again.reason == "already_signed_in"
    summary = ledger.member_summary("m1")
    assert summary is not None and summary.passes[0].sessions_left == 2


def test_newer_snapshot_replaces_and_older_is_ignored(ledger: KioskLedger):
    newer = [member("m3", cards=("0C0C0C0C",)), member("m2", cards=("0D0D0D0D",))]
    assert [ledger.apply_member_update(m) for m in snapshot(newer, 5)] == ["applied"]
    assert ledger.member_summary("m1") is None  # not in the new snapshot: gone
    assert ledger.member_for_card(CARD_1) is None
    assert ledger.member_for_card(CARD_2) is None  # m2's card changed
    assert ledger.member_for_card("0D0D0D0D") == "m2"

    stale = [member("m1", cards=(CARD_1,))]
    assert ledger.apply_member_update(snapshot(stale, 4)[0]) == "ignored_old"
    assert ledger.apply_member_update(snapshot(stale, 5)[0]) == "ignored_old"
    assert ledger.apply_member_update(delta(stale, 5, 4)) == "ignored_old"
    assert ledger.member_summary("m1") is None
    assert ledger.versions().members == 5


def test_delta_on_wrong_base_needs_sync(ledger: KioskLedger):
    changed = member("m2", cards=(CARD_2,), ledger=MemberLedger(checkins=7))
    assert ledger.apply_member_update(delta([changed], 3, 2)) == "need_sync"
    summary = ledger.member_summary("m2")
    assert summary is not None and summary.checkins == 0
    assert ledger.versions().members == 1
    assert ledger.apply_member_update(delta([changed], 2, 1, removed=["m1"])) == "applied"
    summary = ledger.member_summary("m2")
    assert summary is not None and summary.checkins == 7
    assert ledger.member_summary("m1") is None
    assert ledger.member_for_card(CARD_1) is None


def test_chunked_snapshot_switches_only_when_complete(ledger: KioskLedger):
    records = [member(f"n{i}", cards=(f"{i + 1:08X}",)) for i in range(10)]
    chunks = snapshot(records, 7, chunk_size=3)
    assert len(chunks) == 4
    assert ledger.apply_member_update(chunks[0]) == "staged"
    assert ledger.apply_member_update(chunks[0]) == "staged"  # duplicate delivery
    assert ledger.apply_member_update(chunks[2]) == "staged"
    assert ledger.sync_status().staging_chunks == 2
    # meanwhile the kiosk keeps working on the members it has
    assert ledger.member_for_card(CARD_1) == "m1"
    assert ledger.member_for_card("00000001") is None
    # an older snapshot is not mixed in
    assert ledger.apply_member_update(snapshot([member("old")], 6)[0]) == "ignored_old"
    assert ledger.apply_member_update(chunks[3]) == "staged"
    assert ledger.apply_member_update(chunks[1]) == "applied"
    assert ledger.versions().members == 7
    assert ledger.sync_status().members == 10
    assert ledger.sync_status().staging_chunks == 0
    assert ledger.member_for_card("0000000A") == "n9"
    assert ledger.member_for_card(CARD_1) is None


def test_newer_snapshot_supersedes_a_partly_staged_one(ledger: KioskLedger):
    first = snapshot([member(f"a{i}") for i in range(4)], 3, chunk_size=2)
    second = snapshot([member("b0", cards=("0B0B0B0B",))], 4)
    assert ledger.apply_member_update(first[0]) == "staged"
    assert ledger.apply_member_update(second[0]) == "applied"
    assert ledger.apply_member_update(first[1]) == "ignored_old"
    assert ledger.sync_status().members == 1
    assert ledger.member_for_card("0B0B0B0B") == "b0"


def test_inconsistent_snapshot_chunks_are_refused(ledger: KioskLedger):
    bad = MemberUpdate(store_id="s1", version=9, full=True, chunk=2, chunks=2)
    with pytest.raises(BadDownstreamMessage, match="chunk numbers"):
        ledger.apply_member_update(bad)
    part = MemberUpdate(store_id="s1", version=9, full=True, chunk=0, chunks=3)
    assert ledger.apply_member_update(part) == ApplyOutcome.STAGED
    other = MemberUpdate(store_id="s1", version=9, full=True, chunk=1, chunks=2)
    with pytest.raises(BadDownstreamMessage, match="announced 3 chunks"):
        ledger.apply_member_update(other)
    assert ledger.versions().members == 1


def test_update_for_another_store_is_ignored(ledger: KioskLedger):
    foreign = MemberUpdate(store_id="s9", version=50, members=(member("zz"),), base_version=1)
    assert ledger.apply_member_update(foreign) == "ignored_old"
    assert ledger.member_summary("zz") is None


def test_included_seq_beyond_our_journal_is_capped(ledger: KioskLedger, caplog):
    ledger.tap_card(CARD_1)
    rec = member("m2", cards=(CARD_2,))
    assert ledger.apply_member_update(delta([rec], 2, 1, included_seq=99)) == "applied"
    assert ledger.sync_status().confirmed_seq == 2
    assert "restored from an old backup" in caplog.text
