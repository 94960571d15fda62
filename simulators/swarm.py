"""A light kiosk swarm: thousands of simulated kiosks in one process, on one asyncio loop.

Each :class:`LightKiosk` is a real paho-mqtt 2.x client (MQTT v5, client id = kiosk id,
last will ``offline``) whose socket is driven by the asyncio loop (paho's external-loop
callbacks: ``on_socket_open`` / ``register_write`` ...), so one process holds thousands of
connections without a thread each. A kiosk speaks the real protocol (``shared.protocol``
codec, ``shared.topics`` tree): birth status, a sync request on connect, heartbeats, a mix
of check-ins, class sign-ins and points redemptions as one-event batches (an online kiosk
sends each tap at once), resends from the coordinator's ``resend_from``, and it subscribes
to its acks, its direct channel, its store's and the fleet's pushes. What it leaves out:
decisions (it records what a busy store would) and a durable ledger; pushes are read only
for their type and version (``orjson``), not validated, which would make the simulator, not
the coordinator, the bottleneck.

Run as a process, it takes commands on stdin and answers on stdout, one JSON object a line::

    python -m simulators.swarm --port 1883 --spec spec.json
    {"cmd": "watch", "what": "rules", "version": 3}            -> {"reached": ..., "at": t}
    {"cmd": "watch", "what": "members", "store": "s001", "above": 7}
    {"cmd": "probe", "topic": "tapfleet/v1/fleet/down"}        -> {"probe": ..., "at": t}
    {"cmd": "stats"}                                           -> {"stats": {...}}
    {"cmd": "stop"}

``at`` is ``time.time()`` when the last kiosk of the watch got it (the swarm processes and
the benchmark share the machine's clock).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import random
import resource
import socket
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from shared import topics
from shared.events import (
    CheckIn,
    ClassSignIn,
    CredentialKind,
    CredentialRef,
    Event,
    EventBody,
    PointsRedeem,
)
from shared.protocol import EventBatch, Heartbeat, Status, SyncRequest, Versions, encode
from shared.topics import Channel

log = logging.getLogger(__name__)

PROBE = b'{"type":"probe"}'
"""A payload the swarm recognises on a push topic: the raw baseline of a push's reach."""


@dataclass
class KioskSpec:
    """One simulated kiosk: who it is and what it claims to hold when it connects."""

    kiosk_id: str
    store_id: str
    members: list[str]
    """Member ids of its store (the taps pick among them)."""
    versions: Versions = field(default_factory=Versions)
    last_seq: int = 0


@dataclass
class Mix:
    """What the kiosks do and how often (per kiosk)."""

    heartbeat_s: float = 10.0
    event_every_s: float = 30.0
    """Mean time between two taps at one kiosk (exponential gaps)."""
    checkin: float = 0.7
    signin: float = 0.2
    """The rest are points redemptions."""
    class_session_id: str = "yoga-now"
    pass_id: str = "p-punch"
    reward_id: str = "water"
    reward_points: int = 20


