"""Member day (会员日): check-in points multiplied on a weekday or date, decided by the real
kiosk ledger offline from the rules it holds, store-local."""

from __future__ import annotations

from pathlib import Path

from device.ledger import KioskLedger
from shared.events import CheckIn
from shared.model import MemberDay, Rules
from tests.ledger.builders import FakeClock, open_ledger, provision
from tests.support.factories import DAY, HOUR, T0, bundle, member

CARD_1 = "04A1B2C3D4E5F6"
CARD_2 = "04AABBCCDDEEFF"
THURSDAYS = MemberDay(weekdays=(4,), multiplier_permille=2000)  # T0 is Thu 1 Jan 2026, 12:00
NEW_YEAR = MemberDay(dates=("01-01",), multiplier_permille=3000)


def _checkin_points(led: KioskLedger, card: str) -> int:
    outcome = led.tap_card(card)
    (event,) = [e for e in outcome.events if isinstance(e.body, CheckIn)]
    assert event.offline
    assert isinstance(event.body, CheckIn)
    return event.body.points


def test_the_kiosk_applies_member_day_points_offline(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    with open_ledger(tmp_path / "ledger.db", clock) as led:
        provision(
            led,
            [member("m1", cards=(CARD_1,)), member("m2", cards=(CARD_2,), tier="silver")],
            bundle(member_days=(THURSDAYS, NEW_YEAR)),
        )
        led.set_online(False)
        # New Year's day is a Thursday: the higher multiplier counts, not both.
        assert _checkin_points(led, CARD_1) == 30
        assert _checkin_points(led, CARD_2) == 36  # silver 1.2x, then 3x
        clock.advance(DAY)  # Friday: no member day
        assert _checkin_points(led, CARD_1) == 10
        clock.advance(6 * DAY)  # the next Thursday
        assert _checkin_points(led, CARD_1) == 20
        assert led.member_summary("m1").points_balance == 60  # type: ignore[union-attr]


def test_the_store_local_day_decides(tmp_path: Path) -> None:
    # 23:30 on Wednesday in Shanghai is 15:30 UTC on Wednesday; 00:30 Thursday local is
    # still Wednesday in UTC: the store's calendar counts.
    clock = FakeClock(T0 - DAY + 11 * HOUR + HOUR // 2)  # Wed 23:30 local
    with open_ledger(tmp_path / "ledger.db", clock) as led:
        provision(led, [member("m1", cards=(CARD_1,))], bundle(member_days=(THURSDAYS,)))
        led.set_online(False)
        assert _checkin_points(led, CARD_1) == 10
        clock.advance(HOUR)  # Thu 00:30 local, Wed 16:30 UTC
        assert _checkin_points(led, CARD_1) == 20


def test_member_day_rule_values() -> None:
    rules = Rules(member_days=(THURSDAYS, MemberDay(dates=("2026-05-20",))))
    assert rules.member_day("2026-01-08") == THURSDAYS
    assert rules.member_day("2026-05-20") is not None  # a Wednesday, by date
    assert rules.member_day("2028-05-20") is None  # a one-off date (a Saturday)
    assert rules.checkin_points("gold", "2026-01-08") == 30  # 10 x 1.5 x 2
    assert rules.checkin_points("basic", "2026-01-09") == 10
