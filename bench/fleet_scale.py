"""A simulated fleet of 10,000 kiosks against a real coordinator and Mosquitto (three lines).

Tapfleet: the real ``tapfleet coordinator`` process (SQLite ledger, or PostgreSQL with
``--pg``) seeded with 3,000 stores, 10,000 kiosks and 100,000 members, behind a private
Mosquitto with the shipped config. The kiosks are :mod:`simulators.swarm` processes (2,500
light kiosks each, paho on asyncio): every kiosk connects with a birth status and a sync
request, heartbeats every 10 s, taps every 30 s on average (70 % check-ins, 20 % class
sign-ins, 10 % points redemptions; one-event batches, as an online kiosk sends them) and
subscribes to its acks, its store's and the fleet's pushes. The benchmark raises its own
open-file limit to the hard limit before starting the broker and the swarms (they inherit
it); the machine's settings are left alone.

Lines, each against a baseline of the same run:

* ``fleet_scale_cost``: the coordinator's CPU (cores) and resident memory per 1,000 kiosks
  in steady state (memory: growth over the idle coordinator), against Mosquitto's CPU for
  the same traffic (the broker relays every message the coordinator handles);
* ``fleet_scale_reach``: a rule rollout (a chain bundle published through the API) until
  every kiosk holds it, and a member change (``PATCH`` of one member) until every kiosk holds
  a members version that carries it, against a raw QoS 1 message published on the fleet
  topic until every kiosk has it;
* ``fleet_scale_dashboard``: p95 of the fleet API and page under that load (two clients),
  against ``GET /healthz`` under the same load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH_COORDINATOR,
    ROOT,
    Result,
    emit,
    ms,
    percentile,
    progress,
    running_broker,
    work_dir,
)
from bench.seed import member_id, seed_coordinator
from simulators.services import CoordinatorProcess
from simulators.swarm import PROBE, raise_file_limit

NAME = "fleet_scale"
LINES = ("fleet_scale_cost", "fleet_scale_reach", "fleet_scale_dashboard")
PER_SWARM = 2_500
MEMBERS_PER_KIOSK = 10
DASHBOARD_PATHS = ("/api/v1/fleet", "/api/v1/kiosks", "/dashboard/fleet")


class SwarmProcess:
    """One ``python -m simulators.swarm`` child; commands in, JSON answers out."""

    def __init__(self, spec: Path, port: int, log: Path) -> None:
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simulators.swarm", "--port", str(port), "--spec", str(spec)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.answers: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.answers.append(json.loads(line))
                self._cond.notify_all()

    def send(self, command: dict[str, Any]) -> None:
        """One command."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def wait(self, key: str, timeout: float, match: Any = None) -> dict[str, Any]:
        """The first answer holding ``key`` (whose value equals ``match`` if given)."""

        def found() -> dict[str, Any] | None:
            for answer in self.answers:
                if key in answer and (match is None or answer[key] == match):
                    return answer
                if "timeout" in answer and answer["timeout"] == match:
                    raise RuntimeError(f"swarm timed out on {match}")
            return None

        with self._cond:
            if not self._cond.wait_for(lambda: found() is not None, timeout):
                raise TimeoutError(f"no {key!r} from the swarm in {timeout} s")
            answer = found()
            assert answer is not None
            self.answers.remove(answer)
            return answer

    def stop(self) -> None:
        """Ask it to stop; kill if it does not."""
        with contextlib.suppress(BrokenPipeError, OSError):
            self.send({"cmd": "stop"})
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()


def _counter(db_path: Path, name: str) -> int:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0
    finally:
        conn.close()


def _specs(
    kiosks: list[tuple[str, int]], stores: int, members: int, versions: dict[str, int]
) -> list[dict[str, Any]]:
    out = []
    for kiosk_id, store_no in kiosks:
        own = [member_id(j) for j in range(store_no, members, stores)][:50]
        out.append(
            {
                "kiosk_id": kiosk_id,
                "store_id": f"s{store_no:04d}",
                "members": own or [member_id(0)],
                "versions": versions,
            }
        )
    return out


@contextlib.contextmanager
def _swarms(
    folder: Path, port: int, specs: list[dict[str, Any]], mix: dict[str, Any]
) -> Iterator[list[SwarmProcess]]:
    started: list[SwarmProcess] = []
    try:
        for n in range(math.ceil(len(specs) / PER_SWARM)):
            spec = folder / f"swarm{n}.json"
            part = specs[n * PER_SWARM : (n + 1) * PER_SWARM]
            spec.write_text(json.dumps({"kiosks": part, "mix": mix, "seed": n + 1}))
            started.append(SwarmProcess(spec, port, folder / f"swarm{n}.log"))
        for swarm in started:
            swarm.wait("ready", 600)
        yield started
    finally:
        for swarm in started:
            swarm.stop()


