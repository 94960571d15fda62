"""The door station's state machine: read, debounce, ask the kiosk, show the answer, buffer.

One ``step`` does one round and returns within bounded time (one chip poll, at most one
kiosk request with its deadline), so the main loop can feed the watchdog between steps.

States (docs/station.md draws them)::

    reader:  STARTING --ok--> READY --3 chip errors--> FAULT --backoff--> STARTING
    link:    UNKNOWN --answer--> UP --no answer--> DOWN --backoff, hand over--> UP

A tap gets the next number from the persistent counter and goes into the buffer. When the
link is not DOWN it is sent at once, alone, and its answer is shown (accepted / already /
refused). When the kiosk cannot be reached the tap stays in the buffer (``saved``); a full
buffer refuses it (``full``). Buffered taps are handed over oldest first, up to
``wire.MAX_TAPS`` per request, with their age, and leave the buffer only once the kiosk has
answered for them; a repeat of a tap it already recorded is answered from its records, so
nothing is counted twice.
"""

import time

from tapstation import FIRMWARE_VERSION
from tapstation.backoff import Backoff
from tapstation.buffer import TapBuffer
from tapstation.counter import Counter
from tapstation.debounce import TapDebouncer
from tapstation.kiosk import BadAnswer, KioskClient, KioskUnreachable, Refused
from tapstation.pn532 import ChipError
from tapstation.reader import ReadProblem
from tapstation.signals import Signals
from tapstation.wire import HELLO_PATH, MAX_TAPS, TAPS_PATH, hello_body, taps_body

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tapstation.ports import CardReader
    from tapstation.wifi import Wifi

RESULT_SIGNALS = {"accepted": "accepted", "already": "already", "refused": "refused"}
CHIP_FAILURES_FOR_FAULT = 3
ERROR_KINDS = ("chip", "unreadable", "bad_uid", "kiosk", "bad_answer", "auth", "replayed", "loop")


def log(event: str, **fields: object) -> None:
    """One log line: ``tapstation: <event> key=value ...`` (the serial console in the field)."""
    parts = ["tapstation:", event]
    for name in sorted(fields):
        parts.append("{}={}".format(name, fields[name]))
    print(" ".join(parts))


