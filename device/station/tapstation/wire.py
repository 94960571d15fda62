"""The signed station protocol, station side (the kiosk side is ``shared.station_wire``).

Requests are HTTP POSTs of compact JSON to the kiosk; the header ``X-Tapfleet-Mac`` holds
the hex HMAC-SHA256, under the station's key, of ``REQUEST_DOMAIN + path + "\\n" + body``.
The kiosk signs its answers the same way with ``ANSWER_DOMAIN``, and every answer repeats
the request's number ``n``, so an answer cannot be forged or replayed to the station either.
Both sides share test vectors (``tests/station``), so they cannot drift apart.
"""

import binascii
import json

from tapstation.hmac256 import hmac_sha256, same

REQUEST_DOMAIN = b"tapfleet-station-v1 request\n"
ANSWER_DOMAIN = b"tapfleet-station-v1 answer\n"
MAC_HEADER = "X-Tapfleet-Mac"
TAPS_PATH = "/station/v1/taps"
HELLO_PATH = "/station/v1/hello"
MAX_TAPS = 16
"""Taps in one request (the kiosk refuses more)."""


def mac(key: bytes, domain: bytes, path: str, body: bytes) -> str:
    """The hex MAC of one request or answer body."""
    digest = hmac_sha256(key, domain + path.encode() + b"\n" + body)
    return binascii.hexlify(digest).decode()


def mac_ok(key: bytes, domain: bytes, path: str, body: bytes, given: str) -> bool:
    """True when ``given`` (hex) is the MAC of ``body``."""
    try:
        expected = binascii.unhexlify(mac(key, domain, path, body))
        return same(expected, binascii.unhexlify(given))
    except ValueError:
        return False


def taps_body(station_id: str, n: int, fw: str, taps: list[tuple[int, str, int]]) -> bytes:
    """The JSON of a taps request: ``taps`` are (tap number, UID, age in ms)."""
    return json.dumps(
        {
            "station_id": station_id,
            "n": n,
            "fw": fw,
            "taps": [{"no": no, "uid": uid, "age_ms": age} for no, uid, age in taps],
        }
    ).encode()


def hello_body(station_id: str, n: int, fw: str, health: dict[str, object]) -> bytes:
    """The JSON of a hello (health) request."""
    body: dict[str, object] = {"station_id": station_id, "n": n, "fw": fw}
    body.update(health)
    return json.dumps(body).encode()
