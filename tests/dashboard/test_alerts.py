"""Alert conditions and their hysteresis, as pure functions over a kiosk's fleet view."""

from __future__ import annotations

from typing import Any

from coordinator.fleet.alerts import (
    AlertKind,
    AlertState,
    RejectionStats,
    conditions,
    rejection_alert,
    step,
)
from coordinator.fleet.settings import DashboardSettings

NOW = 1_800_000_000_000
S = DashboardSettings(
    offline_alert_after_s=60,
    sync_lag_alert_s=600,
    version_apply_alert_s=900,
    reader_alert_after_s=30,
    clock_skew_alert_ms=30_000,
    alert_clear_after_s=20,
    flap_threshold=3,
)


def view(**changes: Any) -> dict[str, Any]:
    """A healthy, alive, connected, in-sync kiosk; ``changes`` override."""
    base: dict[str, Any] = {
        "alive": True,
        "connected": True,
        "down_since_ms": None,
        "outbox_depth": 0,
        "oldest_unacked_age_s": None,
        "versions": {
            name: {"applied": 3, "current": 3, "behind_since_ms": None}
            for name in ("rules", "deny", "members")
        },
        "readers": {"nfc": {"state": "ok"}, "camera": {"state": "disabled"}},
        "clock_offset_ms": 120,
        "clock_offset_estimated": False,
    }
    base.update(changes)
    return base


def raised(v: dict[str, Any], **kw: Any) -> set[AlertKind]:
    args: dict[str, Any] = {"reader_since": {}, "stats": None, "drops": 0}
    args.update(kw)
    out = conditions(v, args["reader_since"], args["stats"], args["drops"], S, NOW)
    return {kind for kind, evidence in out.items() if evidence is not None}


def test_healthy_kiosk_raises_nothing() -> None:
    assert raised(view()) == set()


def test_each_condition_with_its_threshold() -> None:
    # Offline only after the threshold (a short blip is not an alert).
    assert raised(view(connected=False, down_since_ms=NOW - 59_000)) == set()
    assert raised(view(connected=False, down_since_ms=NOW - 60_000)) == {AlertKind.OFFLINE}
    # Sync lag: the oldest unacknowledged event is older than 10 minutes.
    assert raised(view(outbox_depth=4, oldest_unacked_age_s=600)) == set()
    assert raised(view(outbox_depth=4, oldest_unacked_age_s=601)) == {AlertKind.SYNC_LAG}
    # A version not applied 15 minutes after it was published.
    late = view()
    late["versions"]["deny"] = {"applied": 2, "current": 3, "behind_since_ms": NOW - 900_000}
    assert raised(late) == {AlertKind.VERSION_LAG}
    late["versions"]["deny"]["behind_since_ms"] = NOW - 899_000
    assert raised(late) == set()
    # A reader that has not been ok for 30 s (disabled readers are not problems).
    bad_reader = view(readers={"nfc": {"state": "unavailable"}, "camera": {"state": "disabled"}})
    assert raised(bad_reader, reader_since={"nfc": NOW - 29_000}) == set()
    assert raised(bad_reader, reader_since={"nfc": NOW - 30_000}) == {AlertKind.READER}
    # Clock skew beyond 30 s, either way.
    assert raised(view(clock_offset_ms=-30_001)) == {AlertKind.CLOCK_SKEW}
    assert raised(view(clock_offset_ms=30_000)) == set()
    # Flapping: three drops within the window.
    assert raised(view(), drops=2) == set()
    assert raised(view(), drops=3) == {AlertKind.FLAPPING}


def test_a_dead_kiosk_raises_offline_only() -> None:
    dead = view(
        alive=False,
        down_since_ms=NOW - 120_000,
        outbox_depth=50,
        oldest_unacked_age_s=5000,
        clock_offset_ms=999_999,
        readers={"nfc": {"state": "unavailable"}},
    )
    assert raised(dead, reader_since={"nfc": 0}) == {AlertKind.OFFLINE}


def test_rejection_rate_against_the_kiosks_own_baseline() -> None:
    # 20% refused now vs. 2% usually: above both the floor (10%) and 2x baseline.
    rising = RejectionStats(
        window_rejected=10, window_taps=50, baseline_rejected=2, baseline_taps=100
    )
    evidence = rejection_alert(rising, S)
    assert evidence is not None and evidence["window_rate"] == 0.2 and evidence["limit"] == 0.1
    # This kiosk usually refuses 15%: 20% is not twice that.
    usual = RejectionStats(
        window_rejected=10, window_taps=50, baseline_rejected=15, baseline_taps=100
    )
    assert rejection_alert(usual, S) is None
    # 5% is under the floor; nine refusals are too few to say anything.
    assert rejection_alert(RejectionStats(10, 200, 0, 0), S) is None
    assert rejection_alert(RejectionStats(9, 9, 0, 100), S) is None
    # No baseline at all: the floor decides.
    assert rejection_alert(RejectionStats(12, 40, 0, 0), S) is not None
    assert raised(view(), stats=rising) == {AlertKind.REJECTIONS}


