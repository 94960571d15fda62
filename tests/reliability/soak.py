"""The soak scenario: a fleet of real kiosks under random faults, then a full ledger audit.

A plan names the fleet (stores, kiosks, host processes, members), the traffic and how long
faults go on. Faults are drawn from a seeded RNG, one at a time: Mosquitto restarted or
killed, a kiosk host process killed (power loss for every kiosk in it), kiosks partitioned
for a while, the coordinator killed or restarted. Then everything is healed, the fleet
must converge, and :func:`tests.reliability.audit.full_audit` must find the central ledger
equal to the reference fold of every event every kiosk journaled.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field

from shared.model import OfflineLimits, Rules
from simulators.broker import Broker
from tests.reliability.audit import AuditReport, full_audit
from tests.reliability.fleet import Chain, Fleet, open_class
from tests.reliability.traffic import Traffic

FAULTS = {
    "broker_restart": 1.0,
    "broker_kill": 1.0,
    "host_kill": 2.0,
    "partition": 3.0,
    "coordinator_kill": 1.0,
    "coordinator_restart": 0.5,
}
"""Relative weights of the faults."""


@dataclass(frozen=True)
class SoakPlan:
    """How big, how busy and how long."""

    kiosks: int = 50
    stores: int = 10
    hosts: int = 5
    members: int = 60
    duration_s: float = 60.0
    fault_every_s: float = 2.0
    min_faults: int = 0
    """Faults to inject at least, however long they take (a loaded machine is slower)."""
    taps_per_s: float = 40.0
    seed: int = 20260101


@dataclass
class SoakResult:
    """What happened, for the test's assertions and the log."""

    faults: Counter[str] = field(default_factory=Counter)
    taps_sent: int = 0
    acknowledged: int = 0
    audit: AuditReport | None = None
    converge_s: float = 0.0


class Soak:
    """Runs one plan against a fleet (fixtures own the processes and clean them up)."""

    def __init__(self, fleet: Fleet, broker: Broker, plan: SoakPlan) -> None:
        self.fleet = fleet
        self.broker = broker
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.result = SoakResult()
        self._partitions: list[tuple[float, list[str]]] = []
        # Every kind of fault once, in a random order, before the random draws.
        self._first = list(FAULTS)
        self.rng.shuffle(self._first)

    def run(self) -> SoakResult:
        """Set up, run faults under traffic, heal, converge and audit."""
        fleet, plan = self.fleet, self.plan
        stores = [f"s{i:02d}" for i in range(plan.stores)]
        kiosks = [(f"k{i:02d}", stores[i % plan.stores]) for i in range(plan.kiosks)]
        now = fleet.now_ms()
        fleet.seed(
            Chain(
                stores=stores,
                kiosks=kiosks,
                members=plan.members,
                rules=Rules(
                    double_tap_window_s=0,
                    offline=OfflineLimits(
                        kiosk_max_unconfirmed_sessions=10_000,
                        kiosk_max_unconfirmed_points=10**7,
                    ),
                ),
                classes=[open_class(f"yoga-{s}", s, now) for s in stores],
            )
        )
        for h in range(plan.hosts):
            # Kiosks of one host stand in different stores: a host kill hits several.
            fleet.add_host(
                f"h{h}",
                [k for i, (k, _) in enumerate(kiosks) if i % plan.hosts == h],
                link={"heartbeat_interval_s": 5},
            )
        fleet.wait_ready(timeout_s=120)

        traffic = Traffic(
            fleet, [k for k, _ in kiosks], rate_per_s=plan.taps_per_s, seed=plan.seed
        ).start()
        try:
            deadline = time.monotonic() + plan.duration_s
            while time.monotonic() < deadline or self.result.faults.total() < plan.min_faults:
                self._restore_due(time.monotonic())
                self._fault(self._pick())
                # Traffic shape: faults come every so often, not as a synchronisation.
                time.sleep(self.rng.uniform(0.5, 1.5) * plan.fault_every_s)
        finally:
            self.result.taps_sent = traffic.stop()
            self._heal()
        started = time.monotonic()
        fleet.wait_converged(timeout_s=300)
        self.result.converge_s = time.monotonic() - started
        for host in fleet.hosts.values():
            host.stop()
        acknowledged = fleet.acknowledged()
        self.result.acknowledged = len(acknowledged)
        self.result.audit = full_audit(fleet.coordinator, fleet.ledgers, acknowledged)
        return self.result

    # -- faults -----------------------------------------------------------------------------

    def _pick(self) -> str:
        if self._first:
            return self._first.pop()
        names = list(FAULTS)
        return self.rng.choices(names, weights=[FAULTS[n] for n in names])[0]

    def _fault(self, name: str) -> None:
        fleet, rng = self.fleet, self.rng
        self.result.faults[name] += 1
        if name == "broker_restart":
            self.broker.restart()
        elif name == "broker_kill":
            self.broker.kill()
            time.sleep(rng.uniform(0.2, 2.0))  # the outage itself
            self.broker.start()
        elif name == "host_kill":
            host = rng.choice(list(fleet.hosts.values()))
            host.kill()
            time.sleep(rng.uniform(0.0, 1.5))  # the power stays off a moment
            fleet.restart(host)
        elif name == "partition":
            cut = rng.sample(sorted(fleet.switches), rng.randint(1, 5))
            fleet.cut(*cut)
            self._partitions.append((time.monotonic() + rng.uniform(1.0, 6.0), cut))
        elif name == "coordinator_kill":
            fleet.coordinator.kill()
            time.sleep(rng.uniform(0.0, 1.0))
            fleet.coordinator.start()
        elif name == "coordinator_restart":
            fleet.coordinator.stop()
            fleet.coordinator.start()

    def _restore_due(self, now: float) -> None:
        due = [p for p in self._partitions if p[0] <= now]
        self._partitions = [p for p in self._partitions if p[0] > now]
        for _, kiosk_ids in due:
            self.fleet.restore(*kiosk_ids)

    def _heal(self) -> None:
        """Every cable plugged in, every process running."""
        for _, kiosk_ids in self._partitions:
            self.fleet.restore(*kiosk_ids)
        self._partitions = []
        if not self.broker.running:
            self.broker.start()
        if not self.fleet.coordinator.running:
            self.fleet.coordinator.start()
        for host in self.fleet.hosts.values():
            if not host.running:
                self.fleet.restart(host)
