"""A door station end to end: the real firmware under MicroPython, a real kiosk process.

Parts: the station firmware built with mpy-cross and run by the MicroPython unix port with
the simulated board on MICROPYPATH; its UART a pty with the PN532 simulator behind it; the
kiosk a ``tapfleet kiosk`` process on its seeded SQLite ledger, linked to a real Mosquitto.
What is checked is what people see: the LED and buzzer at the door, the kiosk's roster and
journal, and the station's health in the kiosk's heartbeat on the broker.
"""

from __future__ import annotations

import time

import httpx
import paho.mqtt.client as mqtt

from shared import topics
from shared.protocol import Heartbeat, StationStatus, decode
from shared.topics import Channel
from simulators.broker import Broker
from simulators.pn532 import PtyChip
from simulators.station import StationBoard
from tests.kiosk.seed import CLASS_ID, STUDENT, STUDENT2, UNKNOWN_CARD
from tests.station.conftest import BoardFactory, station_config
from tests.station.kiosk_process import ROOM, STAFF_PIN, STATION, KioskProcess

REARM_S = 0.6
"""Longer than the firmware's rearm window (0.5 s): a card back sooner is the same tap."""


def tap(board: StationBoard, chip: PtyChip, uid: str) -> list[tuple[str, str]]:
    """Hold a card on the reader until the station has shown its answer, then take it away
    for longer than the rearm window; returns (signal played, what the lights meant)."""
    mark = board.mark()
    chip.place_uid(uid)
    board.wait_for("signal", after=mark)
    lights = board.wait_lights_done(mark)
    chip.lift()
    time.sleep(REARM_S)
    return [(name, episode.meaning()) for name, episode in lights]


def test_live_taps_show_the_kiosks_answer(
    kiosk: KioskProcess, chip: PtyChip, make_board: BoardFactory
) -> None:
    kiosk.start()
    board = make_board(station_config(kiosk), chip.path)
    board.wait_for("kiosk_reachable")

    assert tap(board, chip, STUDENT.card) == [("accepted", "accepted")]
    assert tap(board, chip, STUDENT.card) == [("already", "already")]
    assert tap(board, chip, UNKNOWN_CARD) == [("refused", "refused")]

    answers = board.find("answer")
    assert [a.fields["result"] for a in answers] == ["accepted", "already", "refused"]
    assert answers[2].fields["reason"] == "unknown_card"

    ledger = kiosk.ledger()
    try:
        rosters = {r.session.class_session_id: r for r in ledger.class_rosters()}
        entry = next(e for e in rosters[CLASS_ID].signed_in if e.member_id == STUDENT.member_id)
        assert entry.station_id == STATION
        signins = [e for e in ledger.journal_events() if e.kind == "class_signin"]
        assert len(signins) == 1
        assert signins[0].station is not None and signins[0].station.station_id == STATION
        summary = ledger.member_summary(STUDENT.member_id)
        assert summary is not None and summary.passes[0].sessions_used == 3  # 2 seeded + 1
    finally:
        ledger.close()
    assert STUDENT2.member_id not in {e.member_id for e in rosters[CLASS_ID].signed_in}

    # The kiosk's own screen: the staff roster names the door the student came through.
    login = httpx.post(f"{kiosk.ui_url}/api/staff/login", json={"pin": STAFF_PIN}, timeout=10)
    token = login.json()["token"]
    roster = httpx.get(
        f"{kiosk.ui_url}/api/staff/roster", headers={"X-Staff-Session": token}, timeout=10
    ).json()
    [yoga] = [c for c in roster["classes"] if c["class_session_id"] == CLASS_ID]
    assert [(s["member_id"], s["station_id"]) for s in yoga["signed_in"]] == [
        (STUDENT.member_id, STATION)
    ]


def test_taps_while_the_kiosk_is_away_are_kept_then_handed_over_once(
    kiosk: KioskProcess, chip: PtyChip, make_board: BoardFactory
) -> None:
    # The kiosk is not running yet: the station cannot reach it.
    board = make_board(station_config(kiosk, buffer_size=2), chip.path)
    board.wait_for("reader_ok")
    assert tap(board, chip, STUDENT.card) == [("saved", "saved")]
    assert tap(board, chip, STUDENT2.card) == [("saved", "saved")]
    assert tap(board, chip, UNKNOWN_CARD) == [("full", "full")]  # buffer of 2: not kept
    assert [e.fields["no"] for e in board.find("tap_saved")] != []
    assert len(board.find("tap_not_kept")) == 1

    kiosk.start()
    handed = board.wait_for("answer", count=2, timeout=60)
    assert {e.fields["result"] for e in handed} == {"accepted"}
    board.wait_for("handed_over", timeout=10)

    ledger = kiosk.ledger()
    try:
        signins = [e for e in ledger.journal_events() if e.kind == "class_signin"]
        assert sorted(e.member_id for e in signins) == sorted(
            [STUDENT.member_id, STUDENT2.member_id]
        )
        for event in signins:
            assert event.station is not None and event.station.read_ms < event.hlc_ms
        roster = {r.session.class_session_id: r for r in ledger.class_rosters()}
        assert {e.station_id for e in roster[CLASS_ID].signed_in} == {STATION}
        # The full buffer's tap was never kept, so it is nowhere (the student saw "full").
        assert not [e for e in ledger.journal_events() if e.kind == "rejected"]
    finally:
        ledger.close()

    # A live tap after the handover answers at once, and the same student is not charged twice.
    assert tap(board, chip, STUDENT.card) == [("already", "already")]


def test_the_kiosk_heartbeat_carries_station_health_and_refusals(
    kiosk: KioskProcess, chip: PtyChip, make_board: BoardFactory, broker: Broker
) -> None:
    heartbeats: list[Heartbeat] = []
    topic = topics.kiosk_topic(kiosk.kiosk_id, Channel.HEARTBEAT)
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id="test-heartbeat-reader",  # the shipped broker config refuses empty ids
        protocol=mqtt.MQTTv5,
    )

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        message = decode(msg.payload)
        if isinstance(message, Heartbeat):
            heartbeats.append(message)

    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.subscribe(topic, qos=0)
    client.loop_start()
    try:
        kiosk.start()
        board = make_board(station_config(kiosk), chip.path)
        board.wait_for("kiosk_reachable")
        assert tap(board, chip, STUDENT.card) == [("accepted", "accepted")]

        # A second board with the same id but not the enrolled key: refused, shown, counted.
        with PtyChip() as other_chip:
            impostor = make_board(station_config(kiosk, key="5a" * 32), other_chip.path)
            impostor.wait_for("kiosk_unreachable", kind="auth_refused")
            mark = impostor.mark()
            other_chip.place_uid(STUDENT2.card)
            impostor.wait_for("signal", after=mark)
            lights = impostor.wait_lights_done(mark)
            assert [(n, e.meaning()) for n, e in lights] == [("auth", "auth")]

        def station() -> StationStatus | None:
            for beat in reversed(heartbeats):
                status = beat.stations.get(STATION)
                if status is not None and status.taps_accepted and status.refused_requests:
                    return status
            return None

        deadline = time.monotonic() + 20
        while station() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        status = station()
        assert status is not None, heartbeats[-1:] if heartbeats else "no heartbeat"
        assert status.room == ROOM and status.fw == "0.1.0" and status.reader == "ok"
        assert status.last_seen_ms is not None and status.taps_accepted == 1
        assert status.refused_requests >= 1 and status.buffered == 0
    finally:
        client.loop_stop()
        client.disconnect()
