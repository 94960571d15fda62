"""Bad input at the door, each with its defined outcome (firmware under real MicroPython).

* From the chip (the PN532 simulator behind a pty, speaking the real frames): a garbled
  frame (data checksum) and a truncated one are chip errors, a UID of the wrong length is
  refused as ``bad_uid``, a card pulled away mid-read is ``unreadable``; none becomes a tap,
  and at the station the student sees "tap again".
* From the network: a kiosk answer that is not HTTP, not JSON, unsigned, signed with the
  wrong key or for another request is ``BadAnswer`` (the tap stays buffered); an unsigned
  401 is ``Refused`` (this station is not accepted); a signed 409 carries the kiosk's
  highest number so the station can move its counter past it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest

from device.station_tools import FIRMWARE_DIR
from shared.station_wire import ANSWER_DOMAIN, TAPS_PATH, mac
from simulators.nfc.profiles import NTAG215
from simulators.nfc.type2 import Type2Card
from simulators.pn532 import PtyChip, TornCard
from simulators.ports import free_tcp_port
from simulators.station.board import SIM_BOARD_DIR, micropython_binary
from tests.station.conftest import BoardFactory
from tests.station.kiosk_process import KEY, STATION
from tests.station.mp import run_mp_json

UID = "04A1B2C3D4E5F6"

DETECT = """
import json, machine
from tapstation.pn532 import Pn532, ChipError
from tapstation.reader import Pn532Reader, ReadProblem
reader = Pn532Reader(Pn532(machine.UART(1, baudrate=115200, timeout=20, timeout_char=5)))
reader.start()
try:
    print(json.dumps(["card", reader.detect()]))
except ReadProblem as p:
    print(json.dumps([p.kind, p.detail]))
except ChipError as e:
    print(json.dumps([type(e).__name__, str(e)]))
"""


def detect(chip: PtyChip) -> list[str]:
    """What the firmware's reader makes of the chip's field right now."""
    result: list[str] = run_mp_json(DETECT, env={"TAPFLEET_SIM_UART1": chip.path})
    return result


def test_a_good_card_is_read(chip: PtyChip) -> None:
    chip.place_uid(UID)
    assert detect(chip) == ["card", UID]


def test_garbled_and_truncated_frames(chip: PtyChip) -> None:
    chip.place_uid(UID)
    code = """
import json, machine
from tapstation.pn532 import Pn532, ChipError, FrameError
from tapstation.reader import Pn532Reader
reader = Pn532Reader(Pn532(machine.UART(1, baudrate=115200, timeout=20, timeout_char=5)))
reader.start()
print("ready")
import sys
out = []
for _ in range(3):
    sys.stdin.readline()
    try:
        out.append(["card", reader.detect()])
    except FrameError as e:
        out.append(["FrameError", str(e)])
    except ChipError as e:
        out.append([type(e).__name__, str(e)])
print(json.dumps(out))
"""
    proc = subprocess.Popen(
        [micropython_binary(), "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "MICROPYPATH": f"{FIRMWARE_DIR}:{SIM_BOARD_DIR}",
            "TAPFLEET_SIM_UART1": chip.path,
        },
    )
    assert proc.stdin is not None and proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    for fault in ("garble", "truncate", None):
        if fault == "garble":
            chip.faults.garble_answers = 1
        elif fault == "truncate":
            chip.faults.truncate_answers = 1
        proc.stdin.write("\n")
        proc.stdin.flush()
    out, _ = proc.communicate(timeout=30)
    results = json.loads(out.strip().splitlines()[-1])
    assert results[0] == ["FrameError", "data checksum wrong"]
    assert results[1][0] == "FrameError" and "cut short" in results[1][1]
    assert results[2] == ["card", UID]  # the driver recovers on the next poll


def test_a_uid_of_the_wrong_length_is_refused(chip: PtyChip) -> None:
    chip.place_uid(UID)
    chip.faults.uid_length = 5
    kind, detail = detect(chip)
    assert kind == "bad_uid" and "5 bytes" in detail


def test_a_card_pulled_away_mid_read_is_unreadable(chip: PtyChip) -> None:
    chip.place(TornCard(Type2Card(NTAG215, bytes.fromhex(UID), None)))
    kind, detail = detect(chip)
    assert kind == "unreadable" and "left before it was read" in detail


def test_a_mute_chip_times_out(chip: PtyChip) -> None:
    chip.faults.mute = True
    code = """
import json, machine
from tapstation.pn532 import Pn532, ChipError
try:
    Pn532(machine.UART(1, baudrate=115200, timeout=20, timeout_char=5)).begin()
    print(json.dumps("started"))
except ChipError as e:
    print(json.dumps([type(e).__name__, str(e)]))
