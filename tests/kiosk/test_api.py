"""The kiosk UI's JSON API and event stream, driven over HTTP against a running kiosk.

No browser here: these tests read the Server-Sent Events stream with httpx like the page
does, and check who may do what (member sessions bound to a tap, staff PIN and lockout).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from simulators.waiting import wait_until
from tests.kiosk.conftest import STAFF_PIN, KioskFactory, RunningKiosk
from tests.kiosk.seed import ANNA, BOB, STAFF_CARD, UNKNOWN_CARD


class EventStream:
    """Reads ``/api/events`` on a thread and keeps every event (name, data)."""

    def __init__(self, url: str) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._cv = threading.Condition()
        self._client = httpx.Client(timeout=httpx.Timeout(5.0, read=None))
        self._open = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self._thread.start()
        assert self._open.wait(10), "event stream did not open"

    def _run(self, url: str) -> None:
        name = "message"
        try:
            with self._client.stream("GET", url + "/api/events") as response:
                self._open.set()
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        with self._cv:
                            self.events.append((name, json.loads(line[6:])))
                            self._cv.notify_all()
        except httpx.HTTPError:
            pass  # closed by the test, or the server stopped

    def wait_for(
        self,
        kind: str,
        count: int = 1,
        timeout_s: float = 15.0,
        where: Callable[[dict[str, Any]], bool] = lambda data: True,
    ) -> dict[str, Any]:
        """The ``count``-th event of ``kind`` matching ``where`` (waits for it)."""

        def found() -> list[dict[str, Any]]:
            return [data for name, data in self.events if name == kind and where(data)]

        with self._cv:
            ok = self._cv.wait_for(lambda: len(found()) >= count, timeout_s)
        assert ok, f"no {count} '{kind}' events; got {[n for n, _ in self.events]}"
        return found()[count - 1]

    def close(self) -> None:
        """Stop reading."""
        self._client.close()
        self._thread.join(5)


@pytest.fixture
def kiosk(kiosk_factory: KioskFactory) -> RunningKiosk:
    """An offline kiosk with a udp card reader; the PIN pad locks after 3 wrong PINs."""
    return kiosk_factory(staff={"max_pin_attempts": 3, "lockout_s": 600})


@pytest.fixture
def stream(kiosk: RunningKiosk) -> Iterator[EventStream]:
    """The kiosk's event stream, as the page reads it."""
    s = EventStream(kiosk.url)
    try:
        yield s
    finally:
        kiosk.app.stop()  # ends the stream from the server side (stop is idempotent)
        s.close()


@pytest.fixture
def http(kiosk: RunningKiosk) -> Iterator[httpx.Client]:
    """An HTTP client for the kiosk UI."""
    with httpx.Client(base_url=kiosk.url, timeout=10) as client:
        yield client


def test_status_is_pushed_on_connect(stream: EventStream) -> None:
    status = stream.wait_for("status", where=lambda s: s["nfc"]["state"] != "starting")
    assert status["ready"] is True
    assert status["online"] is False  # nobody listens where this kiosk's link points
    assert status["nfc"]["state"] == "ok"
    assert status["camera"] is None


