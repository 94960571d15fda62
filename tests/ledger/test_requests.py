"""Member requests at the kiosk ledger: taps, QR, redemptions, undo; each journaled durably."""

from __future__ import annotations

import threading
from pathlib import Path

from device.ledger import KioskLedger, VerifiedQr
from shared.decide import Accepted, ClaimOutcome, NeedsClaim
from shared.events import CheckIn, ClassSignIn, CredentialKind, Rejected, Reversal
from shared.model import DenyEntry, MemberLedger, OfflineLimits
from shared.protocol import DenyListUpdate, RuleBundleMessage
from shared.reasons import RejectReason
from tests.ledger.builders import FakeClock, delta, journal_rows, open_ledger, provision
from tests.ledger.conftest import CARD_1, CARD_2
from tests.support.factories import HOUR, T0, bundle, member, punch_pass, yoga_class

MINUTE = 60_000


def test_class_tap_signs_in_and_rewards_in_one_decision(ledger: KioskLedger, db_path: Path):
    outcome = ledger.tap_card(CARD_1)

    assert isinstance(outcome.decision, Accepted)
    assert [type(e.body) for e in outcome.events] == [ClassSignIn, CheckIn]
    assert [e.seq for e in outcome.events] == [1, 2]
    assert outcome.member is not None
    assert outcome.member.passes[0].sessions_left == 2
    assert outcome.member.points_balance == 10
    rows = journal_rows(db_path)
    assert [(r[0], r[2], r[3]) for r in rows] == [(1, 1, "class_signin"), (2, 1, "checkin")]
    assert outcome.events[0].credential is not None
    assert outcome.events[0].credential.uid == CARD_1


def test_second_tap_for_same_class_never_deducts_twice(ledger: KioskLedger, clock: FakeClock):
    ledger.tap_card(CARD_1)
    clock.advance(5 * MINUTE)
    again = ledger.tap_card(CARD_1)

    assert again.reason is RejectReason.ALREADY_SIGNED_IN
    assert [e.kind for e in again.events] == ["rejected"]
    summary = ledger.member_summary("m1")
    assert summary is not None and summary.passes[0].sessions_left == 2


def test_unknown_card_is_refused_and_journaled(ledger: KioskLedger):
    outcome = ledger.tap_card("DEADBEEF")

    assert outcome.reason is RejectReason.UNKNOWN_CARD
    (event,) = outcome.events
    assert isinstance(event.body, Rejected) and event.body.reason == "unknown_card"
    assert event.member_id is None
    assert event.credential is not None and event.credential.uid == "DEADBEEF"
    assert outcome.member is None


def test_malformed_uid_is_an_unknown_card(ledger: KioskLedger):
    outcome = ledger.tap_card("not-a-uid")
    assert outcome.reason is RejectReason.UNKNOWN_CARD
    assert len(outcome.events) == 1


def test_revoked_card_is_refused_from_its_revocation_time(ledger: KioskLedger, clock: FakeClock):
    deny = DenyListUpdate(
        version=1,
        full=True,
        added=(DenyEntry(uid=CARD_1, revoked_ms=T0 + HOUR, reason="stolen"),),
    )
    assert ledger.apply_deny_update(deny) == "applied"
    assert ledger.tap_card(CARD_1).accepted  # not yet revoked

    clock.advance(2 * HOUR)
    outcome = ledger.tap_card(CARD_1)
    assert outcome.reason is RejectReason.CARD_REVOKED
    (event,) = outcome.events
    assert event.member_id == "m1"  # the card is still known: the rejection names whose it was
    assert isinstance(event.body, Rejected) and event.body.detail == "stolen"


