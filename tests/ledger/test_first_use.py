"""A pass that starts at its first use, on the real kiosk ledger offline: the first tap
starts the window at the tap's time (recorded durably, so it survives a restart), and the
next day's tap is inside that window."""

from __future__ import annotations

from pathlib import Path

from device.ledger import KioskLedger
from device.ui.views import pass_view
from shared.decide import Accepted
from shared.events import CheckIn, ClassSignIn
from shared.model import MemberLedger
from tests.ledger.builders import FakeClock, open_ledger, provision
from tests.support.factories import DAY, HOUR, T0, bundle, first_use_pass, member, yoga_class

CARD_1 = "04A1B2C3D4E5F6"


def _waiting(led: KioskLedger) -> None:
    summary = led.member_summary("m1")
    assert summary is not None
    [held] = summary.passes
    assert held.awaiting_first_use(T0)
    # The staff screen says it is not activated and by when it starts (sold 29 Dec 2025,
    # 90 days), not the latest end as if it were running.
    shown = pass_view(held, "Asia/Shanghai", T0)
    assert shown.starts_by == "2026-03-29"


def test_an_offline_first_tap_starts_the_pass_and_the_next_day_is_inside(
    tmp_path: Path,
) -> None:
    clock = FakeClock(T0)
    sold = first_use_pass("f1", days=30, sold_ms=T0 - 3 * DAY)
    tomorrow = yoga_class("yoga-day2", starts_ms=T0 + DAY + 10 * 60_000)
    rules = bundle(classes=[tomorrow])
    with open_ledger(tmp_path / "ledger.db", clock) as led:
        provision(led, [member("m1", cards=(CARD_1,), ledger=MemberLedger(passes=(sold,)))], rules)
        _waiting(led)
        led.set_online(False)
        first = led.tap_card(CARD_1)
        assert isinstance(first.decision, Accepted), first.decision
        [event] = first.events
        assert event.offline and isinstance(event.body, CheckIn)
        assert event.body.first_use_of == "f1"
        assert first.decision.result.pass_valid_until_ms == T0 + 30 * DAY
        assert first.member is not None
        [started] = first.member.passes
        assert (started.valid_from_ms, started.valid_until_ms) == (T0, T0 + 30 * DAY)
        running = pass_view(started, "Asia/Shanghai", T0)
        assert (running.starts_by, running.valid_until) == (None, "2026-01-31")

    # The start is a journaled fact: a restarted kiosk still holds it, still offline.
    clock.advance(DAY)
    with open_ledger(tmp_path / "ledger.db", clock) as led:
        led.set_online(False)
        second = led.tap_card(CARD_1)
        assert isinstance(second.decision, Accepted), second.decision
        signin = [e for e in second.events if isinstance(e.body, ClassSignIn)]
        assert len(signin) == 1 and signin[0].offline
        assert isinstance(signin[0].body, ClassSignIn) and signin[0].body.pass_id == "f1"
        result = second.decision.result
        assert result.action == "class_signin" and result.pass_id == "f1"
        # Inside the window the first tap started (not a new one from today).
        assert result.pass_valid_until_ms == T0 + 30 * DAY
        assert second.member is not None
        [held] = second.member.passes
        assert held.first_use is not None and held.first_use.started_ms == T0
        assert held.problem_at(T0 + DAY + HOUR) is None