def _usage(pid: int) -> tuple[float, int]:
    import psutil

    proc = psutil.Process(pid)
    times = proc.cpu_times()
    return times.user + times.system, int(proc.memory_info().rss)


def _all_reached(swarms: list[SwarmProcess], command: dict[str, Any], timeout: float) -> float:
    for swarm in swarms:
        swarm.send(command)
    return max(float(s.wait("reached", timeout, match=command)["at"]) for s in swarms)


def _probe(port: int, swarms: list[SwarmProcess], timeout: float) -> float:
    """Raw baseline: one QoS 1 message on the fleet topic until every kiosk has it."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from shared import topics

    command = {"cmd": "probe", "timeout_s": timeout}
    for swarm in swarms:
        swarm.send(command)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-probe", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        t0 = time.time()
        client.publish(topics.fleet_topic(), PROBE, qos=1).wait_for_publish(30)
        last = max(float(s.wait("reached", timeout, match=command)["at"]) for s in swarms)
    finally:
        client.disconnect()
        client.loop_stop()
    return last - t0


def _dashboard(url: str, token: str, rounds: int) -> dict[str, list[float]]:
    import httpx

    from bench.dashboard import login_headers

    headers = login_headers(url, token)
    times: dict[str, list[float]] = {}
    lock = threading.Lock()
    for path in ("/healthz", *DASHBOARD_PATHS):
        samples: list[float] = []

        def client_loop(path: str = path, samples: list[float] = samples) -> None:
            with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
                for _ in range(rounds):
                    t0 = time.perf_counter()
                    answer = client.get(path)
                    elapsed = time.perf_counter() - t0
                    if answer.status_code == 200:
                        with lock:
                            samples.append(elapsed)

        threads = [threading.Thread(target=client_loop) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        times[path] = samples
    return times


def run(kiosks_n: int, stores: int, window_s: float, rounds: int, keep: bool) -> list[Result]:
    """Seed, start, connect the swarm, measure; three lines."""
    limit = raise_file_limit()
    progress(NAME, f"open-file limit of this process and its children: {limit}")
    now = time.time_ns() // 1_000_000
    kiosks = [(f"k{i:05d}", i % stores) for i in range(kiosks_n)]
    members = kiosks_n * MEMBERS_PER_KIOSK
    mix = {"heartbeat_s": 10.0, "event_every_s": 30.0}
    with work_dir(NAME, keep) as folder, running_broker(folder) as broker:
        db_path = folder / "coordinator.db"
        progress(NAME, f"seeding {stores:,} stores, {kiosks_n:,} kiosks, {members:,} members")
        seed_coordinator(
            db_path,
            stores=[f"s{s:04d}" for s in range(stores)],
            kiosks=[(k, f"s{s:04d}") for k, s in kiosks],
            members=members,
            now_ms=now,
            home_store=lambda i: f"s{i % stores:04d}",
        )
        coordinator = CoordinatorProcess(
            folder, mqtt_port=broker.port, db_url=f"sqlite:///{db_path}", settings=BENCH_COORDINATOR
        )
        try:
            coordinator.start(timeout_s=300)
            token = coordinator.token()
            versions = {
                "rules": _counter(db_path, "rules_version"),
                "members": _counter(db_path, "members_version"),
                "deny": _counter(db_path, "deny_version"),
            }
            cpu0, idle_rss = _usage(coordinator.pid)
            time.sleep(min(5.0, window_s))
            cpu1, idle_rss = _usage(coordinator.pid)
            idle_cores = (cpu1 - cpu0) / min(5.0, window_s)
            specs = _specs(kiosks, stores, members, versions)
            progress(NAME, f"connecting {kiosks_n:,} light kiosks")
            with _swarms(folder, broker.port, specs, mix) as swarms:
                time.sleep(min(10.0, window_s))  # warm-up: syncs answered, first heartbeats
                broker_pid = broker._proc.pid if broker._proc else None
                c0, _ = _usage(coordinator.pid)
                b0 = _usage(broker_pid)[0] if broker_pid else 0.0
                for swarm in swarms:
                    swarm.send({"cmd": "stats"})
                before = [s.wait("stats", 60)["stats"] for s in swarms]
                t0 = time.monotonic()
                time.sleep(window_s)
                c1, rss = _usage(coordinator.pid)
                b1 = _usage(broker_pid)[0] if broker_pid else 0.0
                elapsed = time.monotonic() - t0
                for swarm in swarms:
                    swarm.send({"cmd": "stats"})
                after = [s.wait("stats", 60)["stats"] for s in swarms]
                sent = sum(a["sent"] - b["sent"] for a, b in zip(after, before, strict=True))
                connected = sum(a["connected"] for a in after)
                progress(NAME, f"steady state: {sent} events in {elapsed:.0f} s, {after}")

                times = _dashboard(coordinator.url, token, rounds)

                import httpx

                headers = {"Authorization": f"Bearer {token}"}
                t_rules = time.time()
                draft = httpx.post(
                    f"{coordinator.url}/api/v1/rule-bundles",
                    json={"rules": {"points_per_checkin": 12}},
                    headers=headers,
                    timeout=120,
                ).json()
                published = httpx.post(
                    f"{coordinator.url}/api/v1/rule-bundles/{draft['bundle_id']}/publish",
                    json={},
                    headers=headers,
                    timeout=120,
                ).json()
                version = int(published["version"])
                progress(NAME, f"rule bundle v{version} published in {time.time() - t_rules:.2f} s")
                rules_at = _all_reached(
                    swarms, {"cmd": "watch", "what": "rules", "version": version}, 600
                )
                t_member = time.time()
                answer = httpx.patch(
                    f"{coordinator.url}/api/v1/members/{member_id(0)}",
                    json={"display_name": "王*明"},
                    headers=headers,
                    timeout=120,
                )
                answer.raise_for_status()
                progress(NAME, f"member changed in {time.time() - t_member:.2f} s (API)")
                above = _counter(db_path, "members_version")
                member_at = _all_reached(
                    swarms, {"cmd": "watch", "what": "members", "above": above}, 600
                )
                probe_s = _probe(broker.port, swarms, 600)
        finally:
            coordinator.stop()

    cores = (c1 - c0) / elapsed
    broker_cores = (b1 - b0) / elapsed
    per_k = max(kiosks_n, 1) / 1000
    rollout_s = rules_at - t_rules
    member_s = member_at - t_member
    p95 = {p: percentile(v, 95) for p, v in times.items() if v}
    worst = max(DASHBOARD_PATHS, key=lambda p: p95.get(p, math.inf))
    shown = ", ".join(f"{p} {ms(p95[p])}" for p in DASHBOARD_PATHS if p in p95)
    size = f"{kiosks_n:,} kiosks in {stores:,} stores, {connected:,} connected"
    return [
        Result(
            name="fleet_scale_cost",
            tapfleet=(
                f"coordinator {cores / per_k:.3f} cores and "
                f"{(rss - idle_rss) / per_k / 2**20:.1f} MB per 1,000 kiosks ({cores:.2f} cores, "
                f"RSS {rss / 2**20:.0f} MB vs {idle_rss / 2**20:.0f} MB idle at {idle_cores:.2f} "
                f"cores; {size}; {sent / elapsed:,.0f} events/s + heartbeats over {elapsed:.0f} s)"
            ),
            baseline=f"Mosquitto {broker_cores / per_k:.3f} cores per 1,000 kiosks, same traffic",
            ratio=cores / broker_cores if broker_cores > 0 else None,
            target="coordinator <= 0.2 cores and <= 50 MB per 1,000 kiosks, all connected",
            passed=(
                cores / per_k <= 0.2
                and (rss - idle_rss) / per_k <= 50 * 2**20
                and connected == kiosks_n
            ),
        ),
        Result(
            name="fleet_scale_reach",
            tapfleet=(
                f"rule rollout on every kiosk in {rollout_s:.2f} s, member change on every "
                f"kiosk in {member_s:.2f} s ({size})"
            ),
            baseline=f"raw QoS 1 message on the fleet topic to every kiosk in {probe_s:.2f} s",
            ratio=max(rollout_s, member_s) / probe_s if probe_s > 0 else None,
            target="both <= raw + 10 s",
            passed=max(rollout_s, member_s) <= probe_s + 10,
        ),
        Result(
            name="fleet_scale_dashboard",
            tapfleet=f"worst p95 {ms(p95.get(worst, math.inf))} ({worst}); {shown} ({size})",
            baseline=f"p95 {ms(p95['/healthz'])} GET /healthz under the same load (2 clients)",
            ratio=p95.get(worst, math.inf) / p95["/healthz"],
            target="p95 < 200 ms for every fleet endpoint",
            passed=p95.get(worst, math.inf) < 0.200,
        ),
    ]


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--kiosks", type=int, help="fleet size (default 10,000; quick 60)")
    args = parser.parse_args()
    kiosks = args.kiosks or (60 if args.quick else 10_000)
    stores = max(1, kiosks * 3 // 10)
    window, rounds = (5.0, 5) if args.quick else (30.0, 25)
    for result in run(kiosks, stores, window, rounds, args.keep):
        emit(result)


if __name__ == "__main__":
    main()
