"""``tapfleet kiosk --config`` as a child process: the whole kiosk app, readers to screen.

Taps go through its real nfcpy reader on the ``udp`` transport (``simulators.nfc``) and the
result is read where a member reads it: the screen's event stream (``/api/events``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from simulators.demo.traffic import TapFeed
from simulators.nfc import VirtualCard
from simulators.ports import free_udp_port
from tests.reliability.processes import REPO

READY = "TAPFLEET_KIOSK_READY"


def kiosk_config(
    kiosk_id: str, store_id: str, ledger: Path, broker_host: str, broker_port: int
) -> dict[str, Any]:
    """Settings for a test kiosk: udp card reader, no camera, quick reconnects, UI on a free
    port, development staff PIN."""
    return {
        "kiosk_id": kiosk_id,
        "store_id": store_id,
        "ledger_path": str(ledger),
        "dev_mode": True,
        "log_level": "WARNING",
        "nfc": {"path": f"udp:127.0.0.1:{free_udp_port()}", "targets": ["106A"]},
        "link": {
            "host": broker_host,
            "port": broker_port,
            "keepalive_s": 5,
            "heartbeat_interval_s": 1,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 1.0,
            "sync_min_interval_s": 1.0,
            "resend_after_s": 3.0,
        },
        "ui": {"host": "127.0.0.1", "port": 0},
    }


class KioskProcess:
    """``tapfleet kiosk --config`` as a child process, with its screen feed."""

    def __init__(self, folder: Path, config: dict[str, Any]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.config_path = folder / "kiosk.json"
        self.config_path.write_text(json.dumps(config), encoding="utf-8")
        self.log = folder / "kiosk.log"
        self.nfc_port = int(config["nfc"]["path"].rsplit(":", 1)[1])
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.feed: TapFeed | None = None
        self.never = threading.Event()

    def start(self) -> None:
        """Start the kiosk and connect to its screen feed."""
        with self.log.open("a", encoding="utf-8") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "shared.cli", "kiosk", "--config", str(self.config_path)],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith(READY), f"kiosk did not start: {line!r}\n{self.log_tail()}"
        self.url = line.split("ui=", 1)[1].strip()
        self.feed = TapFeed(self.url, "k1").start()
        assert self.feed.connected.wait(15), "the screen feed did not connect"

    def status(self) -> dict[str, Any]:
        """The screen's status indicators (ready, online, connected, readers)."""
        return dict(httpx.get(f"{self.url}/api/status", timeout=5).json())

    def tap(self, uid: str) -> dict[str, Any]:
        """Hold a card on the reader until the screen shows the result."""
        assert self.feed is not None
        self.feed.drain()
        card = VirtualCard(uid, "type2").present(self.nfc_port)
        try:
            view = self.feed.next_tap(30, "card", self.never)
        finally:
            card.remove()
        assert view is not None, f"no tap result on screen\n{self.log_tail()}"
        return view

    def tap_and_pull_the_plug(self, uid: str, after_s: float) -> dict[str, Any] | None:
        """Present a card and kill the kiosk ``after_s`` later, wherever it is by then; the
        screen's result if it showed one before the power went."""
        assert self.feed is not None
        self.feed.drain()
        card = VirtualCard(uid, "type2").present(self.nfc_port)
        try:
            view = self.feed.next_tap(after_s, "card", self.never)
            self.kill()
        finally:
            card.remove()
        return view

    def kill(self) -> None:
        """SIGKILL: the plug is pulled."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if self.feed is not None:
            self.feed.stop()
            self.feed = None

    def stop(self) -> int | None:
        """SIGTERM and wait; returns the exit status."""
        if self.feed is not None:
            self.feed.stop()
            self.feed = None
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def log_tail(self) -> str:
        """The end of the kiosk's log."""
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]