def test_deny_list_delta_needs_our_base(ledger: KioskLedger):
    entry = DenyEntry(uid=CARD_2, revoked_ms=0)
    assert ledger.apply_deny_update(DenyListUpdate(version=1, full=True)) == "applied"
    wrong = DenyListUpdate(version=3, base_version=2, added=(entry,))
    assert ledger.apply_deny_update(wrong) == "need_sync"
    assert ledger.tap_card(CARD_2).reason is not RejectReason.CARD_REVOKED
    good = DenyListUpdate(version=2, base_version=1, added=(entry,))
    assert ledger.apply_deny_update(good) == "applied"
    assert ledger.apply_deny_update(good) == "ignored_old"
    assert ledger.tap_card(CARD_2).reason is RejectReason.CARD_REVOKED
    lift = DenyListUpdate(version=3, base_version=2, removed=(CARD_2,))
    assert ledger.apply_deny_update(lift) == "applied"
    # Lifted: the card works again. (m2 holds no class pass, so the first tap above was a
    # visitor check-in and this one is inside the double-tap window.)
    assert ledger.tap_card(CARD_2).reason is RejectReason.ALREADY_CHECKED_IN
    assert ledger.versions().deny == 3


def test_qr_nonce_is_accepted_once_per_kiosk(ledger: KioskLedger, clock: FakeClock):
    clock.advance(2 * HOUR)  # after the class: a plain check-in
    claims = VerifiedQr("m2", "nonce-0001", "k1", clock.now_ms + MINUTE)
    first = ledger.tap_qr(claims)
    assert first.accepted
    assert first.events[0].credential is not None
    assert first.events[0].credential.kind is CredentialKind.QR
    assert first.events[0].credential.qr_nonce == "nonce-0001"

    clock.advance(70_000)  # past the double-tap window: only the nonce stops it
    replay = ledger.tap_qr(claims)
    assert replay.reason is RejectReason.QR_REPLAYED
    assert replay.events[0].member_id == "m2"
    clock.advance(MINUTE)  # past expiry + skew: the nonce is forgotten, the token refused
    assert ledger.tap_qr(claims).reason is RejectReason.QR_EXPIRED
    fresh = ledger.tap_qr(VerifiedQr("m2", "nonce-0002", "k1", clock.now_ms + MINUTE))
    assert fresh.reason is not RejectReason.QR_REPLAYED


def test_qr_nonce_memory_survives_restart(db_path: Path, clock: FakeClock, ledger: KioskLedger):
    clock.advance(2 * HOUR)
    claims = VerifiedQr("m2", "nonce-restart", "k1", clock.now_ms + MINUTE)
    assert ledger.tap_qr(claims).accepted
    ledger.close()
    with open_ledger(db_path, clock) as again:
        assert again.tap_qr(claims).reason is RejectReason.QR_REPLAYED


def test_qr_for_unknown_member(ledger: KioskLedger):
    outcome = ledger.tap_qr(VerifiedQr("ghost", "nonce-ghost", "k1", T0 + MINUTE))
    assert outcome.reason is RejectReason.UNKNOWN_MEMBER
    assert outcome.events[0].member_id is None


def test_points_redemption_and_insufficient_points(ledger: KioskLedger, clock: FakeClock):
    refused = ledger.redeem_points("m2", "water", staff_id="staff1")
    assert refused.reason is RejectReason.INSUFFICIENT_POINTS
    assert refused.events[0].credential is not None
    assert refused.events[0].credential.staff_id == "staff1"
    for _ in range(2):  # 10 points per day
        clock.advance(24 * HOUR)
        assert ledger.tap_card(CARD_2).accepted
    spent = ledger.redeem_points("m2", "water")
    assert spent.accepted and spent.member is not None
    assert spent.member.points_balance == 0


def test_online_coupon_needs_a_claim_and_records_nothing_until_granted(ledger: KioskLedger):
    ledger.set_online(True)
    first = ledger.redeem_coupon("m1", "c1")
    assert isinstance(first.decision, NeedsClaim)
    assert first.events == ()
    assert ledger.outbox_stats().last_seq == 0

    denied = ledger.redeem_coupon("m1", "c1", ClaimOutcome(claim_id="cl1", granted=False))
    assert denied.reason is RejectReason.COUPON_USED
    granted = ledger.redeem_coupon("m1", "c1", ClaimOutcome(claim_id="cl2", granted=True))
    assert granted.accepted and granted.member is not None
    assert granted.member.coupons == ()
    again = ledger.redeem_coupon("m1", "c1", ClaimOutcome(claim_id="cl3", granted=True))
    assert again.reason is RejectReason.COUPON_USED


