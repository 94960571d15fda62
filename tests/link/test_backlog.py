"""A long offline backlog drains with the in-flight window bounded, in order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from device.link import KioskLink
from tests.link.ledgers import RecordingLedger
from tests.link.peer import CoordinatorPeer

WINDOW = 600
BATCH = 150


def test_twenty_thousand_event_backlog_keeps_the_window(
    peer: CoordinatorPeer, tmp_path: Path, make_link: Callable[..., KioskLink]
) -> None:
    ledger = RecordingLedger.with_backlog(tmp_path / "backlog", 20_000)
    link = None
    try:
        assert ledger.outbox_stats().depth == 20_000
        link = make_link(ledger, batch_events=BATCH, window_events=WINDOW)
        # New taps keep arriving while the backlog drains; they are just the next seqs.
        assert peer.wait(lambda: peer.contiguous["k1"] >= 5_000, timeout_s=60)
        ledger.append(5)
        link.notify_new_events()
        state = link.wait_for(lambda s: s.acked_seq == 20_005, 90)
        assert state is not None, link.state()
        assert peer.max_outstanding <= WINDOW
        assert peer.largest_batch <= BATCH
        assert ledger.max_limit_asked <= BATCH
        assert peer.first_seen == list(range(1, 20_006))
        assert ledger.acked_seq == 20_005
        assert state.in_flight == 0
    finally:
        if link is not None:
            link.stop()
        ledger.close()
