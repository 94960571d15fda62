"""A door station end to end: the real firmware under MicroPython, a real kiosk process.

Parts: the station firmware built with mpy-cross and run by the MicroPython unix port with
the simulated board on MICROPYPATH; its UART a pty with the PN532 simulator behind it; the
kiosk a ``tapfleet kiosk`` process on its seeded SQLite ledger, linked to a real Mosquitto.
What is checked is what people see: the LED and buzzer at the door, the kiosk's roster and
journal, and the station's health in the kiosk's heartbeat on the broker.
"""

from __future__ import annotations

import time

from simulators.pn532 import PtyChip
from simulators.station import StationBoard
from tests.kiosk.seed import CLASS_ID, STUDENT, STUDENT2, UNKNOWN_CARD
from tests.station.conftest import BoardFactory, station_config
from tests.station.kiosk_process import STATION, KioskProcess

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
