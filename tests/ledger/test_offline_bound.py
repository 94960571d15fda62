"""The offline overspend bound (``shared.limits``) holds on the real kiosk ledger.

``tests/shared/test_limits.py`` proves the bound on the pure decision functions; here the
kiosks are real ``KioskLedger`` files (SQLite, the ledger's own unconfirmed counters), all
offline on the same stale snapshot of one member, each signing the member into classes
until its own cap refuses. Folding every kiosk's journal centrally, the member's pass may be
overdrawn by at most ``(N - 1) x max_unconfirmed_sessions_per_member``, and an all-offline
fleet reaches exactly that.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.fold import fold_sorted
from shared.limits import worst_case_session_overspend
from shared.model import MemberLedger, OfflineLimits
from shared.reasons import RejectReason
from tests.ledger.builders import FakeClock, open_ledger, provision
from tests.support.factories import T0, bundle, member, punch_pass, yoga_class

CARD = "04B0B1B2B3B4B5"
LIMITS = OfflineLimits(
    max_unconfirmed_sessions_per_member=2,
    max_offline_sessions_per_member_day=100,
    kiosk_max_unconfirmed_sessions=100,
)
CLASSES = [yoga_class(f"c{i}", starts_ms=T0 + 10 * 60_000) for i in range(8)]


def overdrawn(folder: Path, taps_per_kiosk: list[int], sessions: int) -> tuple[int, set[str]]:
    """Sessions the member's pass ends overdrawn by centrally, and the refusal reasons seen."""
    start = MemberLedger(passes=(punch_pass("p1", sessions),))
    record = member("m1", cards=(CARD,), ledger=start)
    rules = bundle(classes=CLASSES, offline=LIMITS)
    folder.mkdir(parents=True, exist_ok=True)
    events = []
    reasons: set[str] = set()
    for k, taps in enumerate(taps_per_kiosk):
        clock = FakeClock(T0)
        with open_ledger(folder / f"k{k}.db", clock, kiosk_id=f"k{k}") as ledger:
            provision(ledger, [record], rules)
            ledger.set_online(False)  # never hears from the coordinator again
            for n in range(taps):
                clock.advance(1_000)
                outcome = ledger.tap_card(CARD, f"c{n}")
                if not outcome.accepted and outcome.reason is not None:
                    reasons.add(outcome.reason.value)
            events.extend(ledger.journal_events())
    final, _ = fold_sorted(start, events)
    p1 = final.find_pass("p1")
    assert p1 is not None
    return max(0, -p1.sessions_left), reasons


@settings(max_examples=20, deadline=None)
@given(
    taps=st.lists(st.integers(0, 5), min_size=1, max_size=4),
    sessions=st.integers(0, 4),
)
def test_offline_kiosks_never_overdraw_past_the_bound(taps: list[int], sessions: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        over, _ = overdrawn(Path(folder), taps, sessions)
    assert over <= worst_case_session_overspend(LIMITS, len(taps))


def test_an_all_offline_fleet_reaches_the_bound_exactly(tmp_path: Path) -> None:
    # Each kiosk sees the 2 sessions of the stale snapshot and spends them: 8 spent of 2.
    over, reasons = overdrawn(tmp_path / "tight", [5, 5, 5, 5], sessions=2)
    assert over == worst_case_session_overspend(LIMITS, 4) == 6
    assert reasons == {RejectReason.NO_SESSIONS_LEFT.value}
    # With a pass that looks big enough, it is each kiosk's own cap that stops it.
    over, reasons = overdrawn(tmp_path / "capped", [5, 5, 5, 5], sessions=5)
    assert over == 4 * 2 - 5
    assert reasons == {RejectReason.OFFLINE_LIMIT_REACHED.value}
