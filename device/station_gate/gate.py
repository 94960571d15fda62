"""One station request in, one answer out: authenticate, refuse replays, decide the taps.

The order of the checks is the security argument: nothing in a request is used before its
MAC is checked with the key of the station it names, and no tap is decided before the
request's number has been recorded as above every number heard from that station (so a
recorded request replayed later is refused, ``replayed``, even across a kiosk restart).

=================  ======  ======  =====================================================
refusal            status  signed  when
=================  ======  ======  =====================================================
too_large          413     no      body over ``MAX_BODY_BYTES``
bad_request        400     no      not a JSON object naming a ``station_id``
unknown_station    401     no      the id is not enrolled at this kiosk
bad_mac            401     no      MAC missing or wrong: forged, or the station's key
                                   differs from the kiosk's (it cannot sign for the station)
bad_request        400     yes     authentic but malformed (firmware and kiosk disagree)
replayed           409     yes     number not above the last one heard; carries ``hwm``
=================  ======  ======  =====================================================

Every refusal is logged with the station and counted in its health. An error while
deciding answers 500 unsigned: the station keeps its taps and hands them over again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ValidationError

from device.ledger import LedgerStorageFull, StationTapOutcome
from device.station_gate.book import StationBook
from device.station_gate.settings import StationEnrollment
from shared.events import StationRef
from shared.station_wire import (
    ANSWER_DOMAIN,
    MAX_BODY_BYTES,
    REQUEST_DOMAIN,
    TAPS_PATH,
    HelloAnswer,
    HelloRequest,
    RefusalCode,
    StationRefusal,
    TapAnswer,
    TapsAnswer,
    TapsRequest,
    mac,
    mac_ok,
)

log = logging.getLogger(__name__)

_MESSAGES: dict[RefusalCode, tuple[str, str]] = {
    "too_large": ("请求过大。", "The request is too large."),
    "bad_request": (
        "请求格式不对，请更新门禁读卡器固件。",
        "The request is malformed; update the station's firmware.",
    ),
    "unknown_station": (
        "此读卡器未在本机登记，请用 tapfleet station enroll 登记。",
        "This station is not enrolled at this kiosk; enrol it with `tapfleet station enroll`.",
    ),
    "bad_mac": (
        "签名不对：读卡器的密钥与本机登记的不一致。",
        "Bad signature: the station's key differs from the one enrolled at this kiosk.",
    ),
    "replayed": (
        "请求编号已用过（重放或读卡器计数落后）。",
        "Request number already used (a replay, or the station's counter is behind).",
    ),
}


class StationTaps(Protocol):
    """Where authenticated taps go (``device.tap_service.TapService``)."""

    def on_station_tap(self, uid: str, station: StationRef, room: str | None) -> StationTapOutcome:
        """Decide one station tap through the kiosk's ledger path."""
        ...

    def now_ms(self) -> int:
        """The kiosk's trusted time (coordinator-anchored)."""
        ...

    def accept_station_number(self, station_id: str, number: int) -> int | None:
        """Record the request number if new; else the highest heard (see the ledger)."""
        ...


@dataclass(frozen=True)
class GateAnswer:
    """An HTTP answer: status, JSON body and the MAC header (None when unsigned)."""

    status: int
    body: bytes
    mac: str | None = None


class StationGate:
    """Checks and answers station requests for the enrolled stations."""

    def __init__(
        self, enrolled: Sequence[StationEnrollment], taps: StationTaps, book: StationBook
    ) -> None:
        self._stations: Mapping[str, StationEnrollment] = {s.station_id: s for s in enrolled}
        self._taps = taps
        self.book = book

    def handle(self, path: str, body: bytes, given_mac: str | None) -> GateAnswer:
        """Answer one request to ``path`` (``TAPS_PATH`` or ``HELLO_PATH``)."""
        if len(body) > MAX_BODY_BYTES:
            return self._refuse(None, "too_large", 413, f"{len(body)} bytes")
        try:
            loose = json.loads(body)
        except ValueError:
            loose = None
        station_id = loose.get("station_id") if isinstance(loose, dict) else None
        if not isinstance(station_id, str):
            return self._refuse(None, "bad_request", 400, "no station_id in a JSON object")
        station = self._stations.get(station_id)
        if station is None:
            return self._refuse(None, "unknown_station", 401, f"station {station_id[:64]!r}")
        key = station.key_bytes
        if not mac_ok(key, REQUEST_DOMAIN, path, body, given_mac):
            return self._refuse(station, "bad_mac", 401, "forged, or the key differs")
        model: type[BaseModel] = TapsRequest if path == TAPS_PATH else HelloRequest
        try:
            request = model.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            number = loose.get("n") if isinstance(loose.get("n"), int) else None
            return self._refuse(
                station, "bad_request", 400, f"{where}: {first['msg']}", number, path=path
            )
        assert isinstance(request, TapsRequest | HelloRequest)
        try:
            seen = self._taps.accept_station_number(station_id, request.n)
        except LedgerStorageFull:
            log.error("station %s: disk full, request %d not accepted", station_id, request.n)
            return GateAnswer(507, b'{"code": "storage_full"}')
        if seen is not None:
            return self._refuse(
                station, "replayed", 409, f"n {request.n} <= {seen}", request.n, seen, path
            )
        now = self._taps.now_ms()
        if isinstance(request, HelloRequest):
            self.book.hello(request, now)
            return self._signed(station, path, 200, HelloAnswer(n=request.n))
        self.book.heard(station_id, now, request.fw)
        results = []
        for tap in request.taps:
            ref = StationRef(station_id=station_id, tap_no=tap.no, read_ms=max(0, now - tap.age_ms))
            decided = self._taps.on_station_tap(tap.uid, ref, station.room)
            verdict = decided.verdict
            if not decided.duplicate:
                self.book.tap(station_id, verdict.verdict == "accepted")
            log.info(
                "station %s tap %d card %s: %s%s%s",
                station_id,
                tap.no,
                tap.uid,
                verdict.verdict,
                f" ({verdict.reason})" if verdict.reason else "",
                " [handed over again]" if decided.duplicate else "",
            )
            results.append(
                TapAnswer(
                    no=tap.no,
                    result=verdict.verdict,
                    reason=verdict.reason,
                    action=verdict.action,
                    duplicate=decided.duplicate,
                )
            )
        return self._signed(station, path, 200, TapsAnswer(n=request.n, results=tuple(results)))

    def _signed(
        self, station: StationEnrollment, path: str, status: int, answer: BaseModel
    ) -> GateAnswer:
        body = answer.model_dump_json().encode()
        return GateAnswer(status, body, mac(station.key_bytes, ANSWER_DOMAIN, path, body))

    def _refuse(
        self,
        station: StationEnrollment | None,
        code: RefusalCode,
        status: int,
        detail: str,
        number: int | None = None,
        hwm: int | None = None,
        path: str = "",
    ) -> GateAnswer:
        who = station.station_id if station is not None else "unknown"
        log.warning("station request refused (%s) from %s: %s", code, who, detail)
        self.book.refused(station.station_id if station is not None else None)
        zh, en = _MESSAGES[code]
        refusal = StationRefusal(code=code, message_zh=zh, message_en=en, n=number, hwm=hwm)
        body = refusal.model_dump_json().encode()
        if station is not None and path:
            # Authentic requests get a signed refusal: the station may act on it (a signed
            # "replayed" moves its counter past ``hwm``); unsigned ones it only shows.
            return GateAnswer(status, body, mac(station.key_bytes, ANSWER_DOMAIN, path, body))
        return GateAnswer(status, body)
