"""HTTP/1.0 to the kiosk over a plain socket, with a deadline on every step.

MicroPython's ``requests`` has no overall timeout and resolves names through DNS, which
can block; this client takes the kiosk's IP address from the config, gives each request one
deadline (connect, send and receive together) and reads at most ``MAX_ANSWER`` bytes. It
signs each request and checks the answer's MAC and number before anything else reads it.

Outcomes: a verified answer (dict); ``KioskUnreachable`` (no connection, timeout, reset);
``BadAnswer`` (not HTTP, not JSON, wrong MAC or number: the kiosk may have recorded the taps,
so they are kept and handed over again; the kiosk recognises them by their numbers);
``Refused`` (the kiosk does not accept this station: 401 unknown station or wrong key, or a
signed 409 when the request number is not above the last one it saw).
"""

import json
import socket
import time

from micropython import const

from tapstation.wire import ANSWER_DOMAIN, MAC_HEADER, REQUEST_DOMAIN, mac, mac_ok

MAX_ANSWER = const(4096)


class KioskUnreachable(Exception):
    """No answer from the kiosk (network, kiosk down, timeout)."""


class BadAnswer(Exception):
    """The kiosk's answer could not be trusted or parsed."""


class Refused(Exception):
    """The kiosk refused the request itself (not a tap): ``code`` says why.

    ``hwm`` is set on a signed ``replayed`` answer: the highest request number the kiosk has
    seen from this station.
    """

    def __init__(self, code: str, status: int, hwm: int | None = None) -> None:
        super().__init__("kiosk refused the request: {} (HTTP {})".format(code, status))
        self.code = code
        self.status = status
        self.hwm = hwm


class KioskClient:
    """Signed requests to one kiosk."""

    def __init__(self, host: str, port: int, key: bytes, timeout_ms: int = 1500) -> None:
        self.host = host
        self.port = port
        self._key = key
        self.timeout_ms = timeout_ms
        self.last_ms = 0
        """Duration of the last request that got an answer."""

    def post(self, path: str, n: int, body: bytes) -> dict[str, object]:
        """POST ``body`` to ``path``; the verified answer (see the module docstring)."""
        start = time.ticks_ms()
        deadline = time.ticks_add(start, self.timeout_ms)
        raw = self._exchange(path, body, deadline)
        status, headers, payload = _split(raw)
        given = headers.get(MAC_HEADER.lower())
        signed = given is not None and mac_ok(self._key, ANSWER_DOMAIN, path, payload, given)
        try:
            answer = json.loads(payload)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise BadAnswer("HTTP {} with a body that is not a JSON object".format(status))
        if status in (400, 401, 413) and not signed:
            raise Refused(str(answer.get("code", "refused")), status)
        if not signed:
            raise BadAnswer("HTTP {} answer without a valid MAC".format(status))
        if answer.get("n") != n:
            raise BadAnswer("answer for request {} while {} was sent".format(answer.get("n"), n))
        if status == 409:
            hwm = answer.get("hwm")
            raise Refused("replayed", status, hwm if isinstance(hwm, int) else None)
        if status != 200:
            raise Refused(str(answer.get("code", "refused")), status)
        self.last_ms = time.ticks_diff(time.ticks_ms(), start)
        return answer

    def _exchange(self, path: str, body: bytes, deadline: int) -> bytes:
        head = (
            "POST {} HTTP/1.0\r\nHost: {}:{}\r\nContent-Type: application/json\r\n"
            "Content-Length: {}\r\n{}: {}\r\nConnection: close\r\n\r\n"
        ).format(
            path,
            self.host,
            self.port,
            len(body),
            MAC_HEADER,
            mac(self._key, REQUEST_DOMAIN, path, body),
        )
        sock = socket.socket()
        try:
            try:
                sock.settimeout(_left_s(deadline))
                sock.connect(socket.getaddrinfo(self.host, self.port)[0][-1])
                sock.settimeout(_left_s(deadline))
                sock.sendall(head.encode() + body)
                raw = b""
                while len(raw) <= MAX_ANSWER:
                    sock.settimeout(_left_s(deadline))
                    chunk = sock.recv(512)
                    if not chunk:
                        break
                    raw += chunk
            except OSError as exc:
                raise KioskUnreachable("kiosk {}:{}: {}".format(self.host, self.port, exc))
        finally:
            sock.close()
        if len(raw) > MAX_ANSWER:
            raise BadAnswer("answer longer than {} bytes".format(MAX_ANSWER))
        if not raw:
            raise KioskUnreachable(
                "kiosk {}:{} closed without answering".format(self.host, self.port)
            )
        return raw


def _left_s(deadline: int) -> float:
    left = time.ticks_diff(deadline, time.ticks_ms())
    if left <= 0:
        raise OSError(110, "ETIMEDOUT")
    return left / 1000


def _split(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, lower-cased headers and body of an HTTP answer; BadAnswer if it is not one."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        raise BadAnswer("answer is not HTTP (no end of headers)")
    try:
        lines = raw[:end].decode().split("\r\n")
    except UnicodeError:
        raise BadAnswer("answer headers are not text")
    parts = lines[0].split(" ")
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise BadAnswer("answer is not HTTP (status line {!r})".format(lines[0][:40]))
    try:
        status = int(parts[1])
    except ValueError:
        raise BadAnswer("answer has no numeric status")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, raw[end + 4 :]
