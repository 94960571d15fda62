"""The whole kiosk on a full disk: ``tapfleet kiosk`` refuses taps with the STORAGE_FULL
message on its screen rather than accepting taps it cannot record, keeps running, tells the
coordinator how little space is left, and serves again as soon as space is freed.

``tests/ledger/test_disk_full.py`` proves the ledger rolls a decision back on SQLITE_FULL.
Here everything is real: the kiosk process (nfcpy reader on its udp transport, MQTT link,
touchscreen UI), its ledger on a small tmpfs that the test fills to the last byte, the
coordinator and Mosquitto. What the member sees is read from the screen's event stream.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.reasons import RejectReason, messages
from simulators.waiting import wait_until
from tests.reliability.audit import full_audit, read_journal
from tests.reliability.fleet import Chain, Fleet
from tests.reliability.kiosk_app import KioskProcess, kiosk_config


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs (the test fills it); skipped where mounting is impossible."""
    root = tmp_path / "smallfs"
    root.mkdir()
    mounted = (
        os.geteuid() == 0
        and shutil.which("mount") is not None
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tapfleet-kiosk", str(root)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    if not mounted:
        if os.environ.get("CI") and os.geteuid() == 0:
            pytest.fail("CI runs as root: the small tmpfs should have mounted")
        pytest.skip("needs root to mount a small tmpfs (a real full disk)")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


def _fill(root: Path) -> Path:
    """Use up every byte of the file system."""
    filler = root / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 65536, 4096, 512, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)
    return filler


@pytest.mark.slow
def test_full_disk_kiosk_refuses_with_a_clear_message_and_recovers(
    fleet: Fleet, small_disk: Path, tmp_path: Path
) -> None:
    chain = fleet.seed(Chain(stores=["s1"], kiosks=[("k1", "s1")], members=8))
    m = chain.member_ids()
    ledger = small_disk / "ledger.sqlite"
    kiosk = KioskProcess(
        tmp_path / "kiosk", kiosk_config("k1", "s1", ledger, fleet.broker.host, fleet.broker.port)
    )
    try:
        kiosk.start()
        wait_until(lambda: kiosk.status().get("ready") and kiosk.status().get("online"), 60,
                   "the kiosk to sync and go online")  # fmt: skip
        shown = [kiosk.tap(chain.uid(m[0]))]
        assert shown[0]["outcome"] == "accepted"

        # The disk fills up. (A checkpoint first, as SQLite itself would do: the WAL then
        # has no space left to reuse and the very next commit needs the disk.)
        def wal_truncated() -> bool:
            conn = sqlite3.connect(ledger)
            try:
                busy, frames, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                conn.close()
            return busy == 0 and frames == 0

        wait_until(wal_truncated, 30, "a complete checkpoint of the kiosk's WAL")
        filler = _fill(small_disk)
        before = read_journal(ledger)
        _, storage_full_en = messages(RejectReason.STORAGE_FULL)
        for member in m[1:4]:
            view = kiosk.tap(chain.uid(member))
            assert view["outcome"] == "refused", view
            assert view["reason"] == RejectReason.STORAGE_FULL.value
            assert view["message_en"] == storage_full_en
            assert view["event_ids"] == []
        assert read_journal(ledger) == before  # nothing half-written, nothing accepted
        assert kiosk.proc is not None and kiosk.proc.poll() is None  # still serving

        def disk_reported_full() -> bool:
            k1 = fleet.coordinator.api("GET", "/api/v1/kiosks/k1")
            beat = k1["evidence"]["heartbeat"] or {}
            return beat.get("disk_free_bytes") is not None and beat["disk_free_bytes"] < 65536

        wait_until(disk_reported_full, 30, "the heartbeat to report the full disk", interval_s=0.2)

        filler.unlink()  # staff free some space
        for member in m[4:7]:
            view = kiosk.tap(chain.uid(member))
            assert view["outcome"] == "accepted", view
            shown.append(view)
        journal = read_journal(ledger)
        wait_until(
            lambda: fleet.coordinator.applied_seqs()["k1"] == len(journal),
            60,
            "the kiosk to drain after the disk was freed",
        )
    finally:
        code = kiosk.stop()
    assert code == 0, kiosk.log_tail()
    assert "Traceback" not in kiosk.log_tail()

    # Every result the screen showed as accepted is recorded, and applied once centrally.
    shown_ids = [event_id for view in shown for event_id in view["event_ids"]]
    assert shown_ids and set(shown_ids) <= {e.event_id for e in read_journal(ledger)}
    answers = [
        {"k": "k1", "events": [[e.seq, e.event_id] for e in read_journal(ledger)
                               if e.event_id in shown_ids]}
    ]  # fmt: skip
    report = full_audit(fleet.coordinator, {"k1": ledger}, answers, check_views=False)
    # The kiosk never died: it journaled exactly the four accepted taps it showed, and none
    # of the refusals for the full disk.
    assert report.kiosk_events["k1"] == report.shown_events["k1"] == len(shown_ids) == 4
