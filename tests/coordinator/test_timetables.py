"""A store's timetable rolls out to that store's kiosks as a versioned rule update layered
over the chain's rules; a later chain-wide publish (and a QR key rotation) leaves it alone,
another store's timetable never touches it, and bad timetables change nothing.

Real coordinator app, real Mosquitto, real SQLite; kiosks are mini kiosks on MQTT.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from coordinator.downstream import rule_bundles, timetables
from shared.model import DAY_MS, RuleBundle
from tests.coordinator.harness import Harness
from tests.support.mini_kiosk import MiniKiosk


def _today_weekday(h: Harness) -> int:
    now = datetime.fromtimestamp(h.coord.clock.wall_ms() / 1000, UTC)
    return now.astimezone(ZoneInfo("Asia/Shanghai")).weekday()


def yoga_slot(slot_id: str, weekday: int, **over: Any) -> dict[str, Any]:
    return {
        "slot_id": slot_id,
        "room": "studio-a",
        "class_type": "yoga",
        "title_zh": "瑜伽",
        "title_en": "Yoga",
        "coach": "coach-li",
        "weekday": weekday,
        "start": "18:30",
        "length_min": 60,
        "capacity": 12,
        "drop_in_price_fen": 8800,
        **over,
    }


def timetable_classes(kiosk: MiniKiosk) -> list[str]:
    assert kiosk.bundle is not None
    return sorted(c.class_session_id for c in kiosk.bundle.classes if c.slot_id is not None)


def put(
    h: Harness,
    store_id: str,
    slots: list[dict[str, Any]],
    *,
    expect: int = 200,
    headers: dict[str, str] | None = None,
    **body: Any,
) -> dict[str, Any]:
    return h.call(
        "PUT",
        f"/api/v1/stores/{store_id}/timetable",
        json={"slots": slots, **body},
        headers=headers,
        expect=expect,
    )


def test_store_timetable_layers_over_chain_rules(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_store("s2")
    h.add_member("m1")
    k1 = h.kiosk("k1", "s1")
    k2 = h.kiosk("k2", "s2")
    start = k2.versions.rules
    wd = _today_weekday(h)

    saved = put(h, "s1", [yoga_slot("yoga", wd)], note="first week")
    assert saved["revision"] == 1 and saved["rules_version"] > start
    assert k1.wait_for(lambda: k1.versions.rules == saved["rules_version"])
    ids = timetable_classes(k1)
    # Three weeks ahead from yesterday: the slot's day comes three times.
    assert len(ids) == 3 and all(i.startswith("yoga:") for i in ids)
    assert k1.bundle is not None and k1.bundle.store_ids == ("s1",)
    # Store 2's kiosk never got store 1's timetable.
    assert k2.versions.rules == start

    # A chain-wide rule change: store 1 keeps its classes (and gets the new rule).
    chain = h.publish_rules(rules={"points_per_checkin": 5})
    assert k2.wait_for(lambda: k2.versions.rules == chain["version"])
    assert k1.wait_for(lambda: k1.versions.rules > chain["version"])
    assert k1.bundle is not None and k1.bundle.rules.points_per_checkin == 5
    assert timetable_classes(k1) == ids
    current = h.call("GET", "/api/v1/rule-bundles/current", store_id="s1", expect=200)
    assert current["version"] == k1.versions.rules and len(current["classes"]) == 3
    s2_current = h.call("GET", "/api/v1/rule-bundles/current", store_id="s2", expect=200)
    assert s2_current["version"] == chain["version"] and s2_current["classes"] == []

    # Store 2's timetable does not touch store 1's kiosks.
    before = k1.versions.rules
    other = put(h, "s2", [yoga_slot("spin", wd, class_type="spin", start="07:00")])
    assert k2.wait_for(lambda: k2.versions.rules == other["rules_version"])
    assert {c.class_type for c in k2.bundle.classes} == {"spin"}  # type: ignore[union-attr]
    assert k1.versions.rules == before

    # A kiosk that joins store 1 later catches up to the layered bundle on sync.
    # Registering it re-layers the store: every class now gives it seats too.
    k3 = h.kiosk("k3", "s1")
    joined = h.call("GET", "/api/v1/rule-bundles/current", store_id="s1", expect=200)
    assert joined["version"] > before
    assert k3.wait_for(lambda: k3.versions.rules == joined["version"])
    assert timetable_classes(k3) == ids
    assert k3.bundle is not None
    seats = {a.kiosk_id: a.seats for a in k3.bundle.classes[0].seats}
    assert seats == {"k1": 6, "k3": 6}  # capacity 12 split between store 1's kiosks

    # A QR key rotation republishes the chain rules; the timetable stays on top.
    rotated = h.call("POST", "/api/v1/qr-keys/rotate", expect=200)
    s1_now = h.call("GET", "/api/v1/rule-bundles/current", store_id="s1", expect=200)
    assert s1_now["version"] in rotated["republished_versions"]
    assert k1.wait_for(lambda: k1.versions.rules == s1_now["version"])
    assert timetable_classes(k1) == ids
    assert len(k1.bundle.qr_keys) == 2  # type: ignore[union-attr]

    # Editing the timetable again: a removed slot disappears, a new one appears.
    edited = put(h, "s1", [yoga_slot("pilates", wd, class_type="pilates")])
    assert edited["revision"] == 2
    assert k1.wait_for(lambda: k1.versions.rules == edited["rules_version"])
    assert all(i.startswith("pilates:") for i in timetable_classes(k1))


def test_bad_timetables_are_refused_and_change_nothing(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_store("s2")
    good = put(h, "s1", [yoga_slot("yoga", 0)])
    overlap = put(h, "s1", [yoga_slot("yoga", 0), yoga_slot("spin", 0, start="19:00")], expect=422)
    assert overlap["error"]["code"] == "bad_timetable"
    assert "overlap in room studio-a" in overlap["error"]["message"]
    for bad, field in (
        ({"capacity": 0}, "capacity"),
        ({"capacity": -3}, "capacity"),
        ({"length_min": 1441}, "length_min"),
        ({"start": "25:00"}, "start"),
    ):
        answer = put(h, "s1", [yoga_slot("yoga", 0, **bad)], expect=422)
        assert answer["error"]["field"].endswith(field), answer
    unknown = h.call(
        "PUT",
        "/api/v1/stores/s1/timetable",
        json={
            "slots": [yoga_slot("yoga", 0)],
            "exceptions": [{"kind": "cancelled", "slot_id": "nope", "day": "2026-12-07"}],
        },
        expect=422,
    )
    assert "unknown slot" in unknown["error"]["message"]
    assert put(h, "nowhere", [yoga_slot("yoga", 0)], expect=404)["error"]["field"] == "store_id"
    now = h.call("GET", "/api/v1/stores/s1/timetable", expect=200)
    assert now["revision"] == 1 and now["rules_version"] == good["rules_version"]

    # A store manager edits their own store's timetable only; viewers edit none.
    h.call(
        "POST",
        "/api/v1/users",
        json={
            "username": "mgr1",
            "password": "password-123",
            "role": "store_manager",
            "store_id": "s1",
        },
        expect=201,
    )
    mgr = h.login("mgr1", "password-123")
    assert put(h, "s1", [yoga_slot("yoga", 1)], headers=mgr, expect=200)["revision"] == 2
    h.call("PUT", "/api/v1/stores/s2/timetable", json={"slots": []}, headers=mgr, expect=403)


def test_week_view_expands_the_timetable_with_its_exceptions(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    put(
        h,
        "s1",
        [yoga_slot("yoga", 0), yoga_slot("spin", 2, class_type="spin")],
        exceptions=[
            {"kind": "cancelled", "slot_id": "yoga", "day": "2026-12-07"},
            {"kind": "substitute", "slot_id": "spin", "day": "2026-12-09", "coach": "coach-wang"},
        ],
    )
    week = h.call("GET", "/api/v1/stores/s1/timetable/week", day="2026-12-10", expect=200)
    assert (week["first_day"], week["last_day"]) == ("2026-12-07", "2026-12-13")
    assert [(s["class_session_id"], s["instructor"]) for s in week["sessions"]] == [
        ("spin:20261209", "coach-wang")
    ]
    later = h.call("GET", "/api/v1/stores/s1/timetable/week", day="2026-12-14", expect=200)
    assert [s["class_session_id"] for s in later["sessions"]] == [
        "yoga:20261214",
        "spin:20261216",
    ]
    assert h.call("GET", "/api/v1/stores/s1/timetable/week", day="1900-01-01", expect=422)


def test_housekeeping_relayers_a_store_before_its_sessions_run_out(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_store("s2")
    saved = put(h, "s1", [yoga_slot("yoga", 3)])
    now = h.coord.clock.wall_ms()
    with h.coord.db.write() as conn:
        assert timetables.refresh_due(conn, now + DAY_MS) == []
        later = timetables.refresh_due(conn, now + timetables.REFRESH_AFTER_MS)
    assert [b.store_ids for b in later] == [("s1",)]
    assert later[0].version > saved["rules_version"]
    bundle: RuleBundle = later[0]
    first = min(c.starts_ms for c in bundle.classes)
    # The refreshed bundle carries sessions from the day before its publication on.
    assert first >= now + timetables.REFRESH_AFTER_MS - 2 * DAY_MS
    with h.coord.db.read() as conn:
        assert rule_bundles.bundle_for_store(conn, "s1") == bundle
        assert rule_bundles.base_for_store(conn, "s1") == rule_bundles.chain_bundle(conn)
