"""The kiosk's unconfirmed totals are kept incrementally and always equal the journal's sums
above the confirmed seq: through taps, confirmations, member removals and pruning, and a
member delta costs the events it confirms, not the backlog still waiting."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from device.ledger import KioskLedger, journal
from shared.model import MemberLedger
from tests.ledger.builders import FakeClock, delta
from tests.ledger.conftest import CARD_1
from tests.support.factories import HOUR, member, punch_pass

DAY = 24 * HOUR


def recomputed(path: Path) -> tuple[int, int, int, int]:
    """(stored sessions, stored points, summed sessions, summed points), read directly."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        confirmed, sessions, points = conn.execute(
            "SELECT confirmed_seq, unconfirmed_sessions, unconfirmed_points FROM kiosk"
        ).fetchone()
        return (sessions, points, *journal.unconfirmed_totals(conn, confirmed))
    finally:
        conn.close()


def assert_consistent(path: Path) -> tuple[int, int]:
    stored_s, stored_p, summed_s, summed_p = recomputed(path)
    assert (stored_s, stored_p) == (summed_s, summed_p)
    return stored_s, stored_p


def test_totals_follow_taps_confirmations_removals_and_pruning(
    ledger: KioskLedger, db_path: Path, clock: FakeClock
) -> None:
    ledger.tap_card(CARD_1)  # class sign-in (1 session) + check-in
    assert assert_consistent(db_path) == (1, 0)
    last = ledger.sync_status().last_seq
    ledger.mark_acked(last)

    # The coordinator confirms nothing yet and m1 leaves this store's member list.
    m2 = member("m2")
    assert ledger.apply_member_update(delta([m2], 2, 1, removed=["m1"])) == "applied"
    assert assert_consistent(db_path) == (1, 0)

    # Acknowledged, older than a day, member no longer cached: pruned although unconfirmed.
    clock.advance(2 * DAY)
    assert ledger.prune_acked(1) == last
    assert assert_consistent(db_path) == (0, 0)

    # Confirming the pruned range later takes nothing away twice.
    assert ledger.apply_member_update(delta([m2], 3, 2, included_seq=last)) == "applied"
    assert assert_consistent(db_path) == (0, 0)
    assert ledger.sync_status().confirmed_seq == last


def test_a_member_delta_during_a_long_backlog_reads_only_what_it_confirms(
    ledger: KioskLedger, db_path: Path, clock: FakeClock
) -> None:
    m1 = member("m1", cards=(CARD_1,), ledger=MemberLedger(passes=(punch_pass("p1", 500),)))
    assert ledger.apply_member_update(delta([m1], 2, 1)) == "applied"
    taps = 40
    for _ in range(taps):
        clock.advance(DAY)
        ledger.tap_card(CARD_1)
    assert_consistent(db_path)
    last = ledger.sync_status().last_seq

    seen: list[str] = []
    version = 2
    for confirm in range(2, last + 1, 7):
        version += 1
        ledger_conn = ledger._db()
        ledger_conn.set_trace_callback(seen.append)
        try:
            ledger.apply_member_update(delta([m1], version, version - 1, included_seq=confirm))
        finally:
            ledger_conn.set_trace_callback(None)
        assert_consistent(db_path)
    sums = [s for s in seen if "sum(d_sessions)" in s]
    assert sums and all("seq <= " in s for s in sums), sums  # ranges, never "all above"
