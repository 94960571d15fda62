"""The coordinator is restored from a backup taken mid-traffic (issue 19, part 2).

Real processes: Mosquitto, the coordinator (``tapfleet coordinator`` on SQLite) and two
kiosks in a host process. Members tap while ``tapfleet coordinator backup`` copies the live
database; more traffic follows and everything converges: that ledger is the uninterrupted
run. Then the coordinator is stopped, ``tapfleet coordinator restore`` puts the backup back
(the coordinator now lacks everything after the backup) and the coordinator starts again:
it asks every kiosk to resync, the kiosks replay from their journals what the coordinator
acknowledged before, and the ledger must end exactly as the uninterrupted one: the same
events (id, seq, body) from every source, the same folded balances, the same conflicts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from coordinator import schema
from simulators.waiting import wait_until
from tests.reliability.fleet import Chain, Fleet
from tests.reliability.traffic import Traffic

KIOSKS = [("k1", "s1"), ("k2", "s1"), ("k3", "s2")]


def _tapfleet(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "from shared.cli import main; raise SystemExit(main())", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _ledger(fleet: Fleet) -> dict[str, Any]:
    ev = schema.events
    ms = schema.member_states
    c = schema.conflicts

    def read(conn: sa.Connection) -> dict[str, Any]:
        events = conn.execute(
            sa.select(ev.c.source, ev.c.seq, ev.c.event_id, ev.c.body, ev.c.quarantined).order_by(
                ev.c.source, ev.c.seq
            )
        ).all()
        return {
            "events": [tuple(r) for r in events],
            "balances": dict(conn.execute(sa.select(ms.c.member_id, ms.c.ledger)).all()),
            "conflicts": sorted(conn.execute(sa.select(c.c.dedupe_key)).scalars()),
        }

    out: dict[str, Any] = fleet.coordinator.read(read)
    return out


def test_restore_from_a_backup_taken_mid_traffic_ends_as_if_nothing_happened(
    fleet: Fleet, tmp_path: Path
) -> None:
    fleet.seed(Chain(stores=["s1", "s2"], kiosks=KIOSKS, members=20))
    kiosk_ids = [k for k, _ in KIOSKS]
    fleet.add_host("h1", ["k1", "k2"])
    fleet.add_host("h2", ["k3"])
    fleet.wait_ready()
    coordinator = fleet.coordinator
    backups = tmp_path / "backups"

    traffic = Traffic(fleet, kiosk_ids, rate_per_s=40, seed=19).start()
    try:
        wait_until(lambda: sum(coordinator.applied_seqs().values()) > 60, 60, "traffic")
        out = _tapfleet("coordinator", "backup", "--db", coordinator.db_url, "--out", str(backups))
        assert "verified" in out
        at_backup = sum(coordinator.applied_seqs().values())
        wait_until(
            lambda: sum(coordinator.applied_seqs().values()) > at_backup + 80,
            60,
            "more traffic after the backup",
        )
    finally:
        traffic.stop()
    fleet.wait_converged()
    uninterrupted = _ledger(fleet)

    (backup,) = sorted(backups.glob("tapfleet-*.sqlite"))
    coordinator.stop()
    coordinator.close()  # lets go of its database handle too
    out = _tapfleet("coordinator", "restore", "--db", coordinator.db_url, "--from", str(backup))
    assert "restore epoch" in out
    restored = _ledger(fleet)
    lacking = len(uninterrupted["events"]) - len(restored["events"])
    assert lacking > 80, "the backup must lack the traffic that followed it"

    coordinator.start()
    fleet.wait_converged(timeout_s=120)
    after = _ledger(fleet)
    assert after["events"] == uninterrupted["events"]
    assert after["balances"] == uninterrupted["balances"]
    assert after["conflicts"] == uninterrupted["conflicts"]
    states = fleet.states()
    assert all(s["counters"]["replays"] >= 1 for s in states.values()), states
    for host in fleet.hosts.values():
        host.stop()


def test_backup_command_keeps_the_newest(fleet: Fleet, tmp_path: Path) -> None:
    fleet.seed(Chain(stores=["s1"], kiosks=[("k1", "s1")], members=3))
    out_dir = tmp_path / "kept"
    keep = 2
    for _ in range(keep + 2):
        _tapfleet(
            "coordinator",
            "backup",
            "--db",
            fleet.coordinator.db_url,
            "--out",
            str(out_dir),
            "--keep",
            str(keep),
        )
    assert len(list(out_dir.glob("tapfleet-*.sqlite"))) == keep
