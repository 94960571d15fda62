"""Station transport: signed HTTP straight to the kiosk (chosen) against MQTT via the broker.

Both sides run the station's side in the MicroPython unix port and end in the same kiosk
code: ``StationGate.handle`` on a real kiosk ledger (SQLite, the request number written with
fsync), so only the transport differs.

* HTTP (Tapfleet): the firmware's own ``KioskClient`` (one TCP connection per request,
  HTTP/1.0) to the kiosk's station endpoint (``device.station_gate.server``, uvicorn).
* MQTT (baseline): a station client sending the same packets ``umqtt.simple`` sends (CONNECT,
  SUBSCRIBE, PUBLISH QoS 0 on one kept connection: ``umqtt`` itself is not installable from
  PyPI) through a real Mosquitto with the project's config to a paho client on the kiosk
  side that answers through the same gate.

Latency: ``hello`` round trips timed inside MicroPython (``ticks_us``). Robustness: the
middle part is restarted once (the kiosk's endpoint for HTTP, the broker for MQTT), the
station reconnects like ``umqtt.robust`` does (a new CONNECT, no new SUBSCRIBE: its
subscriptions are gone) and the requests left without an answer in the next 20 are counted.

The structural point the figures sit next to: the kiosk's broker is the coordinator's (often
off-site); over MQTT a door would go dark with the store's internet, over the LAN it does not.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

from bench.common import Result, emit, ms, parse_args, percentile, progress, work_dir

NAME = "station_transport"
STATION = "st-transport"
KEY = "4d" * 8 + "6f8a0b2c3d5e7f91" * 3
REQ = "tapfleet-bench/station/req"
RESP = "tapfleet-bench/station/resp"

MP_CODE = r"""
import json, socket, sys, time
from tapstation import wire
from tapstation.kiosk import KioskClient, KioskUnreachable, BadAnswer, Refused

KEY = bytes.fromhex(%(key)r)
N = %(n)d
AFTER = %(after)d
n = [int(sys.argv[2])]

def body():
    n[0] += 1
    return n[0], wire.hello_body(%(station)r, n[0], "0.1.0", {})

def http_round(client):
    number, b = body()
    t = time.ticks_us()
    client.post(wire.HELLO_PATH, number, b)
    return time.ticks_diff(time.ticks_us(), t)

def enc(b):
    return bytes((len(b) >> 8, len(b) & 255)) + b

def remlen(x):
    out = b""
    while True:
        byte = x & 127
        x >>= 7
        out += bytes((byte | 128 if x else byte,))
        if not x:
            return out

def read_exact(s, k):
    got = b""
    while len(got) < k:
        chunk = s.recv(k - len(got))
        if not chunk:
            raise OSError("closed")
        got += chunk
    return got

def mqtt_connect(port, subscribe):
    s = socket.socket()
    s.settimeout(1)
    s.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    var = enc(b"MQTT") + b"\x04\x02\x00\x3c"
    payload = enc(b"station-bench")
    s.sendall(b"\x10" + remlen(len(var) + len(payload)) + var + payload)
    if read_exact(s, 4)[:2] != b"\x20\x02":
        raise OSError("no CONNACK")
    if subscribe:
        topic = enc(%(resp)r.encode())
        s.sendall(b"\x82" + remlen(2 + len(topic) + 1) + b"\x00\x01" + topic + b"\x00")
        read_exact(s, 5)
    return s

def read_publish(s):
    while True:
        head = read_exact(s, 1)[0]
        length, shift = 0, 0
        while True:
            byte = read_exact(s, 1)[0]
            length |= (byte & 127) << shift
            shift += 7
            if not byte & 128:
                break
        data = read_exact(s, length)
        if head >> 4 == 3:
            tlen = data[0] << 8 | data[1]
            return data[2 + tlen:]

def mqtt_round(s):
    number, b = body()
    signature = wire.mac(KEY, wire.REQUEST_DOMAIN, wire.HELLO_PATH, b)
    msg = json.dumps({"mac": signature, "body": b.decode()}).encode()
    topic = enc(%(req)r.encode())
    t = time.ticks_us()
    s.sendall(b"\x30" + remlen(len(topic) + len(msg)) + topic + msg)
    answer = json.loads(read_publish(s))
    reply = answer["body"].encode()
    if not wire.mac_ok(KEY, wire.ANSWER_DOMAIN, wire.HELLO_PATH, reply, answer["mac"]):
        raise ValueError("bad answer MAC")
    return time.ticks_diff(time.ticks_us(), t)

mode = sys.argv[1]
out = {"lat": [], "lost": 0}
if mode == "http":
    client = KioskClient("127.0.0.1", %(http_port)d, KEY, 1500)
    for _ in range(N):
        out["lat"].append(http_round(client))
else:
    s = mqtt_connect(%(mqtt_port)d, True)
    for _ in range(N):
        out["lat"].append(mqtt_round(s))
print(json.dumps(out))
print("RESTART")
sys.stdin.readline()
for _ in range(AFTER):
    try:
        if mode == "http":
            http_round(client)
        else:
            try:
                mqtt_round(s)
            except OSError:
                s = mqtt_connect(%(mqtt_port)d, False)  # umqtt.robust: reconnect, no resubscribe
                mqtt_round(s)
    except (OSError, KioskUnreachable, BadAnswer, Refused, ValueError):
        out["lost"] += 1
        time.sleep_ms(100)