def test_member_session_is_bound_to_the_tap(
    kiosk: RunningKiosk, stream: EventStream, http: httpx.Client
) -> None:
    assert http.get("/api/member").status_code == 401
    refused = http.post("/api/member/redeem-points", json={"reward_id": "water"})
    assert refused.status_code == 401
    assert refused.json()["code"] == "member_session_expired"

    kiosk.tap(ANNA.card)
    tap = stream.wait_for("tap")
    assert tap["outcome"] == "accepted" and tap["member"]["display_name"] == "李*华"
    anna = {"X-Member-Session": tap["session_token"]}
    detail = http.get("/api/member", headers=anna).json()
    assert detail["member"]["display_name"] == "李*华"
    assert detail["member_id"] is None  # the screen never learns the id
    assert [r["reward_id"] for r in detail["rewards"]] == ["water", "towel", "mat"]
    # Each coupon shows its kind with its value (shared.model.CouponKindInfo.describe).
    words = {c["kind"]: (c["kind_zh"], c["kind_en"]) for c in detail["coupons"]}
    assert words == {"voucher": ("代金券 ¥20", "Voucher ¥20"), "trial": ("体验券", "Free trial")}

    kiosk.tap(BOB.card)
    bob_tap = stream.wait_for("tap", 2)
    # Bob's tap ended Anna's session: her page token can no longer spend her points.
    gone = http.post("/api/member/redeem-points", json={"reward_id": "water"}, headers=anna)
    assert gone.status_code == 401
    bob = {"X-Member-Session": bob_tap["session_token"]}
    spent = http.post("/api/member/redeem-points", json={"reward_id": "water"}, headers=bob)
    assert spent.status_code == 200
    assert spent.json()["member"]["display_name"] == "Bob S."
    assert spent.json()["member"]["points_balance"] == BOB.points + 10 - 20

    ledger = kiosk.app.ledger
    assert ledger is not None
    anna_summary = ledger.member_summary(ANNA.member_id)
    assert anna_summary is not None and anna_summary.points_balance == ANNA.points + 10

    assert http.post("/api/member/done", headers=bob).status_code == 200
    assert http.get("/api/member", headers=bob).status_code == 401


def test_refused_tap_opens_no_session(kiosk: RunningKiosk, stream: EventStream) -> None:
    kiosk.tap(UNKNOWN_CARD)
    tap = stream.wait_for("tap")
    assert tap["outcome"] == "refused" and tap["reason"] == "unknown_card"
    assert tap["message_en"] == "This card isn't registered yet. Please see the front desk."
    assert tap["session_token"] is None


def test_insufficient_points_refused_and_recorded(
    kiosk: RunningKiosk, stream: EventStream, http: httpx.Client
) -> None:
    kiosk.tap(BOB.card)
    token = stream.wait_for("tap")["session_token"]
    answer = http.post(
        "/api/member/redeem-points",
        json={"reward_id": "towel"},
        headers={"X-Member-Session": token},
    ).json()
    assert answer["outcome"] == "refused" and answer["reason"] == "insufficient_points"
    assert answer["message_zh"] == "积分不足，无法兑换。"
    ledger = kiosk.app.ledger
    assert ledger is not None
    kinds = [e.event.kind for e in ledger.recent_events(5, include_rejected=True)]
    assert kinds == ["rejected", "checkin"]


def test_bad_requests_get_machine_readable_errors(
    kiosk: RunningKiosk, stream: EventStream, http: httpx.Client
) -> None:
    kiosk.tap(ANNA.card)
    token = stream.wait_for("tap")["session_token"]
    headers = {"X-Member-Session": token}
    extra = http.post(
        "/api/member/redeem-points",
        json={"reward_id": "water", "member_id": "M-2"},
        headers=headers,
    )
    assert extra.status_code == 422  # the page cannot name another member
    bad_id = http.post("/api/member/redeem-points", json={"reward_id": "no such!"}, headers=headers)
    assert bad_id.status_code == 422
    unknown = http.post("/api/member/redeem-points", json={"reward_id": "gold"}, headers=headers)
    assert unknown.json()["reason"] == "reward_unknown"


def test_staff_pin_lockout_and_staff_only_routes(http: httpx.Client) -> None:
    for route in ("/api/staff/recent", "/api/staff/roster", "/api/staff/sync"):
        assert http.get(route).status_code == 401
        assert http.get(route, headers={"X-Staff-Session": "forged"}).status_code == 401

    first = http.post("/api/staff/login", json={"pin": "0000"})
    assert first.status_code == 401 and first.json()["attempts_left"] == 2
    assert http.post("/api/staff/login", json={"pin": "1234"}).status_code == 401
    locked = http.post("/api/staff/login", json={"pin": "9999"})
    assert locked.status_code == 429 and locked.json()["code"] == "pin_locked"
    # Locked: even the right PIN is refused until the lockout ends.
    assert http.post("/api/staff/login", json={"pin": STAFF_PIN}).status_code == 429


