"""A software update whose new release crashes on start: the kiosk rolls back by itself and
keeps serving.

Real parts throughout: two Tapfleet wheels built from this tree by pip (0.1.1, and 0.2.0
with a fault that kills ``tapfleet kiosk`` at start), each installed by the updater
(``python -m device.updater``, a real process) into its own venv under a release root,
``current`` switched between them, the kiosk restarted through a stand-in for ``systemctl``
(``tests/reliability/service_shim.py``), the kiosk app itself on the shipped broker and the
real coordinator process, taps through its nfcpy udp reader read off its screen stream.

The full-size form (``make soak``) takes several kiosks through several releases in a row,
each good one followed by one that crashes on start; ``TAPFLEET_SOAK_UPDATE_KIOSKS``,
``..._ROUNDS`` and ``..._TAPS`` (per kiosk and release) size it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from simulators.demo.traffic import TapFeed
from simulators.nfc import VirtualCard
from simulators.ports import free_tcp_port
from simulators.waiting import wait_until
from tests.reliability.audit import read_journal
from tests.reliability.fleet import Chain, Fleet
from tests.reliability.kiosk_app import kiosk_config
from tests.reliability.processes import REPO

GOOD, BAD = "0.1.1", "0.2.0"
CRASH = 'raise RuntimeError("tapfleet 0.2.0 crashes on start (injected fault)")\n'
MACHINE_ID = "5f3c0a9e2b7d4c1e8a6f0b3d2c1e4f5a"


def build_wheel(work: Path, version: str, fault: str | None) -> Path:
    """A wheel of this tree at ``version`` (``fault`` appended to the kiosk's entry point)."""
    src = work / f"src-{version}"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for package in ("device", "coordinator", "shared", "simulators"):
        shutil.copytree(REPO / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    pyproject = src / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace('version = "0.1.0"', f'version = "{version}"', 1))
    if fault:
        with (src / "device" / "kiosk_cli.py").open("a", encoding="utf-8") as fh:
            fh.write(fault)
    out = work / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check", "-q", "--no-deps",
         "-w", str(out), str(src)],
        check=True,
    )  # fmt: skip
    return next(out.glob(f"tapfleet-{version}-*.whl"))


