"""The broker goes away: restarted and killed during a burst, and down for a long outage.

Mosquitto runs with the shipped configuration and persistence settings (autosave every
``SHIPPED_AUTOSAVE_S`` seconds, so a SIGKILL loses the sessions and queues it had not saved
yet). The kiosks keep serving members offline, within the offline limits of the rules, and
everything drains when the broker is back: nothing lost, nothing applied twice.
"""

from __future__ import annotations

from collections import Counter

import pytest

from shared.events import Rejected
from shared.model import OfflineLimits, Rules
from shared.reasons import RejectReason
from simulators.broker import Broker
from simulators.waiting import wait_until
from tests.reliability.audit import full_audit
from tests.reliability.fleet import HOUR, Chain, Fleet, open_class
from tests.reliability.traffic import Traffic

KIOSKS = [("k1", "s1"), ("k2", "s1"), ("k3", "s2"), ("k4", "s2")]


def _applied_total(fleet: Fleet) -> int:
    return sum(fleet.coordinator.applied_seqs().values())


@pytest.mark.slow
def test_broker_restarted_and_killed_during_a_class_burst(fleet: Fleet, broker: Broker) -> None:
    now = fleet.now_ms()
    fleet.seed(
        Chain(
            stores=["s1", "s2"],
            kiosks=KIOSKS,
            members=40,
            classes=[open_class("yoga-s1", "s1", now), open_class("yoga-s2", "s2", now)],
        )
    )
    fleet.add_host("h1", ["k1", "k2"])
    fleet.add_host("h2", ["k3", "k4"])
    fleet.wait_ready()

    traffic = Traffic(fleet, [k for k, _ in KIOSKS], rate_per_s=150).start()
    try:
        # A burst is flowing: taps are being answered and applied centrally.
        wait_until(lambda: _applied_total(fleet) > 150, 60, "the burst to reach the coordinator")
        broker.restart()  # SIGTERM: Mosquitto writes its persistence file on the way out
        before_kill = _applied_total(fleet)
        wait_until(lambda: _applied_total(fleet) > before_kill + 150, 60, "traffic to flow again")
        broker.kill()  # no goodbye, nothing saved since the last autosave
        wait_until(
            lambda: not any(s["online"] for s in fleet.states().values()), 30, "kiosks offline"
        )
        answered = len(fleet.acknowledged())
        wait_until(lambda: len(fleet.acknowledged()) > answered + 50, 30, "offline taps")
        broker.start()
        after = _applied_total(fleet)
        wait_until(lambda: _applied_total(fleet) > after + 150, 60, "traffic to flow again")
    finally:
        traffic.stop()
    fleet.wait_converged()
    states = fleet.states()
    for host in fleet.hosts.values():
        host.stop()

    acknowledged = fleet.acknowledged()
    assert any(not line["online"] for line in acknowledged), "no tap happened offline"
    assert all(s["reconnects"] >= 2 for s in states.values()), states
    signins = [e for line in acknowledged for e in line["events"] if e[2] == "class_signin"]
    assert len(signins) >= 40, "the class burst signed students in"
    report = full_audit(fleet.coordinator, fleet.ledgers, acknowledged)
    assert len(acknowledged) > 300
    # No kiosk process died: every event a kiosk journaled is a tap its member was shown.
    assert {k: report.unshown(k) for k in report.kiosk_events} == dict.fromkeys(
        report.kiosk_events, 0
    )


OUTAGE_LIMITS = OfflineLimits(
    max_unconfirmed_sessions_per_member=3,
    max_unconfirmed_points_per_member=100,
    max_offline_sessions_per_member_day=2,
    max_offline_points_per_member_day=10,
    kiosk_max_unconfirmed_sessions=5,
    kiosk_max_unconfirmed_points=1000,
    max_offline_hours=4,
)


@pytest.mark.slow
@pytest.mark.simulated_time
def test_long_outage_kiosks_serve_offline_within_limits_then_drain(
    fleet: Fleet, broker: Broker
) -> None:
    now = fleet.now_ms()
    chain = fleet.seed(
        Chain(
            stores=["s1", "s2"],
            kiosks=[("k1", "s1"), ("k3", "s2")],
            members=10,
            rules=Rules(double_tap_window_s=0, offline=OUTAGE_LIMITS),
            classes=[open_class(f"yoga-{n}", "s1", now) for n in (1, 2, 3)],
        )
    )
    fleet.add_host("h1", ["k1", "k3"])
    fleet.wait_ready()
    m = chain.member_ids()

    def tap(kiosk: str, member: str, cls: str | None = None) -> tuple[str, str | None]:
        line = fleet.tap(kiosk, chain.uid(member), cls)
        return line["outcome"], line["reason"]

    assert tap("k1", m[0], "yoga-1") == ("accepted", None)  # online
    fleet.wait_converged()

    broker.stop()
    wait_until(lambda: not any(s["online"] for s in fleet.states().values()), 30, "kiosks offline")
    # Offline: deductions within the per-member-day and per-kiosk limits, then refused.
    assert tap("k1", m[1], "yoga-1") == ("accepted", None)
    assert tap("k1", m[1], "yoga-2") == ("accepted", None)
    assert tap("k1", m[1], "yoga-3") == ("refused", RejectReason.OFFLINE_LIMIT_REACHED)
    assert tap("k1", m[2], "yoga-1") == ("accepted", None)
    assert tap("k1", m[2], "yoga-2") == ("accepted", None)
    assert tap("k1", m[3], "yoga-1") == ("accepted", None)  # the kiosk's 5th unconfirmed
    assert tap("k1", m[4], "yoga-1") == ("refused", RejectReason.OFFLINE_LIMIT_REACHED)
    assert fleet.redeem("k1", m[5])["outcome"] == "accepted"
    assert fleet.redeem("k1", m[5])["outcome"] == "accepted"
    assert fleet.redeem("k1", m[5])["reason"] == RejectReason.OFFLINE_LIMIT_REACHED
    assert tap("k3", m[6]) == ("accepted", None)  # a plain check-in in the other store

    # Hours pass (simulated) with the broker still down: past max_offline_hours no
    # deduction is made any more, yet members are still checked in.
    fleet.advance(5 * HOUR)
    assert tap("k1", m[6], "yoga-1") == ("refused", RejectReason.OFFLINE_TOO_LONG)
    assert fleet.redeem("k1", m[7])["reason"] == RejectReason.OFFLINE_TOO_LONG
    assert tap("k3", m[7]) == ("accepted", None)
    assert tap("k3", m[8]) == ("accepted", None)
    offline = [line for line in fleet.acknowledged() if not line["online"]]
    assert len(offline) == 15

    broker.start()
    fleet.wait_converged()
    for host in fleet.hosts.values():
        host.stop()
    report = full_audit(fleet.coordinator, fleet.ledgers, fleet.acknowledged())
    assert report.kiosk_events["k1"] >= 13
    # The refusals reached the coordinator too, each with its reason, flagged offline.
    refusals = Counter(
        (e.body.reason, e.offline)
        for e in fleet.coordinator.events("k1")
        if isinstance(e.body, Rejected)
    )
    assert refusals == {
        (RejectReason.OFFLINE_LIMIT_REACHED.value, True): 3,
        (RejectReason.OFFLINE_TOO_LONG.value, True): 2,
    }
