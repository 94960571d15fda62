"""The coordinator is restored from a backup taken mid-traffic (issue 19, part 2).

Real processes: Mosquitto, the coordinator (``tapfleet coordinator`` on SQLite) and two
kiosks in a host process. Members tap while ``tapfleet coordinator backup`` copies the live
database; more traffic follows and everything converges: that ledger is the uninterrupted
run. Then the coordinator is stopped, ``tapfleet coordinator restore`` puts the backup back
(the coordinator now lacks everything after the backup) and the coordinator starts again:
it asks every kiosk to resync, the kiosks replay from their journals what the coordinator
acknowledged before, and the ledger must end exactly as the uninterrupted one: the same
events (id, seq, body) from every source, the same folded balances, the same conflicts.
The kiosks prune their journals as eagerly as retention allows (everything the backup
holds), so the replay also proves that retention keeps what a restore needs.

The full-size form (``make soak``) runs several such rounds in a row on a larger fleet;
``TAPFLEET_SOAK_RESTORE_KIOSKS``, ``..._ROUNDS`` and ``..._MORE`` (events after each
backup) size it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from coordinator import schema
from simulators.waiting import wait_until
from tests.reliability.fleet import Chain, Fleet
from tests.reliability.traffic import Traffic

KIOSKS = [("k1", "s1"), ("k2", "s1"), ("k3", "s2")]
PRUNE_EAGERLY = {"prune_interval_s": 0.5, "journal_keep_after_backup_s": 0, "journal_min_keep_s": 0}
"""Retention at its most aggressive: a row goes as soon as a verified backup holds it, so
the replay after the restore must find everything the backup lacks still journaled."""


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


def _counters(fleet: Fleet, name: str) -> dict[str, int]:
    return {k: s["counters"][name] for k, s in fleet.states().items()}


def _backup_mid_traffic_then_restore(
    fleet: Fleet, kiosk_ids: list[str], backups: Path, *, rate_per_s: float, seed: int, more: int
) -> None:
    """One round: a backup while members tap, ``more`` events after it, converge; then the
    coordinator is restored from that backup and must end as the uninterrupted run."""
    coordinator = fleet.coordinator
    pruned, replays = _counters(fleet, "journal_pruned"), _counters(fleet, "replays")
    traffic = Traffic(fleet, kiosk_ids, rate_per_s=rate_per_s, seed=seed).start()
    try:
        # About 20 taps per kiosk before the backup, so every kiosk has rows it can prune.
        start = sum(coordinator.applied_seqs().values()) + 20 * len(kiosk_ids)
        wait_until(lambda: sum(coordinator.applied_seqs().values()) > start, 60, "traffic")
        out = _tapfleet("coordinator", "backup", "--db", coordinator.db_url, "--out", str(backups))
        assert "verified" in out
        at_backup = sum(coordinator.applied_seqs().values())
        # The kiosks hear of the backup at their next sync and prune what it holds.
        fleet.cut(*kiosk_ids)
        fleet.restore(*kiosk_ids)
        wait_until(
            lambda: all(n > pruned[k] for k, n in _counters(fleet, "journal_pruned").items()),
            60,
            "every kiosk to prune what the backup holds",
        )
        wait_until(
            lambda: sum(coordinator.applied_seqs().values()) > at_backup + more,
            max(60.0, 2 * more / rate_per_s),
            "more traffic after the backup",
        )
    finally:
        traffic.stop()
    fleet.wait_converged()
    uninterrupted = _ledger(fleet)

    backup = max(backups.glob("tapfleet-*.sqlite"))
    coordinator.stop()
    coordinator.close()  # lets go of its database handle too
    out = _tapfleet("coordinator", "restore", "--db", coordinator.db_url, "--from", str(backup))
    assert "restore epoch" in out
    restored = _ledger(fleet)
    lacking = len(uninterrupted["events"]) - len(restored["events"])
    assert lacking > more, "the backup must lack the traffic that followed it"

    coordinator.start()
    fleet.wait_converged(timeout_s=120 + lacking / 50)
    after = _ledger(fleet)
    assert after["events"] == uninterrupted["events"]
    assert after["balances"] == uninterrupted["balances"]
    assert after["conflicts"] == uninterrupted["conflicts"]
    now = _counters(fleet, "replays")
    assert all(now[k] > replays[k] for k in now), (replays, now)


def test_restore_from_a_backup_taken_mid_traffic_ends_as_if_nothing_happened(
    fleet: Fleet, tmp_path: Path
) -> None:
    fleet.seed(Chain(stores=["s1", "s2"], kiosks=KIOSKS, members=20))
    kiosk_ids = [k for k, _ in KIOSKS]
    fleet.add_host("h1", ["k1", "k2"], link=PRUNE_EAGERLY)
    fleet.add_host("h2", ["k3"], link=PRUNE_EAGERLY)
    fleet.wait_ready()
    # Twice: the second round also proves the kiosks prune again after replaying to a
    # restored coordinator (they used to stop pruning until their process restarted).
    for round_no in range(2):
        _backup_mid_traffic_then_restore(
            fleet, kiosk_ids, tmp_path / "backups", rate_per_s=40, seed=19 + round_no, more=80
        )
    for host in fleet.hosts.values():
        host.stop()


def _size(name: str, default: int) -> int:
    return int(os.environ.get(f"TAPFLEET_SOAK_RESTORE_{name}", str(default)))


@pytest.mark.soak
@pytest.mark.timeout(7200)
def test_soak_restored_several_times_from_backups_taken_mid_traffic(
    fleet: Fleet, tmp_path: Path
) -> None:
    """Full size: ``KIOSKS`` kiosks in 4 stores (4 per host process), ``ROUNDS`` backup and
    restore rounds in a row, each restore from the newest backup, each ending as the
    uninterrupted run (a restore epoch per round; the journals pruned after every backup)."""
    kiosks, rounds, more = _size("KIOSKS", 16), _size("ROUNDS", 4), _size("MORE", 600)
    kiosk_ids = [f"k{i + 1}" for i in range(kiosks)]
    stores = [f"s{i + 1}" for i in range(min(4, kiosks))]
    layout = [(k, stores[i % len(stores)]) for i, k in enumerate(kiosk_ids)]
    fleet.seed(Chain(stores=stores, kiosks=layout, members=100))
    for h in range(0, kiosks, 4):
        fleet.add_host(f"h{h // 4 + 1}", kiosk_ids[h : h + 4], link=PRUNE_EAGERLY)
    fleet.wait_ready()
    for round_no in range(rounds):
        _backup_mid_traffic_then_restore(
            fleet, kiosk_ids, tmp_path / "backups", rate_per_s=100, seed=19 + round_no, more=more
        )
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
