"""The light kiosk swarm (``simulators.swarm``, the 10,000-kiosk benchmark's kiosks) against
a real coordinator and Mosquitto, at small size: every kiosk connects on one asyncio loop,
its taps (the realistic mix) are stored exactly once and acknowledged, a rule rollout and a
member change reach every kiosk."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from shared.protocol import Versions
from simulators.broker import Broker
from simulators.swarm import KioskSpec, Mix, Swarm
from tests.coordinator.conftest import running_harness

KIOSKS = [(f"k{i:02d}", f"s{i % 3}") for i in range(12)]
MEMBERS = {f"s{s}": [f"m{s}-{n}" for n in range(3)] for s in range(3)}


async def _until(check: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return False


def test_a_swarm_of_light_kiosks_is_served_exactly_once(tmp_path: Path, broker: Broker) -> None:
    with running_harness(tmp_path, broker) as h:
        for store in MEMBERS:
            h.add_store(store)
        h.publish_rules(
            rules={"checkin_reward_once_per_day": False, "double_tap_window_s": 0},
            rewards=[
                {"reward_id": "water", "title_zh": "水", "title_en": "Water", "points_cost": 20}
            ],
        )
        for members in MEMBERS.values():
            for member in members:
                h.add_member(member)
                h.sell_pass(member, "p-punch", 20)
        for kiosk_id, store in KIOSKS:
            h.add_kiosk(kiosk_id, store)
        specs = [
            KioskSpec(kiosk_id=k, store_id=s, members=MEMBERS[s], versions=Versions())
            for k, s in KIOSKS
        ]

        async def scenario() -> tuple[dict[str, int], Swarm]:
            swarm = Swarm(specs, Mix(heartbeat_s=1.0, event_every_s=1.0), broker.host, broker.port)
            await swarm.start()
            try:
                assert await _until(lambda: swarm.stats()["sent"] >= 40), swarm.stats()
                swarm.mix.event_every_s = 0  # stop tapping: the timers read the mix
                assert await _until(lambda: swarm.watch("rules", 1) is not None)
                bundle = await asyncio.to_thread(h.publish_rules, rules={"points_per_checkin": 12})
                assert await _until(lambda: swarm.watch("rules", int(bundle["version"])))
                before = min(k.versions["members"] for k in swarm.kiosks)
                await asyncio.to_thread(
                    h.call, "PATCH", "/api/v1/members/m0-0", json={"display_name": "王*明"}
                )
                assert await _until(lambda: swarm.watch("members", before + 1) is not None)
                assert await _until(lambda: swarm.stats()["unacked"] == 0), swarm.stats()
                return swarm.stats(), swarm
            finally:
                await swarm.stop()

        stats, swarm = asyncio.run(scenario())
        assert stats["connected"] == len(KIOSKS) and stats["errors"] == 0
        assert stats["acked"] == stats["sent"] >= 40
        for kiosk in swarm.kiosks:
            stored = sorted(e.seq for e in h.events(source=kiosk.spec.kiosk_id))
            assert stored == list(range(1, kiosk.seq + 1)), kiosk.spec.kiosk_id