class Site:
    """The kiosk's release root, its service folder and the updater's config."""

    def __init__(
        self, tmp: Path, fleet: Fleet, kiosk_id: str = "k1", machine_id: str = MACHINE_ID
    ) -> None:
        self.kiosk_id = kiosk_id
        self.root = tmp / "opt"
        self.service = tmp / "service"
        self.service.mkdir(parents=True)
        self.ledger = tmp / "var" / "ledger.db"
        config = kiosk_config(kiosk_id, "s1", self.ledger, fleet.broker.host, fleet.broker.port)
        config["ui"]["port"] = free_tcp_port()
        (self.service / "kiosk.json").write_text(json.dumps(config), encoding="utf-8")
        self.nfc_port = int(config["nfc"]["path"].rsplit(":", 1)[1])
        self.url = f"http://127.0.0.1:{config['ui']['port']}"
        machine_id_path = tmp / "machine-id"
        machine_id_path.write_text(machine_id + "\n", encoding="utf-8")
        self.manifest = tmp / "manifest.json"
        shim = [sys.executable, "-m", "tests.reliability.service_shim"]
        self.config = tmp / "update.json"
        self.config.write_text(
            json.dumps(
                {
                    "manifest_url": str(self.manifest),
                    "root": str(self.root),
                    "machine_id_path": str(machine_id_path),
                    "restart_command": [*shim, "restart", str(self.service), str(self.root)],
                    "stop_command": [*shim, "stop", str(self.service), str(self.root)],
                    "health_url": f"{self.url}/api/status",
                    "health_timeout_s": 30,
                    "ledger_path": str(self.ledger),
                    # The venvs see this interpreter's packages instead of installing the
                    # wheel's dependencies from the network (a Pi installs them from the
                    # chain's repository).
                    "dependencies_from": sysconfig.get_paths()["purelib"],
                }
            ),
            encoding="utf-8",
        )

    def offer(self, wheel: Path, version: str, percentage: int) -> None:
        """Publish ``version`` on the channel at ``percentage``."""
        manifest = {
            "channel": "stable",
            "version": version,
            "wheel_url": str(wheel),
            "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
            "percentage": percentage,
        }
        self.manifest.write_text(json.dumps(manifest), encoding="utf-8")

    def update(self) -> tuple[int, dict[str, Any]]:
        """One timer run of the updater (a real process); its exit code and outcome."""
        proc = subprocess.run(
            [sys.executable, "-m", "device.updater", "--config", str(self.config)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        with (self.service / "updater.log").open("a", encoding="utf-8") as log:
            log.write(proc.stderr)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        assert lines, f"no outcome (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        return proc.returncode, json.loads(lines[-1])

    def tap(self, uid: str) -> dict[str, Any]:
        """Hold a card on the kiosk's reader until its screen shows the result."""
        feed = TapFeed(self.url, self.kiosk_id).start()
        try:
            assert feed.connected.wait(15), "the kiosk's screen feed did not connect"
            card = VirtualCard(uid, "type2").present(self.nfc_port)
            try:
                view = feed.next_tap(30, "card", threading.Event())
            finally:
                card.remove()
        finally:
            feed.stop()
        assert view is not None, f"no tap result on screen:\n{self.log_tail()}"
        return view

    def log_tail(self) -> str:
        """The end of the kiosk's log (all its runs)."""
        log = self.service / "kiosk.log"
        return log.read_text(encoding="utf-8", errors="replace")[-3000:] if log.exists() else ""

    def stop(self) -> None:
        """Stop the kiosk (teardown)."""
        subprocess.run(
            [sys.executable, "-m", "tests.reliability.service_shim", "stop", str(self.service),
             str(self.root)],
            cwd=REPO,
            check=False,
            timeout=60,
        )  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_release_that_crashes_on_start_rolls_back_and_the_kiosk_keeps_serving(
    fleet: Fleet, tmp_path: Path
) -> None:
    chain = fleet.seed(Chain(stores=["s1"], kiosks=[("k1", "s1")], members=6))
    uids = [chain.uid(m) for m in chain.member_ids()]
    with ThreadPoolExecutor(2) as pool:
        good_job = pool.submit(build_wheel, tmp_path / "build", GOOD, None)
        bad_job = pool.submit(build_wheel, tmp_path / "build", BAD, CRASH)
        good, bad = good_job.result(), bad_job.result()
    site = Site(tmp_path, fleet)
    try:
        # The first release goes in like any other: installed, switched, started, healthy.
        site.offer(good, GOOD, 100)
        code, outcome = site.update()
        assert (code, outcome["action"], outcome["running"]) == (0, "updated", GOOD), outcome
        assert site.tap(uids[0])["outcome"] == "accepted"

        def reported(version: str) -> bool:
            view = fleet.coordinator.api("GET", "/api/v1/fleet/kiosks/k1")
            return bool(view["kiosk"]["software_version"] == version)

        wait_until(lambda: reported(GOOD), 60, "the kiosk to report its version")

        # 0.2.0 offered to nobody yet: this kiosk is not in a 0 % phase.
        site.offer(bad, BAD, 0)
        assert site.update()[1]["action"] == "not_in_phase"
        assert (site.root / "current").resolve().name == GOOD

        # Offered to everyone: it is installed and started, crashes, and the kiosk goes
        # back to 0.1.1 by itself within the health gate.
        site.offer(bad, BAD, 100)
        code, outcome = site.update()
        assert code == 1 and outcome["action"] == "rolled_back", outcome
        assert outcome["running"] == GOOD and outcome["offered"] == BAD
        assert "ledger not migrated" in outcome["detail"], outcome
        assert "previous release healthy" in outcome["detail"], outcome
        assert "crashes on start (injected fault)" in site.log_tail()
        assert (site.root / "current").resolve().name == GOOD
        assert sorted(p.name for p in (site.root / "releases").iterdir()) == [GOOD, BAD]

        # ... and keeps serving on the previous release, with its ledger intact.
        assert site.tap(uids[1])["outcome"] == "accepted"
        wait_until(lambda: reported(GOOD), 60, "the kiosk to report its version again")
        journal = read_journal(site.ledger)
        assert [e.kind for e in journal] == ["checkin", "checkin"]
        wait_until(
            lambda: fleet.coordinator.applied_seqs().get("k1") == len(journal),
            60,
            "the coordinator to apply both taps",
        )

        # The next timer run leaves the failed release alone.
        code, outcome = site.update()
        assert (code, outcome["action"], outcome["running"]) == (0, "known_bad", GOOD)
    finally:
        site.stop()


def _size(name: str, default: int) -> int:
    return int(os.environ.get(f"TAPFLEET_SOAK_UPDATE_{name}", str(default)))


def _wait_reported(fleet: Fleet, kiosk_id: str, version: str) -> None:
    def reported() -> bool:
        view = fleet.coordinator.api("GET", f"/api/v1/fleet/kiosks/{kiosk_id}")
        return bool(view["kiosk"]["software_version"] == version)

    wait_until(reported, 60, f"{kiosk_id} to report {version}")


@pytest.mark.soak
@pytest.mark.timeout(7200)
def test_soak_several_kiosks_through_several_good_and_crashing_releases(
    fleet: Fleet, tmp_path: Path
) -> None:
    """Full size: ``ROUNDS`` times, every kiosk updates to a good release and serves, then is
    offered one that crashes on start, rolls back by itself and serves on; its journal holds
    every accepted tap, all applied centrally, and no release it marked bad runs again."""
    kiosks, rounds, taps = _size("KIOSKS", 3), _size("ROUNDS", 3), _size("TAPS", 10)
    ids = [f"k{i + 1}" for i in range(kiosks)]
    chain = fleet.seed(Chain(stores=["s1"], kiosks=[(k, "s1") for k in ids], members=20))
    uids = [chain.uid(m) for m in chain.member_ids()]
    goods = [f"0.{2 * r + 1}.1" for r in range(rounds)]
    bads = [f"0.{2 * r + 2}.0" for r in range(rounds)]
    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(build_wheel, tmp_path / "build", v, None) for v in goods]
        jobs += [pool.submit(build_wheel, tmp_path / "build", v, CRASH) for v in bads]
        wheels = dict(zip(goods + bads, (j.result() for j in jobs), strict=True))
    sites = [
        Site(tmp_path / k, fleet, k, hashlib.sha256(k.encode()).hexdigest()[:32]) for k in ids
    ]  # a machine id per kiosk (32 hex digits, like /etc/machine-id)
    served = dict.fromkeys(ids, 0)

    def serve(site: Site) -> None:
        for i in range(taps):
            view = site.tap(uids[(served[site.kiosk_id] + i) % len(uids)])
            assert view["outcome"] == "accepted", view
        served[site.kiosk_id] += taps

    try:
        for good, bad in zip(goods, bads, strict=True):
            for site in sites:
                site.offer(wheels[good], good, 100)
                code, outcome = site.update()
                assert (code, outcome["action"], outcome["running"]) == (0, "updated", good)
                serve(site)
                _wait_reported(fleet, site.kiosk_id, good)
            for site in sites:
                site.offer(wheels[bad], bad, 100)
                code, outcome = site.update()
                assert code == 1 and outcome["action"] == "rolled_back", outcome
                assert (outcome["running"], outcome["offered"]) == (good, bad), outcome
                assert "crashes on start (injected fault)" in site.log_tail()
                assert (site.root / "current").resolve().name == good
                serve(site)
                assert site.update()[1]["action"] == "known_bad"
        journaled: dict[str, int] = {}
        for site in sites:
            journal = read_journal(site.ledger)
            assert [e.kind for e in journal] == ["checkin"] * (2 * rounds * taps)
            journaled[site.kiosk_id] = len(journal)
        wait_until(
            lambda: fleet.coordinator.applied_seqs() == journaled,
            60,
            "the coordinator to apply every tap of every kiosk",
        )
    finally:
        for site in sites:
            site.stop()
