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
from device.link import KioskLink, LinkSettings
from device.ports import SystemClock
from shared.decide import Refused
from shared.reasons import RejectReason
from shared.seats import worst_case_admitted
from simulators.waiting import poll_until
from tests.coordinator.harness import Harness

MEMBERS = [f"m{i:02d}" for i in range(1, 15)]


def card(member_id: str) -> str:
    return f"04A1B2C3D4E5{int(member_id[1:]):02X}"


class Studio:
    """Two real kiosks of store s1 (ledger + link each), which can go offline and back."""

    def __init__(self, h: Harness, folder: Path, stack: ExitStack):
        self.h = h
        self.ledgers = {
            k: stack.enter_context(
                KioskLedger.open(
                    folder / k / "ledger.db", kiosk_id=k, store_id="s1", clock=SystemClock()
                )
            )
            for k in ("k1", "k2")
        }
        self.links: dict[str, KioskLink | None] = {"k1": None, "k2": None}
        stack.callback(self.stop_all)
        for k in self.ledgers:
            self.online(k)

    def settings(self) -> LinkSettings:
        return LinkSettings(
            host=self.h.broker.host,
            port=self.h.broker.port,
            keepalive_s=5,
            heartbeat_interval_s=1,
            reconnect_min_s=0.05,
            reconnect_max_s=0.5,
            online_grace_s=0.3,
            sync_min_interval_s=0.3,
            resend_after_s=5,
        )

    def online(self, kiosk_id: str) -> None:
        link = KioskLink(self.settings(), self.ledgers[kiosk_id])
        link.start()
        self.links[kiosk_id] = link

    def offline(self, kiosk_id: str) -> None:
        link = self.links[kiosk_id]
        assert link is not None
        link.stop(timeout_s=3)
        self.links[kiosk_id] = None
        self.ledgers[kiosk_id].set_online(False)

    def stop_all(self) -> None:
        for k in list(self.links):
            if self.links[k] is not None:
                self.offline(k)

    def delivered(self, kiosk_id: str) -> bool:
        ledger = self.ledgers[kiosk_id]
        return self.h.applied_seq(kiosk_id) == ledger.outbox_stats().last_seq

    def confirmed(self, kiosk_id: str, member_id: str) -> bool:
        summary = self.ledgers[kiosk_id].member_summary(member_id)
        return summary is not None and summary.pending_events == 0

    def tap(self, kiosk_id: str, member_id: str, session_id: str) -> Any:
        outcome = self.ledgers[kiosk_id].tap_card(card(member_id), session_id)
        link = self.links[kiosk_id]
        if link is not None:
            link.notify_new_events()
        return outcome.decision


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
