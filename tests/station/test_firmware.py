"""The firmware's modules under the real MicroPython unix port (no CPython stand-in).

Each test runs MicroPython code against the firmware's source and checks what it printed,
often against the kiosk's CPython implementation of the same rule (MACs, request bodies),
so the two sides of the station protocol cannot drift apart.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from shared.station_wire import (
    ANSWER_DOMAIN,
    REQUEST_DOMAIN,
    HelloRequest,
    TapsRequest,
    mac,
)
from simulators.station.board import micropython_binary
from tests.station.mp import run_mp, run_mp_json


def test_the_micropython_unix_port_is_installed_and_is_micropython() -> None:
    # Fails (never skips) without the binary: `make setup` installs it from the test extras.
    out = subprocess.run(
        [micropython_binary(), "-c", "import sys; print(sys.implementation.name)"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert out.stdout.strip() == "micropython"


@pytest.mark.parametrize("key_len", [1, 32, 64, 100])
def test_hmac_and_request_macs_match_the_kiosks(key_len: int) -> None:
    key = bytes((i * 7 + key_len) & 0xFF for i in range(key_len))
    body = json.dumps({"station_id": "st-1", "n": 7, "taps": []}).encode()
    code = f"""
import json, binascii
from tapstation.hmac256 import hmac_sha256
from tapstation import wire
key = {key!r}
body = {body!r}
print(json.dumps([
    binascii.hexlify(hmac_sha256(key, body)).decode(),
    wire.mac(key, wire.REQUEST_DOMAIN, wire.TAPS_PATH, body),
    wire.mac(key, wire.ANSWER_DOMAIN, wire.HELLO_PATH, body),
    wire.mac_ok(key, wire.ANSWER_DOMAIN, wire.HELLO_PATH, body,
                wire.mac(key, wire.ANSWER_DOMAIN, wire.HELLO_PATH, body)),
    wire.mac_ok(key, wire.ANSWER_DOMAIN, wire.HELLO_PATH, body + b" ",
                wire.mac(key, wire.ANSWER_DOMAIN, wire.HELLO_PATH, body)),
    wire.mac_ok(key, wire.ANSWER_DOMAIN, wire.HELLO_PATH, body, "not hex"),
]))
"""
    import hashlib
    import hmac

    plain, request, answer, good, tampered, garbage = run_mp_json(code)
    assert plain == hmac.new(key, body, hashlib.sha256).hexdigest()
    assert request == mac(key, REQUEST_DOMAIN, "/station/v1/taps", body)
    assert answer == mac(key, ANSWER_DOMAIN, "/station/v1/hello", body)
    assert (good, tampered, garbage) == (True, False, False)


def test_the_firmwares_request_bodies_are_what_the_kiosk_accepts() -> None:
    code = """
import json
from tapstation import wire
from tapstation.station import ERROR_KINDS
entries = [(39, "04A1B2C3D4E5F6", 120000), (40, "0A0B0C0D", 0)]
taps = wire.taps_body("st-studio-a", 41, "0.1.0", entries)
health = {"uptime_s": 5, "buffered": 2, "dropped": 1, "taps": 9, "reader": "ok",
          "reader_detail": "PN532 v1.6", "reset_cause": "watchdog",
          "errors": {k: 1 for k in ERROR_KINDS}}
hello = wire.hello_body("st-studio-a", 42, "0.1.0", health)
print(json.dumps([taps.decode(), hello.decode()]))
"""
    taps, hello = run_mp_json(code)
    request = TapsRequest.model_validate_json(taps)
    assert [(t.no, t.uid, t.age_ms) for t in request.taps] == [
        (39, "04A1B2C3D4E5F6", 120000),
        (40, "0A0B0C0D", 0),
    ]
    health = HelloRequest.model_validate_json(hello)
    assert health.n == 42 and health.reset_cause == "watchdog" and health.errors["chip"] == 1


def test_a_full_buffer_refuses_the_new_tap_and_keeps_the_old_ones() -> None:
    code = """