"""
    assert run_mp_json(code, env={"TAPFLEET_SIM_UART1": chip.path}) == [
        "ChipTimeout",
        "no answer from the chip in time",
    ]


@pytest.mark.parametrize("fault", ["uid_length", "torn"])
def test_the_station_asks_to_tap_again_and_sends_nothing(
    chip: PtyChip, make_board: BoardFactory, fault: str
) -> None:
    config = {
        "station_id": STATION,
        "key": KEY,
        "kiosk": {"host": "127.0.0.1", "port": free_tcp_port()},  # nobody listens
        "wifi": {"ssid": "store"},
    }
    board = make_board(config, chip.path)
    board.wait_for("reader_ok")
    mark = board.mark()
    if fault == "uid_length":
        chip.faults.uid_length = 5
        chip.place_uid(UID)
    else:
        chip.place(TornCard(Type2Card(NTAG215, bytes.fromhex(UID), None)))
    board.wait_for("read_problem", after=mark)
    lights = board.wait_lights_done(mark)
    chip.lift()
    assert [(name, episode.meaning()) for name, episode in lights][:1] == [("again", "again")]
    assert not board.find("tap_saved", after=mark)
    assert not board.find("answer", after=mark)


# --- answers from the network ------------------------------------------------------------------


@pytest.fixture
def fake_kiosk() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server that answers each connection with the next canned raw answer.

    Not a kiosk: it plays the network delivering a damaged or hostile answer, which a real
    kiosk never sends.
    """
    answers: list[bytes] = []
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if answers:
                    conn.sendall(answers.pop(0))
                else:
                    stop.wait(3)  # hold the connection open and say nothing

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], answers
    stop.set()
    thread.join(2)
    server.close()


def http(status: int, body: bytes, sign_with: bytes | None = None, path: str = TAPS_PATH) -> bytes:
    """A raw HTTP answer, signed with ``sign_with`` when given."""
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
    if sign_with is not None:
        head += f"X-Tapfleet-Mac: {mac(sign_with, ANSWER_DOMAIN, path, body)}\r\n"
    return head.encode() + b"\r\n" + body


KEY_BYTES = bytes.fromhex(KEY)
GOOD = json.dumps({"n": 5, "results": []}).encode()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"garbage without headers", ["BadAnswer", "not HTTP"]),
        (b"SSH-2.0-OpenSSH\r\n\r\n", ["BadAnswer", "not HTTP"]),
        (http(200, b"<html>busy</html>", KEY_BYTES), ["BadAnswer", "not a JSON object"]),
        (http(200, GOOD), ["BadAnswer", "without a valid MAC"]),
        (http(200, GOOD, b"\x01" * 32), ["BadAnswer", "without a valid MAC"]),
        (
            http(200, json.dumps({"n": 4, "results": []}).encode(), KEY_BYTES),
            ["BadAnswer", "answer for request 4 while 5 was sent"],
        ),
        (http(401, b'{"code": "bad_mac"}'), ["Refused", "bad_mac", 401, None]),
        (
            http(409, json.dumps({"code": "replayed", "n": 5, "hwm": 77}).encode(), KEY_BYTES),
            ["Refused", "replayed", 409, 77],
        ),
        (http(200, GOOD, KEY_BYTES), ["ok", {"n": 5, "results": []}]),
    ],
)
def test_kiosk_answers_are_trusted_only_when_signed_and_for_this_request(
    fake_kiosk: tuple[int, list[bytes]], raw: bytes, expected: list[object]
) -> None:
    port, answers = fake_kiosk
    answers.append(raw)
    code = f"""
import json
from tapstation.kiosk import KioskClient, BadAnswer, KioskUnreachable, Refused
client = KioskClient("127.0.0.1", {port}, {KEY_BYTES!r}, 2000)
try:
    print(json.dumps(["ok", client.post("/station/v1/taps", 5, b'{{}}')]))
except BadAnswer as e:
    print(json.dumps(["BadAnswer", str(e)]))
except Refused as e:
    print(json.dumps(["Refused", e.code, e.status, e.hwm]))
except KioskUnreachable as e:
    print(json.dumps(["KioskUnreachable", str(e)]))
"""
    out = run_mp_json(code)
    if expected[0] == "BadAnswer":
        assert out[0] == "BadAnswer" and str(expected[1]) in out[1], out
    else:
        assert out == expected


def test_a_kiosk_that_does_not_answer_is_unreachable_within_the_deadline(
    fake_kiosk: tuple[int, list[bytes]],
) -> None:
    port, _answers = fake_kiosk  # accepts, then says nothing
    code = f"""
import json, time
from tapstation.kiosk import KioskClient, KioskUnreachable
client = KioskClient("127.0.0.1", {port}, b"k" * 32, 500)
start = time.ticks_ms()
try:
    client.post("/station/v1/hello", 1, b"{{}}")
    print(json.dumps("answered"))
except KioskUnreachable as e:
    print(json.dumps(time.ticks_diff(time.ticks_ms(), start) < 1500))
"""
    assert run_mp_json(code) is True


def test_a_silent_chip_is_a_reader_fault_until_it_answers_again(
    chip: PtyChip, make_board: BoardFactory
) -> None:
    chip.faults.mute = True  # no power to the PN532, or a broken wire
    config = {
        "station_id": STATION,
        "key": KEY,
        "kiosk": {"host": "127.0.0.1", "port": free_tcp_port()},
        "wifi": {"ssid": "store"},
    }
    board = make_board(config, chip.path)
    [fault] = board.wait_for("reader_fault")
    assert "no answer from the chip" in fault.line
    lights = board.wait_lights_done(fault.index)
    assert [(name, episode.meaning()) for name, episode in lights][:1] == [("fault", "fault")]
    chip.faults.mute = False
    board.wait_for("reader_ok", after=fault.index, timeout=20)  # retried with backoff
    mark = board.mark()
    chip.place_uid(UID)
    board.wait_for("tap_saved", after=mark)  # read again; the kiosk is away, so kept