class LightKiosk:
    """One simulated kiosk on the swarm's loop."""

    def __init__(self, spec: KioskSpec, mix: Mix, rng: random.Random) -> None:
        self.spec = spec
        self.mix = mix
        self.rng = rng
        self.seq = spec.last_seq
        self.acked_seq = spec.last_seq
        self.unacked: dict[int, bytes] = {}
        self.versions = {
            "rules": spec.versions.rules,
            "members": spec.versions.members,
            "deny": spec.versions.deny,
        }
        self.got: dict[str, float] = {}
        """When the newest version of each kind arrived (``time.time()``)."""
        self.probe_at: float | None = None
        self.connected = False
        self.disconnects = 0
        self.resends = 0
        self.events_topic = topics.kiosk_topic(spec.kiosk_id, Channel.EVENTS)
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=spec.kiosk_id, protocol=mqtt.MQTTv5
        )
        client.will_set(
            topics.kiosk_topic(spec.kiosk_id, Channel.STATUS),
            encode(Status(kiosk_id=spec.kiosk_id, state="offline")),
            qos=1,
            retain=True,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self.client = client

    # -- connection ----------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, *_args: Any) -> None:
        self.connected = True
        spec = self.spec
        client.subscribe(
            [(t, q) for t, q in topics.kiosk_subscriptions(spec.kiosk_id, spec.store_id)]
        )
        now = _now_ms()
        client.publish(
            topics.kiosk_topic(spec.kiosk_id, Channel.STATUS),
            encode(Status(kiosk_id=spec.kiosk_id, state="online", at_ms=now)),
            qos=1,
            retain=True,
        )
        client.publish(
            topics.kiosk_topic(spec.kiosk_id, Channel.SYNC),
            encode(
                SyncRequest(
                    kiosk_id=spec.kiosk_id,
                    store_id=spec.store_id,
                    versions=Versions(**self.versions),
                    last_seq=self.seq,
                )
            ),
            qos=1,
        )

    def _on_disconnect(self, *_args: Any) -> None:
        if self.connected:
            self.disconnects += 1
        self.connected = False

    def _on_message(self, _client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        payload = msg.payload
        if payload == PROBE:
            self.probe_at = time.time()
            return
        try:
            head = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        kind = head.get("type")
        if kind == "ack":
            self._on_ack(int(head.get("acked_seq", 0)), head.get("resend_from"))
        elif kind == "rules":
            self._note("rules", int(head.get("bundle", {}).get("version", 0)))
        elif kind == "members":
            self._note("members", int(head.get("version", 0)))
        elif kind == "deny":
            self._note("deny", int(head.get("version", 0)))

    def _note(self, kind: str, version: int) -> None:
        if version > self.versions[kind]:
            self.versions[kind] = version
            self.got[kind] = time.time()

    def _on_ack(self, acked: int, resend_from: int | None) -> None:
        if acked > self.acked_seq:
            for seq in range(self.acked_seq + 1, acked + 1):
                self.unacked.pop(seq, None)
            self.acked_seq = acked
        if resend_from is not None:
            for seq in sorted(s for s in self.unacked if s >= int(resend_from)):
                self.resends += 1
                self.client.publish(self.events_topic, self.unacked[seq], qos=1)

    # -- what a kiosk sends --------------------------------------------------------------------

    def tap(self) -> None:
        """Record and publish one event of the mix (a one-event batch)."""
        if not self.connected:
            return
        mix, rng, spec = self.mix, self.rng, self.spec
        roll = rng.random()
        body: EventBody
        if roll < mix.checkin:
            body = CheckIn(points=10)
        elif roll < mix.checkin + mix.signin:
            body = ClassSignIn(
                class_session_id=mix.class_session_id, class_type="yoga", pass_id=mix.pass_id
            )
        else:
            body = PointsRedeem(points=mix.reward_points, reward_id=mix.reward_id)
        now = _now_ms()
        member = rng.choice(spec.members)
        uid = hashlib.blake2b(member.encode(), digest_size=7).hexdigest().upper()
        event = Event(
            event_id=uuid.uuid4().hex,
            kiosk_id=spec.kiosk_id,
            store_id=spec.store_id,
            seq=self.seq + 1,
            hlc_ms=now,
            hlc_c=0,
            wall_ms=now,
            member_id=member,
            rules_version=max(1, self.versions["rules"]),
            credential=CredentialRef(kind=CredentialKind.CARD, uid=uid),
            body=body,
        )
        payload = encode(EventBatch(kiosk_id=spec.kiosk_id, events=(event,)))
        self.seq += 1
        self.unacked[self.seq] = payload
        self.client.publish(self.events_topic, payload, qos=1)

    def heartbeat(self, started: float) -> None:
        """Publish a heartbeat (QoS 0)."""
        if not self.connected:
            return
        now = _now_ms()
        beat = Heartbeat(
            kiosk_id=self.spec.kiosk_id,
            store_id=self.spec.store_id,
            sent_wall_ms=now,
            hlc_ms=now,
            interval_s=max(1, round(self.mix.heartbeat_s)),
            uptime_s=int(time.monotonic() - started),
            last_seq=self.seq,
            acked_seq=self.acked_seq,
            outbox_depth=len(self.unacked),
            versions=Versions(**self.versions),
        )
        self.client.publish(
            topics.kiosk_topic(self.spec.kiosk_id, Channel.HEARTBEAT), encode(beat), qos=0
        )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Swarm:
    """Many light kiosks on one asyncio loop: paho's sockets driven by the loop."""

    def __init__(
        self,
        specs: list[KioskSpec],
        mix: Mix,
        host: str,
        port: int,
        *,
        seed: int = 1,
        connect_per_s: float = 500.0,
    ) -> None:
        rng = random.Random(seed)
        self.kiosks = [LightKiosk(s, mix, random.Random(rng.random())) for s in specs]
        self.mix = mix
        self.host = host
        self.port = port
        self.connect_per_s = connect_per_s
        self.started = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.errors = 0
        """Failed taps and heartbeats (each logged on stderr)."""

    # -- paho on asyncio ----------------------------------------------------------------------

    def _attach(self, kiosk: LightKiosk) -> None:
        loop = self._loop
        assert loop is not None
        client = kiosk.client

        def opened(c: mqtt.Client, _u: object, sock: Any) -> None:
            loop.add_reader(sock, c.loop_read)
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)

        def closed(_c: mqtt.Client, _u: object, sock: Any) -> None:
            loop.remove_reader(sock)
            loop.remove_writer(sock)

        def want_write(c: mqtt.Client, _u: object, sock: Any) -> None:
            loop.add_writer(sock, c.loop_write)

        def done_write(_c: mqtt.Client, _u: object, sock: Any) -> None:
            loop.remove_writer(sock)

        client.on_socket_open = opened
        client.on_socket_close = closed
        client.on_socket_register_write = want_write
        client.on_socket_unregister_write = done_write

    async def start(self) -> None:
        """Connect every kiosk (at ``connect_per_s``) and start their timers."""
        self._loop = asyncio.get_running_loop()
        gap = 1.0 / self.connect_per_s
        for kiosk in self.kiosks:
            self._attach(kiosk)
            kiosk.client.connect(self.host, self.port, keepalive=60, clean_start=True)
            await asyncio.sleep(gap)
        self._tasks = [
            asyncio.create_task(self._misc()),
            asyncio.create_task(self._every(self.mix.heartbeat_s, self._heartbeats)),
            asyncio.create_task(self._taps()),
        ]

    async def _misc(self) -> None:
        while True:
            for kiosk in self.kiosks:
                if kiosk.client.loop_misc() != mqtt.MQTT_ERR_SUCCESS:
                    with contextlib.suppress(OSError):
                        kiosk.client.reconnect()
            await asyncio.sleep(1.0)

    async def _every(self, period: float, action: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(period)
            action()

    def _heartbeats(self) -> None:
        for kiosk in self.kiosks:
            self._isolated(kiosk, "heartbeat", lambda k=kiosk: k.heartbeat(self.started))

    def _isolated(self, kiosk: LightKiosk, what: str, action: Callable[[], None]) -> None:
        """One kiosk's failure is logged with context and counted; the swarm goes on."""
        try:
            action()
        except Exception:
            self.errors += 1
            log.exception("simulated kiosk %s: %s failed", kiosk.spec.kiosk_id, what)

    async def _taps(self) -> None:
        """Poisson taps over the whole swarm: rate = kiosks / event_every_s (0: paused)."""
        rng = random.Random(7)
        while True:
            if self.mix.event_every_s <= 0:  # paused (the mix may change while running)
                await asyncio.sleep(0.1)
                continue
            await asyncio.sleep(rng.expovariate(len(self.kiosks) / self.mix.event_every_s))
            kiosk = rng.choice(self.kiosks)
            self._isolated(kiosk, "tap", kiosk.tap)

    async def stop(self) -> None:
        """Cancel the timers and disconnect every kiosk (its will stays unsent)."""
        for task in self._tasks:
            task.cancel()
        for kiosk in self.kiosks:
            with contextlib.suppress(Exception):
                kiosk.client.disconnect()
        await asyncio.sleep(0.2)

    # -- what the benchmark asks -------------------------------------------------------------

    def watch(self, what: str, version: int, store: str | None = None) -> float | None:
        """When the last kiosk (of ``store``) got ``what`` at ``version`` or above (None:
        not all yet)."""
        times = []
        for kiosk in self.kiosks:
            if store is not None and kiosk.spec.store_id != store:
                continue
            if kiosk.versions[what] < version:
                return None
            times.append(kiosk.got.get(what, 0.0))
        return max(times, default=0.0)

    def probe(self) -> float | None:
        """When the last kiosk got the raw probe (None: not all yet)."""
        if any(k.probe_at is None for k in self.kiosks):
            return None
        return max(k.probe_at or 0.0 for k in self.kiosks)

    def stats(self) -> dict[str, int]:
        """Counts over the swarm."""
        return {
            "kiosks": len(self.kiosks),
            "connected": sum(k.connected for k in self.kiosks),
            "sent": sum(k.seq - k.spec.last_seq for k in self.kiosks),
            "acked": sum(k.acked_seq - k.spec.last_seq for k in self.kiosks),
            "unacked": sum(len(k.unacked) for k in self.kiosks),
            "resends": sum(k.resends for k in self.kiosks),
            "disconnects": sum(k.disconnects for k in self.kiosks),
            "errors": self.errors,
        }


def raise_file_limit() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it);
    returns the new soft limit. Only the process, never the machine's settings."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return int(target)
    return int(soft)


async def _serve(swarm: Swarm) -> None:
    """Read commands from stdin, answer on stdout, until ``stop``."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await swarm.start()
    _say({"ready": swarm.stats()})
    pending: set[asyncio.Task[None]] = set()
    while line := await reader.readline():
        command = json.loads(line)
        cmd = command.get("cmd")
        if cmd == "stop":
            break
        if cmd == "stats":
            _say({"stats": swarm.stats()})
        elif cmd == "watch":
            pending.add(asyncio.create_task(_watch(swarm, command)))
        elif cmd == "probe":
            pending.add(asyncio.create_task(_until(command, swarm.probe)))
        pending = {task for task in pending if not task.done()}
    for task in pending:
        task.cancel()
    await swarm.stop()


async def _watch(swarm: Swarm, command: dict[str, Any]) -> None:
    what, store = command["what"], command.get("store")
    version = int(command.get("version", 0)) or int(command.get("above", 0)) + 1
    await _until(command, lambda: swarm.watch(what, version, store))


async def _until(command: dict[str, Any], check: Callable[[], float | None]) -> None:
    deadline = time.monotonic() + float(command.get("timeout_s", 600))
    while (at := check()) is None:
        if time.monotonic() > deadline:
            _say({"timeout": command})
            return
        await asyncio.sleep(0.05)
    _say({"reached": command, "at": at})


def _say(answer: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """``python -m simulators.swarm --port P --spec FILE``: a swarm process."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--spec", type=Path, required=True, help="JSON: kiosks and mix")
    args = parser.parse_args(argv)
    raise_file_limit()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    data = json.loads(args.spec.read_text(encoding="utf-8"))
    specs = [
        KioskSpec(
            kiosk_id=k["kiosk_id"],
            store_id=k["store_id"],
            members=k["members"],
            versions=Versions(**k.get("versions", {})),
            last_seq=int(k.get("last_seq", 0)),
        )
        for k in data["kiosks"]
    ]
    swarm = Swarm(specs, Mix(**data.get("mix", {})), args.host, args.port, seed=data.get("seed", 1))
    asyncio.run(_serve(swarm))
    return 0


if __name__ == "__main__":
    sys.exit(main())