def test_staff_undo_reverses_once(ledger: KioskLedger, clock: FakeClock):
    signin = ledger.tap_card(CARD_1).events[0]
    clock.advance(MINUTE)
    undo = ledger.reverse(signin.event_id, "staff1")
    assert undo.accepted
    (event,) = undo.events
    assert isinstance(event.body, Reversal) and event.body.target_event_id == signin.event_id
    assert undo.member is not None and undo.member.passes[0].sessions_left == 3

    twice = ledger.reverse(signin.event_id, "staff1")
    assert twice.reason is RejectReason.UNDO_NOT_ALLOWED
    recent = {r.event.event_id: r for r in ledger.recent_events()}
    assert recent[signin.event_id].reversed and not recent[signin.event_id].undoable
    assert ledger.reverse("0" * 32, "staff1").reason is RejectReason.UNDO_NOT_ALLOWED
    # after an undo the student may sign in again (one session, as before)
    assert ledger.tap_card(CARD_1).accepted
    summary = ledger.member_summary("m1")
    assert summary is not None and summary.passes[0].sessions_left == 2


def test_not_ready_before_first_sync(db_path: Path, clock: FakeClock):
    with open_ledger(db_path, clock) as led:
        outcome = led.tap_card(CARD_1)
        assert outcome.reason is RejectReason.NOT_READY
        assert len(outcome.events) == 1  # still journaled


def test_offline_flag_and_counters(ledger: KioskLedger, clock: FakeClock):
    ledger.set_online(True)
    online = ledger.tap_card(CARD_1)
    assert not online.events[0].offline
    ledger.set_online(False)
    clock.advance(24 * HOUR)
    offline = ledger.tap_card(CARD_2)
    assert offline.events[0].offline
    status = ledger.sync_status()
    assert not status.online and status.offline_since_ms == T0
    assert status.unconfirmed_sessions == 1  # m1's class sign-in is not yet confirmed


def test_offline_limit_per_member_day(db_path: Path, clock: FakeClock):
    limits = OfflineLimits(
        max_unconfirmed_sessions_per_member=5, max_offline_sessions_per_member_day=1
    )
    classes = [
        yoga_class("a", starts_ms=T0 + 10 * MINUTE),
        yoga_class("b", starts_ms=T0 + 40 * MINUTE),
    ]
    with open_ledger(db_path, clock) as led:
        rec = member("m1", cards=(CARD_1,), ledger=MemberLedger(passes=(punch_pass("p1", 9),)))
        provision(led, [rec], bundle(classes=classes, offline=limits))
        assert led.tap_card(CARD_1, "a").accepted
        clock.advance(20 * MINUTE)
        assert led.tap_card(CARD_1, "b").reason is RejectReason.OFFLINE_LIMIT_REACHED
        led.set_online(True)  # online, the per-day offline cap no longer applies
        assert led.tap_card(CARD_1, "b").accepted


def test_hlc_never_goes_backwards_when_the_clock_does(db_path: Path, clock: FakeClock, ledger):
    first = ledger.tap_card(CARD_1).events[-1]
    ledger.close()
    clock.advance(-365 * 24 * HOUR)  # rebooted with a clock a year behind
    with open_ledger(db_path, clock) as again:
        later = again.tap_card(CARD_2).events[0]
    assert (later.hlc_ms, later.hlc_c) > (first.hlc_ms, first.hlc_c)
    assert later.wall_ms == clock.now_ms  # the wall clock is kept as evidence


def test_observed_remote_time_pulls_the_clock_forward(ledger: KioskLedger, clock: FakeClock):
    from shared.hlc import HLC

    ledger.observe_hlc(HLC(T0 + 10 * HOUR, 3))
    event = ledger.tap_card(CARD_2).events[0]
    assert (event.hlc_ms, event.hlc_c) > (T0 + 10 * HOUR, 3)


