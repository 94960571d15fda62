"""Real kiosks in a process of their own, driven line by line: the fault tests' kiosk.

    python -m tests.reliability.kiosk_host CONFIG.json

Each kiosk is the real thing minus readers and screen: ``device.ledger.KioskLedger`` on its
SQLite file, drained by ``device.link.KioskLink`` over a real Mosquitto. A test can kill the
process with SIGKILL at any instant (power loss) and start it again on the same files.

CONFIG (JSON)::

    {"advance_ms": 0,                                # simulated time already passed
     "link": {"resend_after_s": 3, ...},             # LinkSettings overrides
     "kiosks": [{"kiosk_id": "k1", "store_id": "s1", "ledger": "/path/ledger.db",
                 "host": "127.0.0.1", "port": 1883, "wall_skew_ms": 0}]}

Test hook: the clock. Every kiosk reads ``tests.reliability.sim_clock.KioskClock`` (injected
through ``device.ports.Clock``, nothing patched): ``advance`` lets simulated hours pass at
once, ``wall_skew_ms`` makes one kiosk's wall clock wrong like a Pi booting without RTC.

Commands are JSON lines on stdin, each answered by one JSON line on stdout carrying the same
``id``. A tap's answer is printed only after the ledger committed it, so a printed tap is a
tap the member saw: exactly what must reach the coordinator once, whatever is killed later.

    {"op": "tap", "id": 1, "k": "k1", "uid": "10000001", "cls": null}
    {"op": "redeem", "id": 2, "k": "k1", "member": "m0001", "reward": "water"}
    {"op": "state", "id": 3}                       # link, outbox, versions, RSS
    {"op": "reset_peaks", "id": 4}                 # RSS and in-flight maxima start again
    {"op": "backlog", "id": 5, "k": "k1", "n": 20000, "members": ["m0001"], "every": 10,
     "from_ms": ..., "to_ms": ...}                 # bulk journal append, one transaction
    {"op": "advance", "id": 6, "ms": 3600000}
    {"op": "stop", "id": 7}                        # links stopped, ledgers closed, exit 0

The first line printed is ``{"ready": true, "pid": ..., "last_seq": {kiosk: seq}}``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

from device.ledger import KioskLedger, TapOutcome, journal
from device.ledger.database import open_database, write_transaction
from device.link import KioskLink, LinkSettings, LinkState
from shared.events import CheckIn, CredentialKind, CredentialRef, Rejected
from shared.hlc import tick
from tests.reliability.sim_clock import KioskClock, WorldClock

LINK_DEFAULTS: dict[str, Any] = {
    "keepalive_s": 5,
    "reconnect_min_s": 0.05,
    "reconnect_max_s": 0.5,
    "online_grace_s": 0.3,
    "heartbeat_interval_s": 2,
    "sync_min_interval_s": 0.3,
    "resend_after_s": 3.0,
    "idle_poll_s": 1.0,
}
UNKNOWN_CARD = "0F0E0D0C"
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_kb() -> int:
    """Resident set size of this process, in KiB."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * _PAGE // 1024


