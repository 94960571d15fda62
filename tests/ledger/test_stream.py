"""The kiosk ledger's stream identity: epoch adoption, refusal, divergence from the coordinator."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from device.ledger import KioskLedger
from shared.reasons import RejectReason
from tests.ledger.builders import FakeClock, open_ledger
from tests.ledger.conftest import CARD_1


def _journal_count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM journal").fetchone()[0])
    finally:
        conn.close()


def test_a_fresh_ledger_has_an_id_and_adopts_the_epoch_handed_to_it(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "fresh.db"
    led = open_ledger(path, clock)
    state = led.stream_state()
    assert re.fullmatch(r"[0-9a-f]{32}", state.ledger_id)
    assert (state.epoch, state.start_seq, state.refused) == (0, 1, None)
    assert not led.adopt_epoch(2, 9, "0" * 32)  # handed to another ledger
    assert led.adopt_epoch(2, 9, state.ledger_id)
    assert not led.adopt_epoch(2, 9, state.ledger_id)  # once
    stats = led.outbox_stats()
    assert (stats.last_seq, stats.acked_seq) == (8, 8)
    led.close()
    again = open_ledger(path, clock)
    assert (again.stream_state().epoch, again.stream_state().start_seq) == (2, 9)
    assert again.stream_state().ledger_id == state.ledger_id
    again.close()


def test_a_ledger_that_recorded_events_does_not_adopt_an_epoch(ledger: KioskLedger) -> None:
    assert ledger.tap_card(CARD_1).events
    assert not ledger.adopt_epoch(1, 50, ledger.stream_state().ledger_id)
    assert ledger.stream_state().epoch == 0


def test_a_refused_stream_records_nothing_and_says_why(ledger: KioskLedger, db_path: Path) -> None:
    before = _journal_count(db_path)
    assert ledger.refuse_stream("ledger_behind", "re-provision the kiosk")
    outcome = ledger.tap_card(CARD_1)
    assert outcome.reason is RejectReason.STREAM_REFUSED and outcome.events == ()
    assert _journal_count(db_path) == before
    assert ledger.stream_state().refused_detail == "re-provision the kiosk"
    assert ledger.refuse_stream(None)
    assert ledger.tap_card(CARD_1).events


def test_an_older_copy_that_tapped_on_its_own_finds_out_it_diverged(ledger: KioskLedger) -> None:
    first = ledger.tap_card(CARD_1).events[-1]
    assert ledger.check_applied(first.seq, first.event_id)
    assert ledger.stream_state().refused is None
    assert not ledger.check_applied(first.seq, "f" * 32)
    assert ledger.stream_state().refused == "ledger_diverged"
    assert ledger.tap_card(CARD_1).reason is RejectReason.STREAM_REFUSED
