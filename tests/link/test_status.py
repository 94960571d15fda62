"""Retained status: birth says online, the last will says offline when the kiosk vanishes."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from device.link import KioskLink
from simulators.broker import Broker
from tests.link.ledgers import RecordingLedger
from tests.link.peer import CoordinatorPeer

ROOT = Path(__file__).resolve().parents[2]


def retained_status(broker: Broker, kiosk_id: str) -> str | None:
    """What a newcomer reads from the kiosk's retained status topic (None if nothing)."""
    fresh = CoordinatorPeer(broker, client_id=f"late-{uuid.uuid4().hex[:8]}", persistent=False)
    fresh.start()
    try:
        got = fresh.wait(lambda: any(k == kiosk_id for k, _, _ in fresh.statuses), timeout_s=3)
        if not got:
            return None
        states = [(s, r) for k, s, r in fresh.statuses if k == kiosk_id]
        assert states[0][1], "the first status a newcomer sees must be the retained one"
        return states[0][0]
    finally:
        fresh.stop()


def test_birth_and_graceful_stop(
    broker: Broker,
    peer: CoordinatorPeer,
    ledger: RecordingLedger,
    make_link: Callable[..., KioskLink],
) -> None:
    link = make_link(ledger)
    assert link.wait_for(lambda s: s.online, 10)  # after the grace: the peer says nothing
    assert ledger.online_calls == [True]
    assert peer.wait(lambda: ("k1", "online", False) in peer.statuses)
    assert retained_status(broker, "k1") == "online"
    link.stop()
    assert peer.wait(lambda: peer.statuses[-1][:2] == ("k1", "offline"))
    assert retained_status(broker, "k1") == "offline"
    assert ledger.online_calls == [True, False]


def test_last_will_when_the_kiosk_process_is_killed(
    broker: Broker, peer: CoordinatorPeer, tmp_path: Path
) -> None:
    folder = tmp_path / "k9"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.link.kiosk_process", str(broker.port), "k9", "s1", folder],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "connected"
        assert peer.wait(lambda: ("k9", "online", False) in peer.statuses)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
        # The broker sees the socket close without DISCONNECT and publishes the will.
        assert peer.wait(lambda: peer.statuses[-1][:2] == ("k9", "offline"), timeout_s=15)
        assert retained_status(broker, "k9") == "offline"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
