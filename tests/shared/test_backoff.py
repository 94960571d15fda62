"""The one backoff (shared/backoff.py) used by every retry loop: the kiosk link, its card
reader and camera, the coordinator's MQTT link, ingest and member-push transactions."""

from __future__ import annotations

import random

import pytest

from shared.backoff import Backoff


def test_backoff_grows_with_jitter_and_resets() -> None:
    b = Backoff(1.0, 8.0, random.Random(7))
    delays = [b.next_delay() for _ in range(6)]
    for delay, base in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert base / 2 <= delay <= base
    assert len(set(delays)) == len(delays)  # jittered, not lockstep
    b.reset()
    assert b.next_delay() <= 1.0
    with pytest.raises(ValueError, match="min_s"):
        Backoff(2.0, 1.0)


def test_backoff_is_capped_and_never_below_half_the_base() -> None:
    b = Backoff(0.5, 10.0, random.Random(1))
    delays = [b.next_delay() for _ in range(200)]  # far past 2**32: no overflow
    assert all(0.25 <= d <= 10.0 for d in delays)
    assert min(delays[10:]) >= 5.0  # at the cap, half of it is fixed


def test_every_retry_loop_uses_it() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for module in (
        "device/link/client.py",
        "device/readers/nfc_reader.py",
        "device/readers/qr.py",
        "coordinator/mqtt/link.py",
        "coordinator/ledger/ingest.py",
        "coordinator/downstream/push_loop.py",
    ):
        text = (root / module).read_text(encoding="utf-8")
        assert "from shared.backoff import Backoff" in text, module
        assert "backoff * 2" not in text and "reconnect_delay_set(min_delay" not in text, module
        assert "0.05 * (attempt + 1)" not in text, module
