"""A chain under test: seeded through the coordinator's API, kiosks in host processes, each
behind its own network cable (``simulators.demo.netcut.LinkSwitch``) that can be cut.

    fleet = Fleet(tmp_path, broker, coordinator)
    chain = fleet.seed(Chain(stores=..., kiosks=..., members=40))
    fleet.add_host("h1", ["k1", "k2"])        # starts the process, kiosks sync through the API
    fleet.wait_ready()
    fleet.tap("k1", chain.uid("m0003"))      # answered once committed (the member saw it)
    fleet.cut("k1"); fleet.restore("k1")     # partition one kiosk
    fleet.advance(6 * HOUR)                  # simulated time, coordinator and kiosks together
    fleet.wait_converged()                   # drained, folded, pushed back to every kiosk
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.model import ClassSession, OfflineLimits, Reward, Rules
from simulators.broker import Broker
from simulators.demo.netcut import LinkSwitch
from simulators.waiting import WaitTimeout, wait_until
from tests.reliability.processes import CoordinatorProc, KioskHost

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR

GENEROUS = OfflineLimits(
    max_unconfirmed_sessions_per_member=1000,
    max_unconfirmed_points_per_member=10**6,
    max_offline_sessions_per_member_day=1000,
    max_offline_points_per_member_day=10**6,
    kiosk_max_unconfirmed_sessions=10**6,
    kiosk_max_unconfirmed_points=10**9,
    max_offline_hours=24 * 90,
)
"""Limits that never refuse: for tests about delivery, not about offline risk."""


def uid_of(index: int) -> str:
    """Card UID of member ``index`` (4-byte NTAG-style, upper-case hex)."""
    return f"{0x10000000 + index:08X}"


@dataclass
class Chain:
    """What to seed: stores, kiosks, members with a card, a punch pass and points."""

    stores: list[str]
    kiosks: list[tuple[str, str]]
    members: int = 30
    sessions: int = 200
    points: int = 1000
    rules: Rules = field(default_factory=lambda: Rules(double_tap_window_s=0, offline=GENEROUS))
    classes: list[ClassSession] = field(default_factory=list)
    rewards: list[Reward] = field(
        default_factory=lambda: [
            Reward(reward_id="water", title_zh="矿泉水", title_en="Water", points_cost=5)
        ]
    )

    def member_ids(self) -> list[str]:
        """Every member id, in order."""
        return [f"m{i:04d}" for i in range(self.members)]

    def uid(self, member_id: str) -> str:
        """The member's card UID."""
        return uid_of(int(member_id[1:]))

    def store_of(self, kiosk_id: str) -> str:
        """The store a kiosk stands in."""
        return dict(self.kiosks)[kiosk_id]


def open_class(class_id: str, store_id: str, now_ms: int, *, hours_open: int = 20) -> ClassSession:
    """A yoga class whose sign-in window is open from ``now_ms`` for ``hours_open`` hours."""
    return ClassSession(
        class_session_id=class_id,
        class_type="yoga",
        store_id=store_id,
        title_zh="瑜伽",
        title_en="Yoga",
        starts_ms=now_ms + hours_open * HOUR - 15 * MINUTE,
        ends_ms=now_ms + hours_open * HOUR + 45 * MINUTE,
        signin_opens_before_s=hours_open * 3600,
        signin_closes_after_s=15 * 60,
    )