class Peaks:
    """Largest RSS and in-flight window seen since the last reset (sampled every 10 ms)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rss_kb = rss_kb()
        self.in_flight: dict[str, int] = {}

    def reset(self) -> None:
        with self.lock:
            self.rss_kb = rss_kb()
            self.in_flight = {}

    def sample(self, stop: threading.Event) -> None:
        while not stop.wait(0.01):
            now = rss_kb()
            with self.lock:
                self.rss_kb = max(self.rss_kb, now)

    def link_state(self, kiosk_id: str, state: LinkState) -> None:
        with self.lock:
            self.in_flight[kiosk_id] = max(self.in_flight.get(kiosk_id, 0), state.in_flight)


class Kiosk:
    """One kiosk's ledger, link and clock."""

    def __init__(self, spec: dict[str, Any], world: WorldClock, link: dict[str, Any], peaks: Peaks):
        self.kiosk_id: str = spec["kiosk_id"]
        self.store_id: str = spec["store_id"]
        self.path = Path(spec["ledger"])
        self.clock = KioskClock(world, int(spec.get("wall_skew_ms", 0)))
        self.ledger = KioskLedger.open(
            self.path, kiosk_id=self.kiosk_id, store_id=self.store_id, clock=self.clock
        )
        settings = LinkSettings(
            host=spec.get("host", "127.0.0.1"), port=int(spec["port"]), **{**LINK_DEFAULTS, **link}
        )
        self.link = KioskLink(
            settings,
            self.ledger,
            clock=self.clock,
            disk_path=self.path.parent,
            on_state_change=lambda state: peaks.link_state(self.kiosk_id, state),
        )

    def state(self) -> dict[str, Any]:
        link = self.link.state()
        sync = self.ledger.sync_status()
        return {
            "connected": link.connected,
            "online": link.online,
            "link_acked_seq": link.acked_seq,
            "in_flight": link.in_flight,
            "clock_offset_ms": link.clock_offset_ms,
            "reconnects": link.reconnects,
            "counters": dict(link.counters),
            "last_seq": sync.last_seq,
            "acked_seq": sync.acked_seq,
            "confirmed_seq": sync.confirmed_seq,
            "outbox_depth": sync.outbox_depth,
            "versions": sync.versions.model_dump(),
            "now_ms": self.ledger.now_ms(),
            "wall_ms": self.clock.wall_ms(),
            "time_source": self.ledger.time_source().value,
            "stream": {
                "epoch": self.ledger.stream_state().epoch,
                "start_seq": self.ledger.stream_state().start_seq,
                "refused": self.ledger.stream_state().refused,
                "detail": self.ledger.stream_state().refused_detail,
            },
        }

    def backlog(self, command: dict[str, Any]) -> int:
        """Append ``n`` offline events in one transaction with the ledger's own journal code.

        Taps one by one cost an fsync each; tens of thousands of them would take minutes. The
        events are what an offline kiosk records: check-ins of the listed members (every
        ``every``-th event) between refusals of an unknown card, stamped evenly from
        ``from_ms`` to ``to_ms``.
        """
        n = int(command["n"])
        members: list[str] = list(command.get("members") or [])
        every = max(1, int(command.get("every", 10)))
        start, end = int(command["from_ms"]), int(command["to_ms"])
        conn = open_database(self.path, self.kiosk_id, self.store_id, self.clock.wall_ms())
        try:
            with write_transaction(conn):
                state = journal.read_state(conn)
                for i in range(n):
                    at = start + (end - start) * i // max(1, n)
                    hlc = tick(state.hlc, at)
                    member = members[(i // every) % len(members)] if members else None
                    if member is not None and i % every == 0:
                        body: Any = CheckIn(points=0)
                        credential = CredentialRef(kind=CredentialKind.STAFF, staff_id="backlog")
                    else:
                        member = None
                        body = Rejected(reason="unknown_card", detail="backlog")
                        credential = CredentialRef(kind=CredentialKind.CARD, uid=UNKNOWN_CARD)
                    journal.append(
                        conn,
                        state,
                        [body],
                        first_hlc=hlc,
                        wall_ms=at,
                        member_id=member,
                        credential=credential,
                        offline=True,
                        rules_version=state.rules_version,
                    )
                journal.write_state(conn, state)
                last = state.last_seq
        finally:
            conn.close()
        self.link.notify_new_events()
        return last


def _tap_line(command: dict[str, Any], kiosk: Kiosk, outcome: TapOutcome) -> dict[str, Any]:
    return {
        "id": command["id"],
        "k": kiosk.kiosk_id,
        "outcome": outcome.decision.outcome,
        "reason": outcome.reason.value if outcome.reason else None,
        "events": [
            [e.seq, e.event_id, e.kind, e.hlc_ms, e.hlc_c, e.wall_ms] for e in outcome.events
        ],
        "online": kiosk.ledger.online,
        "member": outcome.member.member_id if outcome.member else None,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the kiosks of CONFIG until ``stop`` or end of input."""
    args = argv if argv is not None else sys.argv[1:]
    config = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    world = WorldClock(int(config.get("advance_ms", 0)))
    peaks = Peaks()
    stop_sampling = threading.Event()
    threading.Thread(target=peaks.sample, args=(stop_sampling,), daemon=True).start()
    kiosks = {
        spec["kiosk_id"]: Kiosk(spec, world, config.get("link", {}), peaks)
        for spec in config["kiosks"]
    }
    for kiosk in kiosks.values():
        kiosk.link.start()
    out = sys.stdout

    def say(line: dict[str, Any]) -> None:
        out.write(json.dumps(line) + "\n")
        out.flush()

    say(
        {
            "ready": True,
            "pid": os.getpid(),
            "last_seq": {k: v.ledger.outbox_stats().last_seq for k, v in kiosks.items()},
        }
    )
    for raw in sys.stdin:
        if not raw.strip():
            continue
        command = json.loads(raw)
        op = command.get("op")
        try:
            if op == "tap":
                kiosk = kiosks[command["k"]]
                outcome = kiosk.ledger.tap_card(command["uid"], command.get("cls"))
                kiosk.link.notify_new_events()
                say(_tap_line(command, kiosk, outcome))
            elif op == "redeem":
                kiosk = kiosks[command["k"]]
                outcome = kiosk.ledger.redeem_points(command["member"], command["reward"])
                kiosk.link.notify_new_events()
                say(_tap_line(command, kiosk, outcome))
            elif op == "state":
                with peaks.lock:
                    rss_max, in_flight = peaks.rss_kb, dict(peaks.in_flight)
                say(
                    {
                        "id": command["id"],
                        "rss_kb": rss_kb(),
                        "rss_max_kb": rss_max,
                        "max_in_flight": in_flight,
                        "kiosks": {k: v.state() for k, v in kiosks.items()},
                    }
                )
            elif op == "reset_peaks":
                peaks.reset()
                say({"id": command["id"], "rss_kb": rss_kb()})
            elif op == "backlog":
                last = kiosks[command["k"]].backlog(command)
                say({"id": command["id"], "last_seq": last})
            elif op == "advance":
                say({"id": command["id"], "offset_ms": world.advance(int(command["ms"]))})
            elif op == "stop":
                break
            else:
                say({"id": command.get("id"), "error": f"unknown op {op!r}"})
        except Exception as exc:  # a bad command is answered, never fatal
            logging.getLogger(__name__).warning("command %r failed: %r", command, exc)
            say({"id": command.get("id"), "error": repr(exc)})
    for kiosk in kiosks.values():
        kiosk.link.stop(timeout_s=3)
        kiosk.ledger.close()
    stop_sampling.set()
    say({"id": "stopped", "stopped": True})
    return 0


if __name__ == "__main__":
    sys.exit(main())
