"""Coupon claims round trip and time out; heartbeats carry the kiosk's health."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from device.link import KioskHealth, KioskLink
from shared import SOFTWARE_VERSION
from shared import protocol as p
from shared.reasons import RejectReason
from simulators.broker import Broker
from tests.link.ledgers import RecordingLedger
from tests.link.peer import CoordinatorPeer

Make = Callable[..., KioskLink]


def test_claim_round_trip(peer: CoordinatorPeer, ledger: RecordingLedger, make_link: Make) -> None:
    def answer(claim: p.CouponClaim) -> p.ClaimResult:
        granted = claim.coupon_id == "c-free"
        return p.ClaimResult(
            claim_id=claim.claim_id,
            coupon_id=claim.coupon_id,
            granted=granted,
            reason=None if granted else RejectReason.COUPON_USED,
        )

    peer.claim_answer = answer
    link = make_link(ledger)
    assert link.wait_for(lambda s: s.connected, 10)
    assert peer.wait(lambda: len(peer.syncs) == 1)  # subscribed to our down-channel
    granted = link.claim("m1", "c-free", event_id="ab" * 16, timeout_s=5)
    assert granted is not None and granted.granted and granted.reason is None
    refused = link.claim("m1", "c-spent", timeout_s=5)
    assert refused is not None and not refused.granted
    assert refused.reason is RejectReason.COUPON_USED
    assert [c.coupon_id for c in peer.claims] == ["c-free", "c-spent"]
    assert peer.claims[0].event_id == "ab" * 16
    assert granted.claim_id == peer.claims[0].claim_id
    assert link.state().counters["claims_answered"] == 2


def test_claim_times_out_and_a_late_answer_is_ignored(
    peer: CoordinatorPeer, ledger: RecordingLedger, make_link: Make
) -> None:
    link = make_link(ledger)
    assert link.wait_for(lambda s: s.connected, 10)
    assert link.claim("m1", "c1", timeout_s=0.3) is None
    assert link.state().counters["claims_timed_out"] == 1
    late = peer.claims[0]
    peer.send_direct("k1", p.ClaimResult(claim_id=late.claim_id, coupon_id="c1", granted=True))
    assert link.wait_for(lambda s: s.counters["claims_late"] == 1, 10)


def test_claim_offline_returns_none_at_once(
    broker: Broker, ledger: RecordingLedger, make_link: Make
) -> None:
    broker.stop()
    link = make_link(ledger)
    assert link.claim("m1", "c1", timeout_s=30) is None
    assert link.state().counters["claims_sent"] == 0


def test_heartbeat_reports_health(
    peer: CoordinatorPeer, ledger: RecordingLedger, make_link: Make, tmp_path: Path
) -> None:
    peer.clock_skew_ms = -120_000  # the coordinator's clock is two minutes behind ours
    ledger.append(3)
    health = KioskHealth(
        readers={"nfc": p.ReaderStatus(state="ok"), "camera": p.ReaderStatus(state="starting")},
        last_good_tap_ms=1_767_240_000_123,
        taps_accepted=3,
        taps_refused=1,
    )
    link = make_link(ledger, heartbeat_interval_s=1, health=lambda: health, disk_path=tmp_path)
    assert link.wait_for(lambda s: s.acked_seq == 3, 10)
    assert peer.wait(lambda: any(h.acked_seq == 3 for h in peer.heartbeats), timeout_s=10)
    beat = next(h for h in peer.heartbeats if h.acked_seq == 3)
    assert (beat.kiosk_id, beat.store_id, beat.interval_s) == ("k1", "s1", 1)
    assert beat.last_seq == 3 and beat.outbox_depth == 0
    assert beat.readers == dict(health.readers)
    assert beat.last_good_tap_ms == health.last_good_tap_ms
    assert (beat.taps_accepted, beat.taps_refused) == (3, 1)
    assert beat.software_version == SOFTWARE_VERSION
    assert beat.disk_free_bytes is not None and beat.disk_free_bytes > 0
    assert beat.clock_offset_ms is not None
    # Kiosk minus coordinator is +120 s; the round trip on localhost is far below 10 s.
    assert abs(beat.clock_offset_ms - 120_000) < 10_000
    assert beat.hlc_ms >= beat.sent_wall_ms - 120_000


@pytest.mark.allow_logged_exceptions
def test_a_failing_health_callable_still_sends_heartbeats(
    peer: CoordinatorPeer, ledger: RecordingLedger, make_link: Make
) -> None:
    def broken() -> KioskHealth:
        raise OSError("reader daemon gone")

    link = make_link(ledger, heartbeat_interval_s=1, health=broken)
    assert peer.wait(lambda: len(peer.heartbeats) >= 1)
    assert peer.heartbeats[0].readers == {}
    assert link.state().counters["handler_errors"] >= 1
