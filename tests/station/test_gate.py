"""The kiosk's door-station endpoint on the real kiosk ledger (SQLite), request by request.

Forged, replayed and wrong-key requests are refused before anything in them is used, and
counted for the heartbeat; a tap handed over twice is answered from the record and counted
once; a tap the station buffered is judged at the time it was read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from device.ledger import KioskLedger
from device.sessions import MemberSessions, StaffSessions
from device.station_gate import StationBook, StationEnrollment, StationGate
from device.station_gate.gate import GateAnswer
from device.tap_service import TapService
from device.ui.hub import EventHub
from shared.station_wire import (
    ANSWER_DOMAIN,
    HELLO_PATH,
    REQUEST_DOMAIN,
    TAPS_PATH,
    StationRefusal,
    TapsAnswer,
    mac,
    mac_ok,
)
from tests.kiosk.seed import CLASS_ID, STUDENT, STUDENT2, seed_ledger
from tests.ledger.builders import FakeClock
from tests.station.kiosk_process import KEY, ROOM, STATION

MIN = 60_000
OTHER_KEY = "1f" * 16 + "2e3d4c5b" * 4


@dataclass
class Gate:
    gate: StationGate
    ledger: KioskLedger
    clock: FakeClock
    n: int = 0

    def post(
        self, path: str, payload: dict[str, object], *, key: str = KEY, n: int | None = None
    ) -> tuple[GateAnswer, bytes]:
        if n is None:
            self.n += 1
            n = self.n
        body = json.dumps({"station_id": STATION, "n": n, **payload}).encode()
        signature = mac(bytes.fromhex(key), REQUEST_DOMAIN, path, body)
        return self.gate.handle(path, body, signature), body

    def taps(self, *taps: tuple[int, str, int], **kw: object) -> GateAnswer:
        answer, _ = self.post(
            TAPS_PATH, {"taps": [{"no": no, "uid": u, "age_ms": a} for no, u, a in taps]}, **kw
        )
        return answer


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    path = tmp_path / "ledger.sqlite"
    seed_ledger(path, kiosk_id="k1", store_id="s1", with_class=True, class_room=ROOM)
    clock = FakeClock(time.time_ns() // 1_000_000)  # the seed's class is around real now
    ledger = KioskLedger.open(path, kiosk_id="k1", store_id="s1", clock=clock)
    service = TapService(
        ledger,
        EventHub(),
        clock=clock,
        member_sessions=MemberSessions(clock, 45),
        staff_sessions=StaffSessions(
            clock, pin_hash=None, staff_id="s", cards=(), idle_s=60, max_attempts=3, lockout_s=60
        ),
    )
    enrolled = [StationEnrollment(station_id=STATION, room=ROOM, key=KEY)]
    book = StationBook((e.station_id, e.room) for e in enrolled)
    yield Gate(StationGate(enrolled, service, book), ledger, clock)
    ledger.close()


def refusal(answer: GateAnswer) -> StationRefusal:
    return StationRefusal.model_validate_json(answer.body)


def test_a_signed_tap_is_decided_and_the_answer_is_signed(gate: Gate) -> None:
    answer = gate.taps((1, STUDENT.card, 0))
    assert answer.status == 200
    assert mac_ok(bytes.fromhex(KEY), ANSWER_DOMAIN, TAPS_PATH, answer.body, answer.mac)
    result = TapsAnswer.model_validate_json(answer.body).results[0]
    assert (result.result, result.action, result.duplicate) == ("accepted", "class_signin", False)
    [event] = [e for e in gate.ledger.journal_events() if e.kind == "class_signin"]
    assert event.station is not None
    assert (event.station.station_id, event.station.tap_no) == (STATION, 1)
    status = gate.gate.book.status()[STATION]
    assert status.taps_accepted == 1 and status.last_seen_ms is not None


def test_forged_wrong_key_and_unknown_station_requests_are_refused_and_counted(gate: Gate) -> None:
    body = json.dumps({"station_id": STATION, "n": 1, "taps": [{"no": 1, "uid": STUDENT.card}]})
    forged = gate.gate.handle(TAPS_PATH, body.encode(), "00" * 32)
    missing = gate.gate.handle(TAPS_PATH, body.encode(), None)
    wrong_key = gate.taps((2, STUDENT.card, 0), key=OTHER_KEY)
    unknown = gate.gate.handle(
        TAPS_PATH, json.dumps({"station_id": "st-elsewhere", "n": 1}).encode(), "00"
    )
    assert [a.status for a in (forged, missing, wrong_key, unknown)] == [401, 401, 401, 401]
    assert [refusal(a).code for a in (forged, missing, wrong_key)] == ["bad_mac"] * 3
    assert refusal(unknown).code == "unknown_station"
    assert all(a.mac is None for a in (forged, missing, wrong_key, unknown))
    assert gate.ledger.journal_events() == []  # nothing decided, nothing recorded
    assert gate.gate.book.status()[STATION].refused_requests == 3
    assert gate.gate.book.unknown_requests == 1


def test_a_replayed_request_is_refused_with_a_signed_high_water_mark(gate: Gate) -> None:
    first, body = gate.post(TAPS_PATH, {"taps": [{"no": 5, "uid": STUDENT.card}]}, n=9)
    assert first.status == 200
    replay = gate.gate.handle(
        TAPS_PATH, body, mac(bytes.fromhex(KEY), REQUEST_DOMAIN, TAPS_PATH, body)
    )
    older = gate.taps((6, STUDENT2.card, 0), n=3)
    for answer in (replay, older):
        assert answer.status == 409
        assert (refusal(answer).code, refusal(answer).hwm) == ("replayed", 9)
        assert mac_ok(bytes.fromhex(KEY), ANSWER_DOMAIN, TAPS_PATH, answer.body, answer.mac)
    signins = [e for e in gate.ledger.journal_events() if e.kind == "class_signin"]
    assert [e.member_id for e in signins] == [STUDENT.member_id]  # STUDENT2's never decided


def test_the_high_water_mark_survives_a_kiosk_restart(gate: Gate, tmp_path: Path) -> None:
    assert gate.taps((1, STUDENT.card, 0), n=40).status == 200
    gate.ledger.close()
    reopened = KioskLedger.open(
        tmp_path / "ledger.sqlite", kiosk_id="k1", store_id="s1", clock=gate.clock
    )
    try:
        assert reopened.accept_station_number(STATION, 40) == 40
        assert reopened.accept_station_number(STATION, 41) is None
    finally:
        reopened.close()


def test_a_tap_handed_over_again_is_answered_from_the_record_and_counted_once(gate: Gate) -> None:
    first = TapsAnswer.model_validate_json(gate.taps((7, STUDENT.card, 0)).body).results[0]
    # The answer was lost: the station sends the same tap again, in a new request.
    again = TapsAnswer.model_validate_json(gate.taps((7, STUDENT.card, 900)).body).results[0]
    assert (first.result, first.duplicate) == ("accepted", False)
    assert (again.result, again.action, again.duplicate) == ("accepted", "class_signin", True)
    summary = gate.ledger.member_summary(STUDENT.member_id)
    assert summary is not None and summary.passes[0].sessions_used == 3  # 2 seeded + 1
    assert len([e for e in gate.ledger.journal_events() if e.kind == "class_signin"]) == 1
    assert gate.gate.book.status()[STATION].taps_accepted == 1


def test_a_buffered_tap_is_judged_when_it_was_read(gate: Gate) -> None:
    # The class's sign-in closes 25 minutes from the seed. 40 minutes on, a live tap finds no
    # open class in the room (a plain check-in); a tap read 35 minutes ago, handed over now,
    # was made while sign-in was open: the student is signed in to the class.
    gate.clock.advance(40 * MIN)
    live, buffered = TapsAnswer.model_validate_json(
        gate.taps((1, STUDENT2.card, 0), (2, STUDENT.card, 35 * MIN)).body
    ).results
    assert (live.result, live.action) == ("accepted", "checkin")
    assert (buffered.result, buffered.action) == ("accepted", "class_signin")
    [signin] = [e for e in gate.ledger.journal_events() if e.kind == "class_signin"]
    assert signin.member_id == STUDENT.member_id
    assert signin.station is not None
    assert signin.hlc_ms - signin.station.read_ms == 35 * MIN
    roster = {r.session.class_session_id: r for r in gate.ledger.class_rosters()}
    assert [e.station_id for e in roster[CLASS_ID].signed_in] == [STATION]


def test_a_station_only_signs_in_to_its_own_rooms_classes(gate: Gate, tmp_path: Path) -> None:
    other = [StationEnrollment(station_id="st-b", room="studio-b", key=OTHER_KEY)]
    gate_b = StationGate(other, gate.gate._taps, StationBook([("st-b", "studio-b")]))
    body = json.dumps({"station_id": "st-b", "n": 1, "taps": [{"no": 1, "uid": STUDENT.card}]})
    answer = gate_b.handle(
        TAPS_PATH,
        body.encode(),
        mac(bytes.fromhex(OTHER_KEY), REQUEST_DOMAIN, TAPS_PATH, body.encode()),
    )
    result = TapsAnswer.model_validate_json(answer.body).results[0]
    assert (result.result, result.action) == ("accepted", "checkin")  # no class in studio-b


@pytest.mark.parametrize(
    ("body", "code", "status"),
    [
        (b"x" * 5000, "too_large", 413),
        (b"not json", "bad_request", 400),
        (b'{"n": 1}', "bad_request", 400),
    ],
)
def test_malformed_requests(gate: Gate, body: bytes, code: str, status: int) -> None:
    answer = gate.gate.handle(TAPS_PATH, body, None)
    assert (answer.status, refusal(answer).code) == (status, code)


def test_an_authentic_but_malformed_request_gets_a_signed_refusal(gate: Gate) -> None:
    answer, _ = gate.post(TAPS_PATH, {"taps": [{"no": 1, "uid": "04-not-hex"}]})
    assert (answer.status, refusal(answer).code) == (400, "bad_request")
    assert mac_ok(bytes.fromhex(KEY), ANSWER_DOMAIN, TAPS_PATH, answer.body, answer.mac)


def test_hello_reports_the_stations_health(gate: Gate) -> None:
    answer, _ = gate.post(
        HELLO_PATH,
        {
            "fw": "0.1.0",
            "uptime_s": 12,
            "buffered": 3,
            "dropped": 1,
            "reader": "fault",
            "errors": {"chip": 4, "kiosk": 2},
        },
    )
    assert answer.status == 200
    status = gate.gate.book.status()[STATION]
    assert (status.fw, status.buffered, status.dropped, status.reader) == ("0.1.0", 3, 1, "fault")
    assert status.errors == {"chip": 4, "kiosk": 2} and status.room == ROOM
