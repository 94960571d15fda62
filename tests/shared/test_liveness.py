"""Kiosk liveness: four separate facts from the evidence, each judged on its own."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.liveness import ALIVE_FACTOR, judge

NOW = 1_800_000_000_000
CURRENT = {"rules": 5, "deny": 7, "members": 9}


def facts(**evidence: object):  # type: ignore[no-untyped-def]
    base: dict[str, object] = {
        "now_ms": NOW,
        "status_state": "online",
        "heartbeat_received_ms": NOW - 1_000,
        "heartbeat_interval_s": 10,
        "applied_seq": 40,
        "reported_last_seq": 40,
        "reported_versions": dict(CURRENT),
        "current_versions": CURRENT,
        "last_good_tap_ms": NOW - 60_000,
    }
    base.update(evidence)
    return judge(**base)  # type: ignore[arg-type]


def test_a_healthy_kiosk_is_all_four() -> None:
    f = facts()
    assert (f.alive, f.connected, f.in_sync, f.last_good_tap_ms) == (True, True, True, NOW - 60_000)
    assert f.alive_until_ms == NOW - 1_000 + 15_000


def test_each_fact_fails_on_its_own() -> None:
    dead = facts(heartbeat_received_ms=NOW - 16_000)
    assert not dead.alive and dead.connected and dead.in_sync  # connected but frozen
    gone = facts(status_state="offline")
    assert gone.alive and not gone.connected and gone.in_sync  # last will, beats still fresh
    behind = facts(reported_last_seq=38)
    assert behind.alive and behind.connected and not behind.in_sync
    assert not behind.events_caught_up and behind.versions_current
    old_rules = facts(reported_versions={"rules": 4, "deny": 7, "members": 9})
    assert old_rules.events_caught_up and not old_rules.versions_current and not old_rules.in_sync
    missing = facts(reported_versions={"rules": 5, "deny": 7})  # members not reported: 0
    assert not missing.versions_current


def test_never_heard_from_is_neither_alive_nor_in_sync() -> None:
    f = facts(
        status_state=None,
        heartbeat_received_ms=None,
        heartbeat_interval_s=None,
        reported_last_seq=None,
        reported_versions=None,
        last_good_tap_ms=None,
    )
    assert (f.alive, f.alive_until_ms, f.connected, f.in_sync) == (False, None, False, False)


@given(st.integers(0, 10**6), st.integers(0, 3600))
def test_alive_within_the_factor_of_its_own_interval(ago_ms: int, interval_s: int) -> None:
    f = facts(heartbeat_received_ms=NOW - ago_ms, heartbeat_interval_s=interval_s)
    assert f.alive == (ago_ms <= ALIVE_FACTOR * interval_s * 1000)
