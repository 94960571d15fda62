"""The fleet monitor on the real ingest: facts as liveness defines them, the exact 1.5x
alive window, status changes recorded once, a flapping link as one alert, and all of it on
/metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from coordinator.fleet import fleet_view as fleet
from coordinator.fleet import liveness
from coordinator.schema import fleet_alerts, kiosk_timeline
from shared.events import CheckIn, EventBody, Rejected
from shared.protocol import EventBatch, Heartbeat, ReaderStatus, Status, SyncRequest, Versions
from shared.topics import Channel
from tests.dashboard.ingest_feed import Api, api_without_broker, feed
from tests.support.factories import kiosk_event


@pytest.fixture
def api(tmp_path: Path) -> Api:
    with api_without_broker(
        tmp_path, flap_threshold=3, offline_alert_after_s=300, rejection_refresh_s=0.001
    ) as running:
        yield running  # type: ignore[misc]


def setup_fleet(api: Api) -> tuple[int, Versions]:
    """Stores s1, s2; kiosks k1, k2 (s1), k3 (s2); a bundle for s2 only."""
    for store in ("s1", "s2"):
        api.call("POST", "/api/v1/stores", json={"store_id": store, "name": store}, expect=201)
    for kiosk, store in (("k1", "s1"), ("k2", "s1"), ("k3", "s2")):
        api.call("POST", "/api/v1/kiosks", json={"kiosk_id": kiosk, "store_id": store}, expect=201)
    draft = api.call("POST", "/api/v1/rule-bundles", json={"store_ids": ["s2"]}, expect=201)
    api.call("POST", f"/api/v1/rule-bundles/{draft['bundle_id']}/publish", json={})
    versions = api.call("GET", "/api/v1/ops/ingest")["versions"]
    return api.coord.clock.wall_ms(), Versions(
        rules=1, deny=versions["deny"], members=versions["members"]
    )


def beat(kiosk: str, store: str, at: int, versions: Versions, **extra: object) -> Heartbeat:
    return Heartbeat(
        kiosk_id=kiosk, store_id=store, sent_wall_ms=at, hlc_ms=at, interval_s=10,
        versions=versions, **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def test_facts_match_liveness_and_alive_ends_at_one_and_a_half_intervals(api: Api) -> None:
    t, current = setup_fleet(api)
    coord = api.coord
    feed(coord, "k1", Channel.STATUS, Status(kiosk_id="k1", state="online", at_ms=t), t)
    feed(coord, "k1", Channel.SYNC, SyncRequest(kiosk_id="k1", store_id="s1", versions=current), t)
    feed(coord, "k1", Channel.HEARTBEAT, beat("k1", "s1", t, current, last_good_tap_ms=t - 5), t)
    feed(coord, "k2", Channel.HEARTBEAT, beat("k2", "s1", t - 60_000, current), t - 60_000)
    feed(coord, "k2", Channel.STATUS, Status(kiosk_id="k2", state="offline"), t - 50_000)
    # k3 was never heard from. Its store runs bundle 2, which k1's store does not.

    with coord.db.read() as conn:
        for now in (t + 5_000, t + 15_000, t + 15_001):
            views = {v["kiosk_id"]: v for v in fleet.load_fleet(conn, now)}
            for kiosk_id, v in views.items():
                truth = liveness.kiosk_health(conn, kiosk_id, now)
                assert truth is not None
                for name in ("alive", "connected", "in_sync", "last_good_tap_ms"):
                    assert v[name] == truth[name], (kiosk_id, name, now)
            assert views["k1"]["alive_until_ms"] == t + 15_000
            assert views["k1"]["alive"] is (now <= t + 15_000)
    k1, k2, k3 = (views[k] for k in ("k1", "k2", "k3"))
    assert (k1["connected"], k1["in_sync"], k1["last_good_tap_ms"]) == (True, True, t - 5)
    assert k1["versions"]["rules"] == {"applied": 1, "current": 1, "behind_since_ms": None}
    assert (k2["alive"], k2["connected"], k2["down_since_ms"]) == (False, False, t - 50_000)
    assert k3["versions"]["rules"]["current"] == 2 and k3["versions"]["rules"]["applied"] is None
    assert k3["status"] is None and k3["heartbeat_received_ms"] is None


def test_monitor_records_changes_once_and_flapping_is_one_alert_on_metrics(api: Api) -> None:
    t, current = setup_fleet(api)
    coord = api.coord
    monitor = coord_dashboard(api).monitor
    feed(coord, "k1", Channel.STATUS, Status(kiosk_id="k1", state="online"), t)
    feed(coord, "k1", Channel.SYNC, SyncRequest(kiosk_id="k1", store_id="s1", versions=current), t)
    feed(coord, "k1", Channel.HEARTBEAT, beat("k1", "s1", t, current), t)
    monitor.tick(t + 1_000)
    first = timeline_rows(api)
    monitor.tick(t + 1_200)
    monitor.tick(t + 1_400)
    assert timeline_rows(api) == first  # no change, no row
    assert ("k1", "connected", "online", None) in first
    assert ("k1", "alive", "alive", None) in first and ("k1", "in_sync", "in_sync", None) in first

    # The link drops and returns three times between two ticks: every drop is on the
    # timeline (the ingest writes it), and the monitor raises one flapping alert.
    for n in range(3):
        at = t + 2_000 + n * 1_000
        feed(coord, "k1", Channel.STATUS, Status(kiosk_id="k1", state="offline"), at)
        feed(coord, "k1", Channel.STATUS, Status(kiosk_id="k1", state="online"), at + 500)
    feed(coord, "k1", Channel.STATUS, Status(kiosk_id="k1", state="online"), t + 6_000)  # again
    snap = monitor.tick(t + 6_500)
    rows = timeline_rows(api)
    drops = [r for r in rows if r[:3] == ("k1", "connected", "offline")]
    assert len(drops) == 3 and len([r for r in rows if r[:3] == ("k1", "connected", "online")]) == 4
    assert [(a["kiosk_id"], a["kind"]) for a in snap["alerts"]] == [("k1", "flapping")]
    assert snap["alerts"][0]["detail"] == {"drops": 3, "window_s": 600}
    monitor.tick(t + 7_000)
    with coord.db.read() as conn:
        alert_rows = conn.execute(sa.select(fleet_alerts)).all()
    assert [(r.kind, r.raised_count) for r in alert_rows] == [("flapping", 1)]
    assert [r for r in timeline_rows(api) if r[1].startswith("alert:")] == [
        ("k1", "alert:flapping", "raised", None)
    ]

    # A reader down and a wrong clock while alive (hourly heartbeats); metrics say so.
    reader = {"nfc": ReaderStatus(state="unavailable", detail="USB unplugged")}
    hourly = beat("k1", "s1", t + 8_000, current, clock_offset_ms=-95_000, readers=reader)
    feed(coord, "k1", Channel.HEARTBEAT, hourly.model_copy(update={"interval_s": 3600}), t + 8_000)
    snap = monitor.tick(t + 8_100)
    assert {a["kind"] for a in snap["alerts"]} == {"flapping", "clock_skew"}  # reader: not yet
    snap = monitor.tick(t + 8_100 + 60_000)
    assert {a["kind"] for a in snap["alerts"]} == {"flapping", "clock_skew", "reader"}
    m = scrape(api)
    assert (
        m[("tapfleet_kiosk_reader_ok", (("kiosk", "k1"), ("reader", "nfc"), ("store", "s1")))] == 0
    )
    assert m[("tapfleet_kiosk_clock_offset_seconds", (("kiosk", "k1"), ("store", "s1")))] == -95.0
    assert m[("tapfleet_kiosk_alive", (("kiosk", "k1"), ("store", "s1")))] == 1
    assert m[("tapfleet_kiosk_connected", (("kiosk", "k2"), ("store", "s1")))] == 0
    for kind, active in (("flapping", 1), ("reader", 1), ("clock_skew", 1), ("offline", 0)):
        key = (("alert", kind), ("kiosk", "k1"), ("store", "s1"))
        assert m[("tapfleet_fleet_alert", key)] == active, kind
    assert m[("tapfleet_fleet_alerts_active", (("alert", "reader"),))] == 1
    changes = timeline_rows(api)
    assert ("k1", "reader:nfc", "unavailable", None) in changes
    assert ("k1", "alert:reader", "raised", None) in changes

    # Much later k2 (offline since t - 50 s) and k3 (never heard) are offline alerts.
    snap = monitor.tick(t + 400_000)
    offline = {a["kiosk_id"] for a in snap["alerts"] if a["kind"] == "offline"}
    assert offline == {"k2", "k3"}  # k1 is alive: its hourly heartbeat is not yet 1.5 h old


def test_rising_rejections_from_recorded_refusals(api: Api) -> None:
    t, _ = setup_fleet(api)
    monitor = coord_dashboard(api).monitor
    hour_ago = t - 3_600_000
    # Yesterday k1 refused 1 tap in 20 (5 %); in the last hour it refused 12 of 30 (40 %).
    history: list[tuple[int, EventBody]] = [
        (t - 86_400_000 + n * 1000, CheckIn(points=0) if n else Rejected(reason="card_unknown"))
        for n in range(20)
    ]
    history += [
        (hour_ago + 60_000 + n * 1000, Rejected(reason="card_denied") if n < 12 else CheckIn())
        for n in range(30)
    ]
    events = tuple(
        kiosk_event("k1", seq, "m-x", body, at_ms=at, offline=True)
        for seq, (at, body) in enumerate(history, start=1)
    )
    feed(api.coord, "k1", Channel.EVENTS, EventBatch(kiosk_id="k1", events=events), t)
    snap = monitor.tick(t + 1_000)
    alert = next(a for a in snap["alerts"] if a["kind"] == "rejections")
    assert alert["kiosk_id"] == "k1"
    assert alert["detail"]["window_rejected"] == 12 and alert["detail"]["window_taps"] == 30
    assert alert["detail"]["baseline_rate"] == 0.05 and alert["detail"]["window_rate"] == 0.4
    assert {a["kiosk_id"] for a in snap["alerts"] if a["kind"] == "rejections"} == {"k1"}


def coord_dashboard(api: Api):  # type: ignore[no-untyped-def]
    return api.client.app.state.coordinator.live  # type: ignore[attr-defined]


def timeline_rows(api: Api) -> list[tuple[str, str, str, str | None]]:
    t = kiosk_timeline
    with api.coord.db.read() as conn:
        return [
            (r.kiosk_id, r.fact, r.value, r.previous)
            for r in conn.execute(sa.select(t).order_by(t.c.id))
        ]


def scrape(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample on /metrics, keyed by name and sorted labels."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(api.client.get("/metrics").text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_a_long_tick_stretches_the_pause_so_the_monitor_stays_a_minor_load() -> None:
    from coordinator.fleet.monitor import MAX_BUSY_SHARE, pause_after

    assert pause_after(0.002, 1.0) == 1.0  # a small fleet: the configured cadence
    for tick_s in (0.3, 1.0, 2.5):  # a large fleet's ticks
        pause = pause_after(tick_s, 1.0)
        assert pause > 1.0
        assert tick_s / (tick_s + pause) <= MAX_BUSY_SHARE + 1e-9