def test_staff_login_lookup_undo_and_logout(
    kiosk: RunningKiosk, stream: EventStream, http: httpx.Client
) -> None:
    login = http.post("/api/staff/login", json={"pin": STAFF_PIN})
    assert login.status_code == 200
    staff = {"X-Staff-Session": login.json()["token"]}

    missing = http.get("/api/staff/member/M-404", headers=staff)
    assert missing.status_code == 404 and missing.json()["code"] == "member_not_found"
    detail = http.get(f"/api/staff/member/{ANNA.member_id}", headers=staff).json()
    assert detail["member_id"] == ANNA.member_id
    assert detail["member"]["points_balance"] == ANNA.points

    # Card lookup: the next tap finds the member and records nothing.
    assert http.post("/api/staff/lookup-card", headers=staff).status_code == 200
    kiosk.tap(BOB.card)
    assert stream.wait_for("staff_lookup")["member_id"] == BOB.member_id
    ledger = kiosk.app.ledger
    assert ledger is not None
    assert ledger.recent_events(5, include_rejected=True) == []

    redeemed = http.post(
        "/api/staff/redeem-points",
        json={"member_id": ANNA.member_id, "reward_id": "towel"},
        headers=staff,
    ).json()
    assert redeemed["outcome"] == "accepted"
    recent = http.get("/api/staff/recent", headers=staff).json()
    target = recent["events"][0]
    assert target["kind"] == "points_redeem" and target["undoable"] is True
    assert target["display_name"] == "李*华" and target["what_en"] == "Redeemed Towel -200 pts"

    undone = http.post("/api/staff/undo", json={"event_id": target["event_id"]}, headers=staff)
    assert undone.json()["outcome"] == "accepted"
    assert undone.json()["member"]["points_balance"] == ANNA.points
    again = http.post("/api/staff/undo", json={"event_id": target["event_id"]}, headers=staff)
    assert again.json()["reason"] == "undo_not_allowed"  # a reversal is never reversed twice

    assert http.post("/api/staff/logout", headers=staff).status_code == 200
    assert http.get("/api/staff/recent", headers=staff).status_code == 401


def test_staff_card_pushes_a_staff_session(kiosk: RunningKiosk, stream: EventStream) -> None:
    kiosk.tap(STAFF_CARD)
    login = stream.wait_for("staff_login")
    assert login["staff_id"] == f"card-{STAFF_CARD}"
    assert kiosk.app.service is not None
    assert kiosk.app.service.staff.get(login["token"]) is not None
    assert [n for n, _ in stream.events if n == "tap"] == []  # not a member tap


def test_healthz_and_config(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"ok": True, "kiosk_id": "k-s1-1", "store_id": "s1"}
    config = http.get("/api/config").json()
    assert config["default_lang"] == "zh" and config["member_session_s"] == 45
    page = http.get("/")
    assert page.status_code == 200 and "/static/kiosk.js" in page.text
    assert http.get("/static/kiosk.css").status_code == 200


def test_stop_ends_event_streams_and_threads(kiosk_factory: KioskFactory) -> None:
    before = {t.ident for t in threading.enumerate()}
    kiosk = kiosk_factory()
    stream = EventStream(kiosk.url)
    stream.wait_for("status")
    kiosk.app.stop()
    stream._thread.join(10)
    assert not stream._thread.is_alive(), "the event stream did not end at stop()"
    stream.close()

    def only_old_threads() -> bool:
        return all(t.ident in before for t in threading.enumerate() if t.is_alive())

    wait_until(only_old_threads, 10, "every kiosk thread to end")