class Fleet:
    """Broker, coordinator process, kiosk host processes and their network cables."""

    def __init__(self, root: Path, broker: Broker, coordinator: CoordinatorProc) -> None:
        self.root = root
        self.broker = broker
        self.coordinator = coordinator
        self.chain: Chain | None = None
        self.hosts: dict[str, KioskHost] = {}
        self.host_of: dict[str, KioskHost] = {}
        self.switches: dict[str, LinkSwitch] = {}
        self.ledgers: dict[str, Path] = {}
        self.offset_ms = 0

    # -- setup ------------------------------------------------------------------------------

    def seed(self, chain: Chain) -> Chain:
        """Stores, kiosks, rules, members with cards, passes and points, through the API."""
        api = self.coordinator.api
        now = self.now_ms()
        for store in chain.stores:
            api("POST", "/api/v1/stores", {"store_id": store, "name": store})
        for kiosk_id, store_id in chain.kiosks:
            api("POST", "/api/v1/kiosks", {"kiosk_id": kiosk_id, "store_id": store_id})
        draft = api(
            "POST",
            "/api/v1/rule-bundles",
            {
                "rules": chain.rules.model_dump(mode="json"),
                "classes": [c.model_dump(mode="json") for c in chain.classes],
                "rewards": [r.model_dump(mode="json") for r in chain.rewards],
                "store_ids": [],
                "note": "reliability tests",
            },
        )
        api("POST", f"/api/v1/rule-bundles/{draft['bundle_id']}/publish", {})
        for member_id in chain.member_ids():
            api("POST", "/api/v1/members", {"member_id": member_id, "display_name": "张*"})
            api("POST", f"/api/v1/members/{member_id}/cards", {"uid": chain.uid(member_id)})
            if chain.sessions:
                api(
                    "POST",
                    f"/api/v1/members/{member_id}/passes",
                    {
                        "pass_id": f"p-{member_id}",
                        "kind": "punch",
                        "name": f"{chain.sessions}-session yoga",
                        "class_types": ["yoga"],
                        "valid_from_ms": now - DAY,
                        "valid_until_ms": now + 60 * DAY,
                        "sessions_total": chain.sessions,
                    },
                )
            if chain.points:
                api(
                    "POST",
                    f"/api/v1/members/{member_id}/points",
                    {"points": chain.points, "reason": "opening balance"},
                )
        self.chain = chain
        return chain

    def add_host(
        self,
        name: str,
        kiosk_ids: list[str],
        *,
        wall_skew_ms: dict[str, int] | None = None,
        link: dict[str, Any] | None = None,
        start: bool = True,
    ) -> KioskHost:
        """A host process for these kiosks, each behind a new network switch."""
        assert self.chain is not None, "seed the chain first"
        specs = []
        for kiosk_id in kiosk_ids:
            switch = self.switches.get(kiosk_id)
            if switch is None:
                switch = LinkSwitch(self.broker.host, self.broker.port, name=f"net-{kiosk_id}")
                self.switches[kiosk_id] = switch.start()
            ledger = self.root / "kiosks" / kiosk_id / "ledger.db"
            self.ledgers[kiosk_id] = ledger
            specs.append(
                {
                    "kiosk_id": kiosk_id,
                    "store_id": self.chain.store_of(kiosk_id),
                    "ledger": str(ledger),
                    "port": switch.port,
                    "wall_skew_ms": (wall_skew_ms or {}).get(kiosk_id, 0),
                }
            )
        host = KioskHost(
            self.root / "hosts",
            name,
            {"advance_ms": self.offset_ms, "link": link or {}, "kiosks": specs},
        )
        self.hosts[name] = host
        for kiosk_id in kiosk_ids:
            self.host_of[kiosk_id] = host
        if start:
            host.start()
        return host

    def restart(self, host: KioskHost, **config: Any) -> None:
        """Start a (killed or stopped) host again at the world's current time."""
        host.config["advance_ms"] = self.offset_ms
        for spec in host.config["kiosks"]:
            for key in ("wall_skew_ms",):
                if key in config:
                    spec[key] = config[key].get(spec["kiosk_id"], 0)
        host.start()

    # -- time -------------------------------------------------------------------------------

    def now_ms(self) -> int:
        """The world's simulated wall time."""
        return time.time_ns() // 1_000_000 + self.offset_ms

    def advance(self, ms: int) -> None:
        """Simulated time passes for the coordinator and every running kiosk host."""
        self.offset_ms += ms
        self.coordinator.advance(ms)
        for host in self.hosts.values():
            host.config["advance_ms"] = self.offset_ms
            if host.running:
                host.call("advance", ms=ms)

    # -- network ----------------------------------------------------------------------------

    def cut(self, *kiosk_ids: str) -> None:
        """Pull these kiosks' network cables."""
        for kiosk_id in kiosk_ids:
            self.switches[kiosk_id].cut()

    def restore(self, *kiosk_ids: str) -> None:
        """Plug them back in."""
        for kiosk_id in kiosk_ids:
            self.switches[kiosk_id].restore()

    # -- traffic ----------------------------------------------------------------------------

    def tap(self, kiosk_id: str, uid: str, cls: str | None = None) -> dict[str, Any]:
        """A card tap, answered once committed."""
        return self.host_of[kiosk_id].call("tap", k=kiosk_id, uid=uid, cls=cls)

    def redeem(self, kiosk_id: str, member_id: str, reward: str = "water") -> dict[str, Any]:
        """A points redemption on the kiosk screen."""
        return self.host_of[kiosk_id].call("redeem", k=kiosk_id, member=member_id, reward=reward)

    def acknowledged(self) -> list[dict[str, Any]]:
        """Every tap/redeem answer any host ever printed."""
        return [line for host in self.hosts.values() for line in host.acknowledged]

    # -- state and waits --------------------------------------------------------------------

    def states(self) -> dict[str, dict[str, Any]]:
        """Per kiosk state, from every running host."""
        out: dict[str, dict[str, Any]] = {}
        for host in self.hosts.values():
            if host.running:
                out.update(host.state()["kiosks"])
        return out

    def wait_ready(self, timeout_s: float = 60) -> None:
        """Every kiosk has rules and members and is online."""

        def ready() -> bool:
            states = self.states()
            return len(states) == len(self.host_of) and all(
                s["online"] and s["versions"]["rules"] > 0 and s["versions"]["members"] > 0
                for s in states.values()
            )

        wait_until(
            ready, timeout_s, "every kiosk to sync rules and members and go online", interval_s=0.1
        )

    def wait_drained(self, timeout_s: float = 90, kiosk_ids: list[str] | None = None) -> None:
        """Everything these kiosks journaled is acknowledged by the coordinator."""
        wanted = set(kiosk_ids or self.host_of)

        def drained() -> bool:
            states = self.states()
            return all(
                k in states and states[k]["acked_seq"] == states[k]["last_seq"] for k in wanted
            )

        wait_until(
            drained, timeout_s, f"kiosks {sorted(wanted)} to drain their outboxes", interval_s=0.1
        )

    def wait_converged(self, timeout_s: float = 120) -> None:
        """Drained, applied, folded and pushed back: every kiosk's events are applied, no
        member change waits for its push, and every kiosk holds the current members version."""

        def converged() -> bool:
            # Read in this order: applied seqs, then the settled version, then the kiosks.
            # Read the other way round, a version settled just before an event was applied
            # could pass with that event's member push still in flight (the kiosk's
            # deduction then stays unconfirmed after a broker stop).
            applied = self.coordinator.applied_seqs()
            version = self.coordinator.members_settled()
            if version is None:
                return False
            states = self.states()
            return len(states) == len(self.host_of) and all(
                s["acked_seq"] == s["last_seq"] == applied.get(k)
                and s["versions"]["members"] == version
                for k, s in states.items()
            )

        try:
            wait_until(
                converged, timeout_s, "every kiosk to converge with the coordinator", interval_s=0.2
            )
        except WaitTimeout as exc:
            raise AssertionError(f"{exc}\nstates: {self.states()}") from None

    def close(self) -> None:
        """Stop every host (killing any that hangs) and every switch."""
        for host in self.hosts.values():
            try:
                host.stop(timeout_s=10)
            finally:
                host.kill()
        for switch in self.switches.values():
            switch.stop()
