"""Journal retention (issue 19, part 2): acknowledged rows go only once the coordinator's
verified backups hold them, and the journal stays bounded over a year of traffic."""

from __future__ import annotations

from pathlib import Path

from device.ledger import KioskLedger, journal
from device.ledger.database import open_database, write_transaction
from shared.events import CredentialKind, CredentialRef, Rejected
from shared.hlc import tick
from tests.ledger.builders import KIOSK, STORE, FakeClock, journal_rows, open_ledger
from tests.ledger.conftest import CARD_1

HOUR = 3_600_000
DAY = 24 * HOUR
MARGIN = DAY
MIN_KEEP = 7 * DAY
PER_DAY = 150
"""Events a busy kiosk journals per day in the simulated year (taps and refusals)."""


def _append(path: Path, clock: FakeClock, n: int) -> int:
    """``n`` refusals of an unknown card through the journal's own code (one transaction,
    as the reliability suite's backlogs): the day's traffic without an fsync per tap."""
    conn = open_database(path, KIOSK, STORE, clock.wall_ms())
    try:
        with write_transaction(conn):
            state = journal.read_state(conn)
            for i in range(n):
                at = clock.wall_ms() + i
                journal.append(
                    conn,
                    state,
                    [Rejected(reason="unknown_card", detail="year")],
                    first_hlc=tick(state.hlc, at),
                    wall_ms=at,
                    member_id=None,
                    credential=CredentialRef(kind=CredentialKind.CARD, uid="0F0E0D0C"),
                    offline=False,
                    rules_version=state.rules_version,
                )
            journal.write_state(conn, state)
            return state.last_seq
    finally:
        conn.close()


def test_nothing_goes_before_a_verified_backup_holds_it(
    ledger: KioskLedger, db_path: Path, clock: FakeClock
) -> None:
    member_seqs = [e.seq for e in ledger.tap_card(CARD_1).events]
    (refusal,) = ledger.tap_card("0BADF00D").events  # no member: always folded
    acked_at = clock.now_ms
    ledger.mark_acked(refusal.seq)
    (unacked,) = ledger.tap_card("0BADF00D").events
    clock.advance(30 * DAY)
    holds = refusal.seq
    assert ledger.prune_retained(MARGIN, MIN_KEEP, holds) == 0, "no backup time heard yet"
    ledger.set_backup_verified(acked_at + MARGIN // 2)  # within the margin: not yet
    assert ledger.prune_retained(MARGIN, MIN_KEEP, holds) == 0
    ledger.set_backup_verified(acked_at + MARGIN + 1)
    assert ledger.prune_retained(MARGIN, MIN_KEEP, holds - 1) == 0, "above what it holds"
    ledger.set_restore_epoch(1_800_000_000)  # a restore: the old backup time no longer counts
    assert ledger.stream_state().backup_verified_ms is None
    assert ledger.prune_retained(MARGIN, MIN_KEEP, holds) == 0
    ledger.set_backup_verified(acked_at + MARGIN + 1)
    # m1's events are acknowledged but not folded into its record: kept; the refusal goes.
    assert ledger.prune_retained(MARGIN, MIN_KEEP, holds) == 1
    assert [r[0] for r in journal_rows(db_path)] == [*member_seqs, unacked.seq]


def test_recent_rows_stay_whatever_the_backup_time(
    ledger: KioskLedger, db_path: Path, clock: FakeClock
) -> None:
    ledger.tap_card("0BADF00D")
    ledger.mark_acked(1)
    clock.advance(2 * DAY)
    ledger.set_backup_verified(clock.now_ms)
    assert ledger.prune_retained(MARGIN, MIN_KEEP, 1) == 0
    clock.advance(6 * DAY)
    assert ledger.prune_retained(MARGIN, MIN_KEEP, 1) == 1


def test_journal_size_is_bounded_over_a_simulated_year(tmp_path: Path) -> None:
    """A year of 150 events a day, acknowledged the same day, a verified coordinator backup
    every night and a prune every day: the journal levels off at about the days that the
    margin and the minimum keep hold, while the same year without pruning keeps it all."""
    clock = FakeClock()
    path = tmp_path / "year.db"
    led = open_ledger(path, clock)
    sizes: list[tuple[int, int]] = []
    try:
        for _ in range(365):
            last = _append(path, clock, PER_DAY)
            clock.advance(12 * HOUR)
            led.mark_acked(last)
            clock.advance(2 * HOUR)
            led.set_backup_verified(clock.now_ms)  # the coordinator's nightly backup
            clock.advance(10 * HOUR)
            led.prune_retained(MARGIN, MIN_KEEP, last)
            sizes.append(led.journal_size())
    finally:
        led.close()
    rows, used = sizes[-1]
    kept_days = (MIN_KEEP + MARGIN) // DAY + 1
    assert rows <= kept_days * PER_DAY, sizes[-1]
    month_peak = max(u for _, u in sizes[:30])
    assert max(u for _, u in sizes[30:]) <= month_peak * 1.2
    file_bytes = path.stat().st_size
    print(
        f"journal over a simulated year ({PER_DAY} events/day, nightly backup, daily prune): "
        f"{rows} rows and {used // 1024} KiB in use at day 365 (peak after day 30: "
        f"{max(u for _, u in sizes[30:]) // 1024} KiB, file {file_bytes // 1024} KiB); "
        f"without pruning: {365 * PER_DAY} rows"
    )