import json
from tapstation.buffer import TapBuffer
b = TapBuffer(2)
out = [b.add(1, "A", 0), b.add(2, "B", 0), b.add(3, "C", 0), len(b), b.dropped]
b.remove([1])
out += [b.add(4, "D", 0), [e[0] for e in b.head(5)]]
mapping = b.renumber(100)
out += [sorted(mapping.items()), [e[0] for e in b.head(5)]]
print(json.dumps(out))
"""
    assert run_mp_json(code) == [
        True,
        True,
        False,
        2,
        1,
        True,
        [2, 4],
        [[2, 100], [4, 101]],
        [100, 101],
    ]


def test_the_counter_never_repeats_across_reboots(tmp_path: Path) -> None:
    code = """
import json
from tapstation.counter import Counter
c = Counter("counter.json", block=4)
first = c.load()
taken = [c.take() for _ in range(6)]
saved = json.load(open("counter.json"))["next"]
again = Counter("counter.json", block=4)
after_reboot = again.load()
again.jump_past(50)
jumped = again.take()
broken = Counter("no/such/dir/counter.json", block=2)
broken.load() if False else None
values = [broken.take() for _ in range(5)]
print(json.dumps([first, taken, saved, after_reboot, jumped, values, broken.write_errors > 0]))
"""
    first, taken, saved, after_reboot, jumped, values, errors = run_mp_json(code, cwd=str(tmp_path))
    assert first == 1 and taken == [1, 2, 3, 4, 5, 6]
    assert saved == 9  # blocks of 4 reserved ahead: 1-4, then 5-8, then 9-12
    assert after_reboot == 9 > max(taken)
    assert jumped == 51
    assert values == [1, 2, 3, 4, 5] and errors  # the flash failed: still counts, and says so


def test_one_tap_per_hold() -> None:
    code = """
import json
from tapstation.debounce import TapDebouncer
d = TapDebouncer(500)
out = [d.seen("A", 0), d.seen("A", 40)]
d.nothing(80)
out.append(d.seen("A", 300))   # back within the rearm window: the same tap
d.nothing(400)
out.append(d.seen("A", 1200))  # away longer: a new tap
out.append(d.seen("B", 1240))  # another card: a new tap
print(json.dumps(out))
"""
    assert run_mp_json(code) == [True, False, False, True, True]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "config.json not found"),
        ("{not json", "not valid JSON"),
        ('{"station_id": "st 1"}', "station_id must be"),
        ('{"station_id": "st-1", "key": "abc"}', "key must be the 64 hex digits"),
        (
            '{"station_id": "st-1", "key": "' + "ab" * 32 + '", "kiosk": {"host": "kiosk.lan"}}',
            "kiosk.host must be the kiosk's IPv4 address",
        ),
        (
            '{"station_id": "st-1", "key": "'
            + "ab" * 32
            + '", "kiosk": {"host": "10.0.0.2"}, "wifi": {"ssid": "s"}, "buffer_size": 0}',
            "buffer_size must be a whole number from 1 to 2000",
        ),
    ],
)
def test_config_errors_name_the_field_and_the_fix(
    tmp_path: Path, content: str | None, message: str
) -> None:
    if content is not None:
        (tmp_path / "config.json").write_text(content, encoding="utf-8")
    code = """
from tapstation.config import ConfigError, load
try:
    load("config.json")
    print("loaded")
except ConfigError as exc:
    print(exc)
"""
    assert message in run_mp(code, cwd=str(tmp_path))


def test_a_valid_config_loads_with_defaults(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "station_id": "st-1",
                "key": "ab" * 32,
                "kiosk": {"host": "192.168.1.20"},
                "wifi": {"ssid": "store", "password": "pw"},
            }
        ),
        encoding="utf-8",
    )
    code = """
import json
from tapstation.config import load
c = load("config.json")
print(json.dumps([c.kiosk_port, c.nfc_uart, c.nfc_tx, c.nfc_rx, c.pins, c.buffer_size, len(c.key)]))
"""
    port, uart, tx, rx, pins, size, key_len = run_mp_json(code, cwd=str(tmp_path))
    assert (port, uart, tx, rx, size, key_len) == (8470, 1, 17, 16, 200, 32)
    assert pins == {"red": 25, "green": 26, "blue": 27, "buzzer": 14}
