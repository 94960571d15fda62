"""A kiosk's wall clock is evidence, not "now": the rules of ``device.ledger.trusted_time``
and what they mean for a ledger that reboots with its clock years or minutes off.

In-process and fast; ``test_clock.py`` runs the same faults with real processes.
"""

from __future__ import annotations

from pathlib import Path

from device.ledger import KioskLedger
from device.ledger.trusted_time import MAX_UNCONFIRMED_JUMP_MS, TimeSource, TrustedTime
from shared.hlc import HLC
from shared.model import MemberLedger
from tests.ledger.builders import provision
from tests.support.factories import DAY, HOUR, T0, bundle, member, punch_pass, yoga_class

YEAR = 365 * DAY
CARD = "04A1B2C3D4E5F6"
OTHER = "0A0B0C0D"


class BootClock:
    """A Pi's clocks: a wall clock that may be set wrong, and a monotonic clock that only
    counts time passing (and starts again at every boot)."""

    def __init__(self, true_ms: int, skew_ms: int = 0) -> None:
        self.true_ms = true_ms
        self.skew_ms = skew_ms
        self.mono_s = 1000.0

    def wall_ms(self) -> int:
        return self.true_ms + self.skew_ms

    def monotonic(self) -> float:
        return self.mono_s

    def advance(self, ms: int) -> None:
        self.true_ms += ms
        self.mono_s += ms / 1000

    def reboot(self, skew_ms: int) -> None:
        """Power cycle: the wall clock comes back wrong, monotonic time starts over."""
        self.skew_ms = skew_ms
        self.mono_s = 5.0


# --- the rules ---------------------------------------------------------------------------------


def test_a_new_ledger_believes_its_wall_clock() -> None:
    clock = BootClock(T0, skew_ms=3 * YEAR)
    assert TrustedTime(clock, known_ms=0).now_ms() == T0 + 3 * YEAR


def test_a_plausible_wall_clock_is_used_as_it_is() -> None:
    clock = BootClock(T0 + 2 * DAY)  # off for a weekend, clock right
    time = TrustedTime(clock, known_ms=T0)
    assert time.now_ms() == T0 + 2 * DAY
    assert time.source() is TimeSource.WALL


def test_a_wall_clock_far_ahead_is_refused_and_time_still_passes() -> None:
    clock = BootClock(T0 + HOUR, skew_ms=12 * YEAR)
    time = TrustedTime(clock, known_ms=T0)
    assert time.now_ms() == T0  # what certainly has come: the last known time
    assert time.source() is TimeSource.FLOOR
    clock.advance(HOUR)
    assert time.now_ms() == T0 + HOUR  # monotonic time keeps counting
    assert clock.wall_ms() - time.now_ms() > MAX_UNCONFIRMED_JUMP_MS


def test_a_wall_clock_behind_the_last_known_time_does_not_stop_time() -> None:
    clock = BootClock(T0, skew_ms=-50 * YEAR)  # 1976
    time = TrustedTime(clock, known_ms=T0 - HOUR)
    assert time.now_ms() == T0 - HOUR
    clock.advance(30 * 60_000)
    assert time.now_ms() == T0 - 30 * 60_000


def test_the_coordinator_anchors_time_and_a_stale_message_cannot_pull_it_back() -> None:
    clock = BootClock(T0, skew_ms=10 * 60_000)  # ten minutes fast
    time = TrustedTime(clock, known_ms=T0 - HOUR)
    assert time.now_ms() == T0 + 10 * 60_000  # plausible, so believed until anchored
    time.observe_coordinator(T0)
    assert time.source() is TimeSource.COORDINATOR
    assert time.now_ms() == T0
    clock.advance(5_000)
    time.observe_coordinator(T0 - 2 * HOUR)  # queued in the broker while we were away
    assert time.now_ms() == T0 + 5_000
    time.observe_coordinator(T0 + 5_020)  # a fresh Ack: raises the lower bound
    assert time.now_ms() == T0 + 5_020


# --- a ledger through a bad reboot ---------------------------------------------------------------


def _ledger(path: Path, clock: BootClock) -> KioskLedger:
    return KioskLedger.open(path, kiosk_id="k1", store_id="s1", clock=clock)


def _provisioned(path: Path, clock: BootClock) -> None:
    with _ledger(path, clock) as ledger:
        records = [
            member("m1", cards=(CARD,), ledger=MemberLedger(passes=(punch_pass("p1", 10),))),
            member("m2", cards=(OTHER,)),
        ]
        provision(ledger, records, bundle(classes=[yoga_class(starts_ms=T0 + 20 * 60_000)]))
        ledger.observe_hlc(HLC(T0 - 60_000, 0))  # it was online a minute ago
        assert ledger.tap_card(OTHER).accepted


def test_booting_years_ahead_offline_keeps_valid_passes_and_the_hlc_sane(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    clock = BootClock(T0 - 5 * 60_000)
    _provisioned(path, clock)
    clock.advance(5 * 60_000)
    clock.reboot(skew_ms=12 * YEAR)  # boots in 2038, no network

    with _ledger(path, clock) as ledger:
        assert ledger.time_source() is TimeSource.FLOOR
        outcome = ledger.tap_card(CARD)
        # At the wall clock's 2038 the class is long over and the pass expired; at the time
        # that has certainly come, the student signs in and pays one session.
        assert outcome.accepted, outcome.decision
        kinds = [e.kind for e in outcome.events]
        assert kinds[0] == "class_signin"
        assert outcome.member is not None and outcome.member.passes[0].sessions_left == 9
        first = outcome.events[0]
        assert first.wall_ms == T0 + 12 * YEAR  # the wall clock, kept as evidence
        assert T0 - 5 * 60_000 <= first.hlc_ms < T0 + 60_000  # not years in the future
        assert all(e.hlc_ms < T0 + 60_000 for e in outcome.events)

        # Back online: the coordinator's time takes over.
        clock.advance(30_000)
        ledger.observe_hlc(HLC(T0 + 30_000, 0))
        assert ledger.time_source() is TimeSource.COORDINATOR
        later = ledger.tap_card(OTHER).events[0]
        assert (later.hlc_ms, later.hlc_c) > (first.hlc_ms, first.hlc_c)
        assert T0 + 30_000 <= later.hlc_ms < T0 + 60_000
    with _ledger(path, clock) as again:  # nothing from 2038 was persisted as "known"
        assert again.now_ms() < T0 + 2 * 60_000


def test_booting_years_behind_keeps_time_moving_and_the_hlc_monotonic(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    clock = BootClock(T0 - 5 * 60_000)
    _provisioned(path, clock)
    last = KioskLedger.open(path, kiosk_id="k1", store_id="s1", clock=clock)
    before = last.journal_events()[-1]
    last.close()
    clock.advance(5 * 60_000)
    clock.reboot(skew_ms=-40 * YEAR)  # 1986

    with _ledger(path, clock) as ledger:
        outcome = ledger.tap_card(CARD)
        assert outcome.accepted and outcome.events[0].kind == "class_signin"
        first = outcome.events[0]
        assert (first.hlc_ms, first.hlc_c) > (before.hlc_ms, before.hlc_c)
        clock.advance(10 * 60_000)
        again = ledger.tap_card(OTHER).events[0]
        # Ten minutes later by the monotonic clock, not frozen at the last known time.
        assert again.hlc_ms - first.hlc_ms >= 10 * 60_000