def test_hysteresis_keeps_one_alert_until_ok_long_enough() -> None:
    state, change = step(None, {"x": 1}, NOW, 20_000)
    assert change == "raised" and state == AlertState(True, NOW, detail={"x": 1})
    state, change = step(state, None, NOW + 1_000, 20_000)  # ok, but not for long
    assert change is None and state is not None and state.active
    assert state.ok_since_ms == NOW + 1_000
    state, change = step(state, {"x": 2}, NOW + 5_000, 20_000)  # back: same alert
    assert change is None and state is not None and state.ok_since_ms is None
    assert state.raised_count == 1 and state.detail == {"x": 2}
    state, change = step(state, None, NOW + 6_000, 20_000)
    state, change = step(state, None, NOW + 25_000, 20_000)
    assert change is None and state is not None and state.active  # 19 s ok
    state, change = step(state, None, NOW + 26_000, 20_000)
    assert change == "cleared" and state is not None and not state.active
    assert state.cleared_ms == NOW + 26_000
    state, change = step(state, {"x": 3}, NOW + 30_000, 20_000)
    assert change == "raised" and state is not None and state.raised_count == 2
    assert step(None, None, NOW, 20_000) == (None, None)


def test_a_flapping_connection_is_one_alert_not_a_flood() -> None:
    """Two minutes of a link that drops every 10 s for 4 s: one flapping alert, no
    offline alert (no drop lasts the offline threshold), and the drop count grows."""
    states: dict[AlertKind, AlertState | None] = dict.fromkeys(AlertKind)
    changes: list[tuple[AlertKind, str]] = []
    drops: list[int] = []
    for second in range(0, 120):
        now = NOW + second * 1000
        down = second % 10 < 4
        if down and second % 10 == 0:
            drops.append(now)
        v = view(connected=not down, down_since_ms=now - (second % 10) * 1000 if down else None)
        recent = sum(1 for at in drops if at >= now - S.flap_window_s * 1000)
        evidence = conditions(v, {}, None, recent, S, now)
        for kind, detail in evidence.items():
            states[kind], change = step(states[kind], detail, now, S.alert_clear_after_s * 1000)
            if change:
                changes.append((kind, change))
    assert changes == [(AlertKind.FLAPPING, "raised")]
    flapping = states[AlertKind.FLAPPING]
    assert flapping is not None and flapping.active and flapping.detail["drops"] == 12
    assert states[AlertKind.OFFLINE] is None


def test_out_of_sync_is_remembered_only_after_the_grace() -> None:
    """Every member push leaves kiosks one version behind until their next heartbeat: that
    is not written to the timeline; being behind for longer than the grace is."""
    from coordinator.fleet.facts import changes, remembered

    def kiosk(in_sync: bool) -> dict[str, Any]:
        return {
            "kiosk_id": "k1",
            "heartbeat_received_ms": NOW,
            "alive": True,
            "alive_until_ms": NOW + 15_000,
            "in_sync": in_sync,
            "reported_last_seq": 3,
            "applied_seq": 3,
            "versions": {"members": {"applied": 4, "current": 5}},
            "readers": {},
            "software_version": "1.2.0",
        }

    first = remembered(kiosk(True), None, NOW, 60_000)
    assert [c.fact for c in changes(kiosk(True), None, first, NOW)] == [
        "alive",
        "in_sync",
        "software",
    ]
    behind = remembered(kiosk(False), first, NOW + 1_000, 60_000)
    assert behind["in_sync"] is True and behind["out_of_sync_since"] == NOW + 1_000
    assert changes(kiosk(False), first, behind, NOW + 1_000) == []
    still = remembered(kiosk(False), behind, NOW + 60_999, 60_000)
    assert still["in_sync"] is True
    late = remembered(kiosk(False), still, NOW + 61_000, 60_000)
    entries = changes(kiosk(False), still, late, NOW + 61_000)
    assert [(c.fact, c.value, c.previous, c.at_ms) for c in entries] == [
        ("in_sync", "behind", "in_sync", NOW + 1_000)
    ]
    back = remembered(kiosk(True), late, NOW + 70_000, 60_000)
    assert back["in_sync"] is True and back["out_of_sync_since"] is None
    assert [(c.value, c.at_ms) for c in changes(kiosk(True), late, back, NOW + 70_000)] == [
        ("in_sync", NOW + 70_000)
    ]
