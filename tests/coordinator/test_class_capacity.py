"""Class capacity with two real kiosks in one studio, both going offline during a burst.

Real ``KioskLedger`` journals drained by real ``KioskLink``s over a real Mosquitto, against
the real coordinator. The studio's timetable gives every class seats per kiosk
(``shared.seats``). Offline in a burst each kiosk admits only its own seats, then refuses
``class_full`` naming the next session with seats; the bound holds. A forced case, one
kiosk offline with a stale view while the other fills the class online, goes over within
the bound, and reconciliation records one ``class_over_capacity`` conflict with its story.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from device.ledger import KioskLedger
from shared.decide import Refused
from shared.reasons import RejectReason
from shared.seats import worst_case_admitted
from simulators.waiting import poll_until
from tests.coordinator.harness import Harness
from tests.coordinator.real_studio import MEMBERS, Studio, card


def _slot(slot_id: str, room: str, start: datetime, capacity: int) -> dict[str, Any]:
    return {
        "slot_id": slot_id,
        "room": room,
        "class_type": "yoga",
        "title_zh": "瑜伽",
        "title_en": "Yoga",
        "coach": "coach-li",
        "weekday": start.weekday(),
        "start": f"{start:%H:%M}",
        "length_min": 60,
        "capacity": capacity,
    }


@pytest.fixture
def studio(harness: Harness, tmp_path: Path) -> Iterator[tuple[Studio, dict[str, str]]]:
    h = harness
    h.add_store("s1")
    h.add_kiosk("k1", "s1")
    h.add_kiosk("k2", "s1")
    for m in MEMBERS:
        h.add_member(m)
        h.call("POST", f"/api/v1/members/{m}/cards", json={"uid": card(m)}, expect=201)
        h.sell_pass(m, f"p-{m}", 10)
    # Two classes starting in ten minutes (sign-in open now), four seats each.
    now = datetime.fromtimestamp(h.coord.clock.wall_ms() / 1000, UTC)
    start = (now + timedelta(minutes=10)).astimezone(ZoneInfo("Asia/Shanghai"))
    saved = h.call(
        "PUT",
        "/api/v1/stores/s1/timetable",
        json={"slots": [_slot("burst", "a", start, 4), _slot("forced", "b", start, 4)]},
        expect=200,
    )
    ids = {
        "burst": f"burst:{start:%Y%m%d}",
        "forced": f"forced:{start:%Y%m%d}",
    }
    with ExitStack() as stack:
        s = Studio(h, tmp_path, stack)
        for k, ledger in s.ledgers.items():

            def ready(ledger: KioskLedger = ledger) -> bool:
                bundle = ledger.rule_bundle()
                return (
                    bundle is not None
                    and bundle.version >= saved["rules_version"]
                    and all(ledger.member_for_card(card(m)) == m for m in MEMBERS)
                    and all(
                        (ms := ledger.member_summary(m)) is not None and ms.passes for m in MEMBERS
                    )
                )

            assert poll_until(ready, timeout_s=30), f"{k} did not get rules and members"
        yield s, ids


def test_both_kiosks_offline_in_a_burst_fill_only_their_seats(
    harness: Harness, studio: tuple[Studio, dict[str, str]]
) -> None:
    s, ids = studio
    session_id = ids["burst"]
    bundle = s.ledgers["k1"].rule_bundle()
    assert bundle is not None
    session = bundle.class_session(session_id)
    assert session is not None
    assert {(a.kiosk_id, a.seats) for a in session.seats} == {("k1", 2), ("k2", 2)}
    assert worst_case_admitted(session) == 6

    s.offline("k1")
    s.offline("k2")
    results: dict[str, list[Any]] = {"k1": [], "k2": []}
    for i, m in enumerate(MEMBERS[:10]):
        k = "k1" if i % 2 == 0 else "k2"
        results[k].append(s.tap(k, m, session_id))
    for k, decisions in results.items():
        admitted = [d for d in decisions if not isinstance(d, Refused)]
        refused = [d for d in decisions if isinstance(d, Refused)]
        assert len(admitted) == 2, (k, decisions)
        assert {d.reason for d in refused} == {RejectReason.CLASS_FULL}
        # The screen names the next session with seats (next week's, same slot).
        nxt = refused[0].next_class_session_id
        assert nxt is not None and nxt.startswith("burst:") and nxt != session_id
        assert "Next with seats" in refused[0].message_en and "下一节" in refused[0].message_zh

    s.online("k1")
    s.online("k2")
    for k in ("k1", "k2"):
        assert poll_until(lambda k=k: s.delivered(k), timeout_s=30)
    signed = harness.call("GET", "/api/v1/conflicts", kind="class_over_capacity", expect=200)
    assert signed["items"] == []


def test_a_stale_offline_kiosk_goes_over_within_the_bound_and_raises_a_conflict(
    harness: Harness, studio: tuple[Studio, dict[str, str]]
) -> None:
    h = harness
    s, ids = studio
    session_id = ids["forced"]
    s.offline("k2")  # k2 keeps its view from before the class: nobody signed in
    online_in = []
    for m in MEMBERS[:6]:
        decision = s.tap("k1", m, session_id)
        if not isinstance(decision, Refused):
            online_in.append(m)
            # Online, the coordinator confirms each sign-in within moments.
            assert poll_until(lambda m=m: s.confirmed("k1", m), timeout_s=30)
        else:
            assert decision.reason is RejectReason.CLASS_FULL
    assert len(online_in) == 4  # the whole class, online

    offline_in = [m for m in MEMBERS[6:12] if not isinstance(s.tap("k2", m, session_id), Refused)]
    assert len(offline_in) == 2  # its allocation, on a stale view
    bundle = s.ledgers["k2"].rule_bundle()
    assert bundle is not None
    session = bundle.class_session(session_id)
    assert session is not None
    assert len(online_in) + len(offline_in) <= worst_case_admitted(session)

    s.online("k2")
    assert poll_until(lambda: s.delivered("k2"), timeout_s=30)

    def raised() -> list[dict[str, Any]]:
        found = h.call("GET", "/api/v1/conflicts", kind="class_over_capacity", expect=200)
        return list(found["items"])

    assert poll_until(lambda: len(raised()) == 1, timeout_s=30)
    conflict = raised()[0]
    assert conflict["subject_id"] == session_id and conflict["amount"] == 2
    assert "Class over capacity" in conflict["explanation"]
    assert "k2" in conflict["explanation"]
    story = h.call("GET", f"/api/v1/fleet/conflicts/{conflict['conflict_id']}/story", expect=200)
    steps = story["steps"]
    assert len(steps) == 6
    assert [st["target"] for st in steps].index(True) == 4  # the fifth went over
    assert steps[-1]["after"]["en"] == "6 signed in"
    assert {st["kiosk_id"] for st in steps if st["offline"]} == {"k2"}