print(json.dumps(out))
"""


def run(rounds: int, after: int, keep: bool) -> Result:
    """``rounds`` hellos over each transport, then the restart test."""
    import paho.mqtt.client as mqtt

    from device.ledger import KioskLedger
    from device.ports import SystemClock
    from device.sessions import MemberSessions, StaffSessions
    from device.station_gate import StationBook, StationEnrollment, StationGate
    from device.station_gate.server import station_server
    from device.station_tools import FIRMWARE_DIR
    from device.tap_service import TapService
    from device.ui.hub import EventHub
    from shared.station_wire import HELLO_PATH
    from simulators.broker import start_broker
    from simulators.ports import free_tcp_port
    from simulators.station.board import SIM_BOARD_DIR, micropython_binary

    with work_dir(NAME, keep) as folder:
        clock = SystemClock()
        ledger = KioskLedger.open(folder / "ledger.db", kiosk_id="k", store_id="s", clock=clock)
        service = TapService(
            ledger,
            EventHub(),
            clock=clock,
            member_sessions=MemberSessions(clock, 45),
            staff_sessions=StaffSessions(
                clock,
                pin_hash=None,
                staff_id="s",
                cards=(),
                idle_s=60,
                max_attempts=3,
                lockout_s=60,
            ),
        )
        enrolled = [StationEnrollment(station_id=STATION, key=KEY)]
        gate = StationGate(enrolled, service, StationBook([(STATION, None)]))
        http_port = free_tcp_port()
        server = station_server(gate, "127.0.0.1", http_port)
        server.start()
        broker = start_broker(folder)
        responder = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="kiosk-responder"
        )

        def answer(_c: object, _u: object, msg: Any) -> None:
            request = json.loads(msg.payload)
            reply = gate.handle(HELLO_PATH, request["body"].encode(), request["mac"])
            responder.publish(RESP, json.dumps({"body": reply.body.decode(), "mac": reply.mac}))

        def subscribe(client: Any, *_a: object) -> None:
            client.subscribe(REQ)

        responder.on_message = answer
        responder.on_connect = subscribe
        responder.connect(broker.host, broker.port)
        responder.loop_start()
        time.sleep(0.5)
        results: dict[str, Any] = {}
        try:
            for mode in ("http", "mqtt"):
                code = MP_CODE % {
                    "key": KEY,
                    "after": after,
                    "n": rounds,
                    "station": STATION,
                    "resp": RESP,
                    "req": REQ,
                    "http_port": http_port,
                    "mqtt_port": broker.port,
                }
                proc = subprocess.Popen(
                    # Each run numbers its requests above the other's: the gate refuses repeats.
                    [micropython_binary(), "-c", code, mode, str(0 if mode == "http" else 10**6)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    env={"MICROPYPATH": f"{FIRMWARE_DIR}:{SIM_BOARD_DIR}"},
                )
                assert proc.stdin is not None and proc.stdout is not None
                line = proc.stdout.readline()
                if not line.startswith("{"):
                    raise RuntimeError(f"{mode} station side failed: {line}{proc.stdout.read()}")
                first = json.loads(line)
                line = proc.stdout.readline()
                if line.strip() != "RESTART":
                    raise RuntimeError(f"{mode} station side failed: {line}{proc.stdout.read()}")
                if mode == "http":
                    server.stop()
                    server = station_server(gate, "127.0.0.1", http_port)
                    server.start()
                else:
                    broker.restart()
                    time.sleep(1.0)  # paho (the kiosk side) reconnects and resubscribes
                proc.stdin.write("\n")
                proc.stdin.flush()
                second = json.loads(proc.stdout.readline())
                proc.wait(30)
                results[mode] = {"lat": [x / 1e6 for x in first["lat"]], "lost": second["lost"]}
                progress(NAME, f"{mode}: {rounds} rounds, {second['lost']} lost after restart")
        finally:
            responder.loop_stop()
            server.stop()
            broker.stop()
            ledger.close()

    h, m = results["http"], results["mqtt"]
    h50, h99 = percentile(h["lat"], 50), percentile(h["lat"], 99)
    m50, m99 = percentile(m["lat"], 50), percentile(m["lat"], 99)
    return Result(
        name=NAME,
        tapfleet=(
            f"HTTP to the kiosk p50 {ms(h50)} p99 {ms(h99)}, {h['lost']} of {after} lost after "
            f"the kiosk endpoint restarted ({rounds} signed hellos, MicroPython)"
        ),
        baseline=(
            f"MQTT via Mosquitto p50 {ms(m50)} p99 {ms(m99)}, {m['lost']} of {after} lost after "
            "the broker restarted (umqtt.robust-style reconnect)"
        ),
        ratio=h50 / m50,
        target="HTTP p50 <= MQTT p50 + 10 ms and no answer lost after a restart",
        passed=h50 <= m50 + 0.010 and h["lost"] == 0,
    )


def main() -> None:
    """Entry point."""
    args = parse_args(__doc__ or NAME)
    emit(run(rounds=5 if args.quick else 300, after=3 if args.quick else 20, keep=args.keep))


if __name__ == "__main__":
    main()