def test_roster_lists_signed_in_students(ledger: KioskLedger, clock: FakeClock):
    ledger.tap_card(CARD_1)
    (roster,) = ledger.class_rosters()
    assert roster.session.class_session_id == "yoga-0900"
    assert [e.member_id for e in roster.signed_in] == ["m1"]
    # after the coordinator folded the sign-in in, the roster still shows it
    state = ledger.member_summary("m1")
    assert state is not None
    folded = ledger.journal_events()
    from shared.fold import fold

    base = member(
        "m1",
        cards=(CARD_1,),
        ledger=fold(
            MemberLedger(passes=(punch_pass("p1", 3),)),
            folded,
        )[0],
    )
    assert ledger.apply_member_update(delta([base], 2, 1, included_seq=2)) == "applied"
    (roster,) = ledger.class_rosters()
    assert [e.member_id for e in roster.signed_in] == ["m1"]


def test_roster_around_midnight_lists_classes_signing_in_now(tmp_path: Path):
    # 23:55 in Shanghai: a class at 00:05 tomorrow is signing in already; staff see it.
    clock = FakeClock(T0 + 11 * HOUR + 55 * MINUTE)
    classes = [
        yoga_class("yoga-2000", starts_ms=T0 + 8 * HOUR),  # today 20:00, sign-in closed
        yoga_class("yoga-0005", starts_ms=T0 + 12 * HOUR + 5 * MINUTE),  # tomorrow 00:05
        yoga_class("yoga-0900", starts_ms=T0 + 21 * HOUR),  # tomorrow 09:00, not open yet
        yoga_class("yoga-other", store_id="s9", starts_ms=T0 + 12 * HOUR),  # another store
    ]
    led = open_ledger(tmp_path / "ledger.db", clock)
    try:
        provision(led, [member("m1", cards=(CARD_1,))], bundle(classes=classes))
        listed = [r.session.class_session_id for r in led.class_rosters()]
        assert listed == ["yoga-2000", "yoga-0005"]
        clock.advance(10 * MINUTE)  # 00:05: the new day; yesterday's 20:00 class is gone
        listed = [r.session.class_session_id for r in led.class_rosters()]
        assert listed == ["yoga-0005", "yoga-0900"]
    finally:
        led.close()


def test_roster_after_midnight_keeps_a_class_still_running(tmp_path: Path):
    # A class from 23:50 to 00:50: at 00:20 its sign-in has closed and it started
    # "yesterday", but it is still running; staff still see who signed in.
    clock = FakeClock(T0 + 12 * HOUR + 20 * MINUTE)
    classes = [
        yoga_class("yoga-2350", starts_ms=T0 + 11 * HOUR + 50 * MINUTE),
        yoga_class("yoga-2000", starts_ms=T0 + 8 * HOUR),  # yesterday 20:00, over
    ]
    led = open_ledger(tmp_path / "ledger.db", clock)
    try:
        provision(led, [member("m1", cards=(CARD_1,))], bundle(classes=classes))
        assert [r.session.class_session_id for r in led.class_rosters()] == ["yoga-2350"]
        clock.advance(31 * MINUTE)  # 00:51: the class is over; it leaves the roster
        assert [r.session.class_session_id for r in led.class_rosters()] == []
    finally:
        led.close()


def test_rules_for_another_store_or_older_are_ignored(ledger: KioskLedger):
    other = bundle(version=5).model_copy(update={"store_ids": ("s9",)})
    assert ledger.apply_rule_bundle(RuleBundleMessage(bundle=other)) == "ignored_old"
    older = bundle(version=1)
    assert ledger.apply_rule_bundle(RuleBundleMessage(bundle=older)) == "ignored_old"
    newer = bundle(version=2, points_per_checkin=50).model_copy(update={"store_ids": ("s1",)})
    assert ledger.apply_rule_bundle(RuleBundleMessage(bundle=newer)) == "applied"
    assert ledger.versions().rules == 2
    assert ledger.tap_card(CARD_2).events[0].rules_version == 2


def test_concurrent_taps_from_threads_keep_seqs_gapless(ledger: KioskLedger, db_path: Path):
    def worker(uid: str) -> None:
        for _ in range(20):
            ledger.tap_card(uid)
            ledger.pending_events(0, 50)

    threads = [threading.Thread(target=worker, args=(uid,)) for uid in (CARD_1, CARD_2, "0BADCAFE")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = [row[0] for row in journal_rows(db_path)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) >= 60
