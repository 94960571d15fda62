"""The signed protocol between a door station and its kiosk (kiosk side; pure, no IO).

A station is an input of its kiosk, not a ledger: it POSTs compact JSON to the kiosk's
station endpoint, and the kiosk decides. Each request carries the station id, a number ``n``
that must be above every number the kiosk has seen from that station (replay protection),
and the header ``X-Tapfleet-Mac``: the hex HMAC-SHA256, under the station's enrolled key,
of ``REQUEST_DOMAIN + path + "\\n" + body``. The kiosk signs its answers with
``ANSWER_DOMAIN`` and repeats ``n`` in them, so the station can trust a green light and a
"recorded" answer for a buffered tap. The firmware mirrors this module in MicroPython
(``device/station/tapstation/wire.py``); shared test vectors keep the two in step.

Taps carry their own number ``no`` (from the same counter, given when the card was read):
the kiosk records each (station, no) once, so a tap handed over twice (the answer was lost)
is answered from the record and never counted twice.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from shared.model import CardUid, Count, Frozen, Id, Text

REQUEST_DOMAIN = b"tapfleet-station-v1 request\n"
ANSWER_DOMAIN = b"tapfleet-station-v1 answer\n"
MAC_HEADER = "X-Tapfleet-Mac"
TAPS_PATH = "/station/v1/taps"
HELLO_PATH = "/station/v1/hello"
MAX_BODY_BYTES = 4096
MAX_TAPS = 16
MAX_AGE_MS = 7 * 86_400_000
"""Oldest buffered tap a station may hand over (its ``ticks_ms`` differences stay exact for
about six days; the kiosk judges such a tap at the time it was read)."""
KEY_BYTES = 32

Number = Annotated[int, Field(ge=1, le=2**53)]
ErrorName = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,20}$")]


def mac(key: bytes, domain: bytes, path: str, body: bytes) -> str:
    """The hex MAC of a request (``REQUEST_DOMAIN``) or an answer (``ANSWER_DOMAIN``)."""
    return hmac.new(key, domain + path.encode() + b"\n" + body, hashlib.sha256).hexdigest()


def mac_ok(key: bytes, domain: bytes, path: str, body: bytes, given: str | None) -> bool:
    """True when ``given`` is the MAC of ``body`` (compared in constant time)."""
    if not given:
        return False
    return hmac.compare_digest(mac(key, domain, path, body), given.strip().lower())


class StationTapIn(Frozen):
    """One card read at the door."""

    no: Number
    """The tap's own number (unique per station, given when the card was read)."""
    uid: CardUid
    age_ms: Annotated[int, Field(ge=0, le=MAX_AGE_MS)] = 0
    """How long ago the card was read (0 for a live tap; more for a buffered one)."""


class TapsRequest(Frozen):
    """One or more taps, oldest first."""

    station_id: Id
    n: Number
    fw: Annotated[str, StringConstraints(max_length=24)] = ""
    taps: Annotated[tuple[StationTapIn, ...], Field(min_length=1, max_length=MAX_TAPS)]


class HelloRequest(Frozen):
    """The station's health, sent every 30 s (and as the probe while the kiosk was away)."""

    station_id: Id
    n: Number
    fw: Annotated[str, StringConstraints(max_length=24)] = ""
    uptime_s: Count = 0
    buffered: Count = 0
    dropped: Count = 0
    """Taps not kept because the buffer was full."""
    taps: Count = 0
    reader: Literal["ok", "fault"] = "ok"
    reader_detail: Annotated[str, StringConstraints(max_length=80)] = ""
    reset_cause: Annotated[str, StringConstraints(max_length=20)] = ""
    errors: Annotated[dict[ErrorName, Count], Field(max_length=16)] = {}


TapVerdict = Literal["accepted", "already", "refused"]


class TapAnswer(Frozen):
    """What the kiosk decided for one tap (what the station's light shows)."""

    no: Number
    result: TapVerdict
    reason: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")] | None = None
    """The refusal's machine code (also for ``already``), for the station's display."""
    action: Literal["class_signin", "checkin"] | None = None
    duplicate: bool = False
    """This tap was recorded before (handed over again): answered from the record."""


class TapsAnswer(Frozen):
    """The answers, one per tap, in the request's order."""

    n: Number
    results: tuple[TapAnswer, ...]


class HelloAnswer(Frozen):
    """The kiosk heard the station."""

    n: Number
    ok: bool = True


RefusalCode = Literal["unknown_station", "bad_mac", "replayed", "bad_request", "too_large"]


class StationRefusal(Frozen):
    """A request the kiosk did not accept at all (no tap in it was looked at)."""

    code: RefusalCode
    message_zh: Text
    message_en: Text
    n: int | None = None
    hwm: int | None = None
    """For ``replayed`` (signed): the highest number the kiosk has seen from the station."""