class Station:
    """A door station; build it with its parts (``board`` does on a real board)."""

    def __init__(
        self,
        station_id: str,
        reader: "CardReader",
        kiosk: KioskClient,
        signals: Signals,
        counter: Counter,
        buffer: TapBuffer,
        wifi: "Wifi | None" = None,
        hello_every_ms: int = 30000,
        reset_cause: str = "",
    ) -> None:
        self.station_id = station_id
        self.reader = reader
        self.kiosk = kiosk
        self.signals = signals
        self.counter = counter
        self.buffer = buffer
        self.wifi = wifi
        self.hello_every_ms = hello_every_ms
        self.reset_cause = reset_cause
        self.debouncer = TapDebouncer()
        self.errors = {kind: 0 for kind in ERROR_KINDS}
        self.reader_ok = False
        self.reader_detail = "starting"
        self._reader_backoff = Backoff(500, 10000)
        self._chip_failures = 0
        self.link_up: bool | None = None
        self.refused_by_kiosk = ""
        """The kiosk's refusal code while it does not accept this station (401)."""
        self._link_backoff = Backoff(500, 30000)
        self._last_hello: int | None = None
        self._started = time.ticks_ms()
        self.taps = 0

    # --- reader ------------------------------------------------------------------------

    def start_reader(self, now: int) -> bool:
        """Set the chip up; on failure show ``fault`` and retry later with backoff."""
        try:
            self.reader_detail = self.reader.start()
        except ChipError as exc:
            self.errors["chip"] += 1
            self.reader_ok = False
            self.reader_detail = str(exc)
            wait = self._reader_backoff.failed(now)
            log("reader_fault", detail=exc, retry_ms=wait)
            self.signals.play("fault")
            return False
        self.reader_ok = True
        self._chip_failures = 0
        self._reader_backoff.reset(now)
        log("reader_ok", chip=self.reader_detail)
        return True

    def _poll_reader(self, now: int) -> None:
        if not self.reader_ok:
            if self._reader_backoff.due(now):
                self.start_reader(now)
            return
        try:
            uid = self.reader.detect()
        except ReadProblem as problem:
            self.errors[problem.kind] += 1
            self._chip_failures = 0
            log("read_problem", kind=problem.kind, detail=problem.detail)
            if self.debouncer.present is None and self.signals.current != "again":
                self.signals.play("again")
            return
        except ChipError as exc:
            self.errors["chip"] += 1
            self._chip_failures += 1
            log("chip_error", detail=exc, in_a_row=self._chip_failures)
            if self._chip_failures >= CHIP_FAILURES_FOR_FAULT:
                self.reader_ok = False
                self.reader_detail = str(exc)
                wait = self._reader_backoff.failed(now)
                log("reader_fault", detail=exc, retry_ms=wait)
                self.signals.play("fault")
            return
        self._chip_failures = 0
        if uid is None:
            self.debouncer.nothing(now)
        elif self.debouncer.seen(uid, now):
            self._tap(uid, now)

    # --- taps --------------------------------------------------------------------------

    def _tap(self, uid: str, now: int) -> None:
        no = self.counter.take()
        self.taps += 1
        if not self.buffer.add(no, uid, now):
            log("tap_not_kept", no=no, uid=uid, reason="buffer_full", size=len(self.buffer))
            self.signals.play("full")
            return
        if self.link_up is False and not self._link_backoff.due(now):
            log("tap_saved", no=no, uid=uid, buffered=len(self.buffer))
            # The kiosk refused this station itself: say so (staff must fix the enrolment).
            self.signals.play("auth" if self.refused_by_kiosk else "saved", self.refused_by_kiosk)
            return
        if not self._send([(no, uid, now)], now, live=no) and self.signals.current != "auth":
            log("tap_saved", no=no, uid=uid, buffered=len(self.buffer))
            self.signals.play("saved")

    def _send(self, entries: list[tuple[int, str, int]], now: int, live: int = 0) -> bool:
        """Send these buffered taps; True when the kiosk answered for them."""
        n = self.counter.take()
        body = taps_body(
            self.station_id,
            n,
            FIRMWARE_VERSION,
            [(no, uid, max(0, time.ticks_diff(now, at))) for no, uid, at in entries],
        )
        try:
            answer = self.kiosk.post(TAPS_PATH, n, body)
            results = _results(answer, [no for no, _uid, _at in entries])
        except KioskUnreachable as exc:
            self._link_failed(now, "kiosk", exc)
            return False
        except BadAnswer as exc:
            self._link_failed(now, "bad_answer", exc)
            return False
        except Refused as exc:
            return self._refused(exc, entries, now, live)
        self._link_ok(now)
        self.buffer.remove([r[0] for r in results])
        for no, result, reason, duplicate in results:
            log(
                "answer",
                no=no,
                result=result,
                reason=reason,
                duplicate=duplicate,
                ms=self.kiosk.last_ms,
            )
            if no == live:
                self.signals.play(RESULT_SIGNALS[result], reason)
        return True

    def _refused(
        self, exc: Refused, entries: list[tuple[int, str, int]], now: int, live: int
    ) -> bool:
        if exc.code == "replayed" and exc.hwm is not None:
            # Our numbers are behind the kiosk's (counter file lost or reflashed). The answer
            # is signed, and a refused request recorded nothing: renumber and try once more.
            self.errors["replayed"] += 1
            self.counter.jump_past(exc.hwm)
            old = [no for no, _uid, _at in entries]
            mapping = self.buffer.renumber(self.counter.next)
            self.counter.jump_past(max(mapping.values()) if mapping else exc.hwm)
            log("counter_behind_kiosk", hwm=exc.hwm, next=self.counter.next)
            again = [(mapping.get(no, no), uid, at) for no, uid, at in entries]
            if [e[0] for e in again] == old:
                return False
            return self._send(again, now, mapping.get(live, 0))
        self.errors["auth"] += 1
        self.refused_by_kiosk = exc.code
        self._link_failed(now, "auth_refused", exc)
        if live:
            self.signals.play("auth", exc.code)
        return False

    # --- link --------------------------------------------------------------------------

    def _link_ok(self, now: int) -> None:
        if self.link_up is not True:
            log("kiosk_reachable", buffered=len(self.buffer))
        self.link_up = True
        self.refused_by_kiosk = ""
        self._link_backoff.reset(now)

    def _link_failed(self, now: int, kind: str, exc: Exception) -> None:
        if kind in self.errors:
            self.errors[kind] += 1
        wait = self._link_backoff.failed(now)
        if self.link_up is not False:
            log("kiosk_unreachable", kind=kind, detail=exc, retry_ms=wait)
        self.link_up = False

    def _hello(self, now: int) -> None:
        n = self.counter.take()
        body = hello_body(self.station_id, n, FIRMWARE_VERSION, self.health(now))
        try:
            self.kiosk.post(HELLO_PATH, n, body)
        except KioskUnreachable as exc:
            self._link_failed(now, "kiosk", exc)
            return
        except BadAnswer as exc:
            self._link_failed(now, "bad_answer", exc)
            return
        except Refused as exc:
            if exc.code == "replayed" and exc.hwm is not None:
                self.errors["replayed"] += 1
                self.counter.jump_past(exc.hwm)
                log("counter_behind_kiosk", hwm=exc.hwm, next=self.counter.next)
                return
            self.errors["auth"] += 1
            self.refused_by_kiosk = exc.code
            self._link_failed(now, "auth_refused", exc)
            return
        self._last_hello = now
        self._link_ok(now)

    def health(self, now: int) -> dict[str, object]:
        """What the hello request reports (the kiosk puts it in its heartbeat)."""
        return {
            "uptime_s": time.ticks_diff(now, self._started) // 1000,
            "buffered": len(self.buffer),
            "dropped": self.buffer.dropped,
            "taps": self.taps,
            "reader": "ok" if self.reader_ok else "fault",
            "reader_detail": self.reader_detail[:80],
            "reset_cause": self.reset_cause,
            "errors": self.errors,
        }

    def _uplink(self, now: int) -> None:
        if not self._link_backoff.due(now):
            return
        if len(self.buffer):
            if self._send(self.buffer.head(MAX_TAPS), now):
                log("handed_over", left=len(self.buffer))
            return
        due = (
            self._last_hello is None
            or self.link_up is not True
            or (time.ticks_diff(now, self._last_hello) >= self.hello_every_ms)
        )
        if due:
            self._hello(now)

    # --- the loop ------------------------------------------------------------------------

    def step(self, now: int) -> None:
        """One round: lights, Wi-Fi, one reader poll, and the kiosk when something is due."""
        self.signals.tick(now)
        online = self.wifi.tick(now) if self.wifi is not None else True
        self._poll_reader(now)
        if online:
            self._uplink(time.ticks_ms())
        self.signals.tick(time.ticks_ms())


def _results(answer: dict[str, object], sent: list[int]) -> list[tuple[int, str, str, bool]]:
    """(tap number, result, reason, duplicate) for each tap sent; BadAnswer if malformed."""
    results = answer.get("results")
    if not isinstance(results, list) or len(results) != len(sent):
        raise BadAnswer("answer does not hold one result per tap sent")
    out = []
    for item in results:
        if not isinstance(item, dict):
            raise BadAnswer("a tap result is not an object")
        no, result = item.get("no"), item.get("result")
        if no not in sent or result not in RESULT_SIGNALS:
            raise BadAnswer("tap result {!r} does not fit the taps sent".format(item))
        reason = item.get("reason")
        out.append((int(no), str(result), str(reason or ""), bool(item.get("duplicate"))))
    return out
