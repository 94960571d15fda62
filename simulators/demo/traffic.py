"""The demo's traffic: members at the kiosks, on the real input paths.

* Card taps are virtual cards on each kiosk's nfcpy ``udp`` reader (``simulators.nfc``);
  QR codes are fresh tokens from the member's phone page, shown to the kiosk's simulated
  camera (``simulators.camera``) and decoded by the kiosk from real JPEG frames.
* Every result is read back from the kiosk's own screen feed (its Server-Sent Events), so
  each traffic line is what the member saw, and a tap is only lifted once it was decided.
* Redemptions go through the kiosk UI's API: members on their own screen session, staff
  with the staff PIN.

The story, while background check-ins run at every kiosk:

1. the class burst: today's open class fills up at the studio kiosk, with a double tap
   (never deducted twice), a frozen pass and an expired pass among the students;
2. one kiosk loses its network; it keeps working offline while the same member spends the
   same points (and, when two kiosks share a store, the same store voucher) at another
   kiosk; when the network returns its backlog drains and the coordinator raises the
   conflicts for the dashboard.
"""

from __future__ import annotations

import collections
import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from simulators.demo.api import ApiFailure, CoordinatorClient
from simulators.demo.catalog import Catalog, MemberSpec
from simulators.demo.console import Console
from simulators.demo.errors import DemoError
from simulators.demo.fleet import Fleet, KioskRuntime
from simulators.demo.seed import SeedResult, member_coupons
from simulators.demo.state import StateFile

log = logging.getLogger(__name__)

TAP_TIMEOUT_S = 12.0
"""A tap not decided by then is reported (a reader polls two technologies, 1 s each on udp)."""
OFFLINE_S = 15.0
"""How long the offline kiosk stays cut off."""
CATCH_UP_TIMEOUT_S = 60.0
REVISIT_S = 70.0
"""A member comes back at the earliest this long after a visit (the double-tap window is 60 s)."""

_ACTIONS = {
    "checkin": "签到 check-in",
    "class_signin": "上课签到 class sign-in",
    "points_redeem": "积分兑换 points redeemed",
    "coupon_redeem": "用券 coupon used",
    "reversal": "撤销 undo",
    "sv_spend": "储值扣款 stored value charged",
}


def describe(view: dict[str, Any] | None) -> str:
    """One line saying what the member saw on the screen."""
    if view is None:
        return "no result on the screen"
    member = (view.get("member") or {}).get("display_name") or "unknown card"
    if view.get("outcome") != "accepted":
        return (
            f"x {member}: {view.get('reason')} - {view.get('message_zh')} / "
            f"{view.get('message_en')}"
        )
    parts = [f"ok {_ACTIONS.get(str(view.get('action')), view.get('action'))}: {member}"]
    if view.get("class_title_zh"):
        parts.append(f"{view['class_title_zh']} {view.get('class_title_en')}")
    pass_info = view.get("pass_info") or {}
    if pass_info.get("sessions_left") is not None:
        parts.append(f"{pass_info['sessions_left']} sessions left on '{pass_info.get('name')}'")
    elif pass_info:
        parts.append(f"'{pass_info.get('name')}' until {pass_info.get('valid_until')}")
    if view.get("reward_title_zh"):
        parts.append(f"{view['reward_title_zh']} {view.get('reward_title_en')}")
    if view.get("coupon_title"):
        parts.append(str(view["coupon_title"]))
    if view.get("points_earned"):
        parts.append(f"+{view['points_earned']} pts")
    if view.get("points_spent"):
        parts.append(f"-{view['points_spent']} pts")
    if view.get("sv_charged_fen"):
        stored = (view.get("member") or {}).get("stored_value_fen", 0)
        parts.append(f"-¥{view['sv_charged_fen'] / 100:.2f}, stored value ¥{stored / 100:.2f}")
    balance = (view.get("member") or {}).get("points_balance")
    if balance is not None:
        parts.append(f"balance {balance}")
    return ", ".join(parts)


@dataclass
class Stats:
    """Counts of what the traffic did (thread-safe)."""

    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, key: str) -> None:
        """Add one to ``key``."""
        with self.lock:
            self.counts[key] += 1

    def snapshot(self) -> dict[str, int]:
        """A copy of the counts."""
        with self.lock:
            return dict(self.counts)


class TapFeed:
    """Reads a kiosk's screen feed (``/api/events``) and queues its ``tap`` results."""

    def __init__(self, ui_url: str, name: str) -> None:
        self.url = ui_url + "/api/events"
        self.name = name
        self.connected = threading.Event()
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._response: httpx.Response | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> TapFeed:
        """Start reading in a thread (it reconnects until ``stop``)."""
        self._thread = threading.Thread(target=self._run, name=f"feed {self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop reading and close the stream."""
        self._stop.set()
        response = self._response
        if response is not None:
            try:
                response.close()
            except Exception as exc:  # closing from another thread may race the reader
                log.debug("feed %s: close: %r", self.name, exc)
        if self._thread is not None:
            self._thread.join(2.0)

    def drain(self) -> None:
        """Forget queued results (before a new tap)."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def next_tap(
        self, timeout_s: float, source: str, stop: threading.Event
    ) -> dict[str, Any] | None:
        """The next tap result from ``source`` (card or qr), or None after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                view = self._queue.get(timeout=min(remaining, 0.25))
            except queue.Empty:
                continue
            if view.get("source") == source:
                return view
        return None

    def _run(self) -> None:
        timeout = httpx.Timeout(5.0, read=40.0)
        while not self._stop.is_set():
            try:
                with httpx.stream("GET", self.url, timeout=timeout) as response:
                    self._response = response
                    self.connected.set()
                    self._read(response)
            except (httpx.HTTPError, OSError, ValueError, RuntimeError) as exc:
                log.debug("feed %s: %r", self.name, exc)
            finally:
                self._response = None
                self.connected.clear()
            self._stop.wait(0.5)

    def _read(self, response: httpx.Response) -> None:
        kind, data = "", []
        for line in response.iter_lines():
            if self._stop.is_set():
                return
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line:
                if kind == "tap" and data:
                    self._queue.put(json.loads("\n".join(data)))
                kind, data = "", []


class KioskDriver:
    """A person at one kiosk: taps cards, shows the phone, uses the screen, calls staff."""

    def __init__(
        self,
        runtime: KioskRuntime,
        catalog: Catalog,
        console: Console,
        stats: Stats,
        links: dict[str, str],
        coordinator_url: str,
    ) -> None:
        self.runtime = runtime
        self.catalog = catalog
        self.console = console
        self.stats = stats
        self.links = links
        self.coordinator_url = coordinator_url
        self.feed = TapFeed(runtime.ui_url, runtime.kiosk_id)
        self._reader = threading.Lock()
        self._http = httpx.Client(base_url=runtime.ui_url, timeout=15.0)
        self._staff_token: str | None = None

    @property
    def kiosk_id(self) -> str:
        """The kiosk this driver stands at."""
        return self.runtime.kiosk_id

    def start(self) -> None:
        """Open the screen feed."""
        self.feed.start()
        if not self.feed.connected.wait(15):
            raise DemoError(f"cannot read the screen feed of {self.kiosk_id} at {self.feed.url}")

    def close(self) -> None:
        """Close the feed and the HTTP client."""
        self.feed.stop()
        self._http.close()

    def say(self, text: str) -> None:
        """A traffic line for this kiosk."""
        self.console.event(self.kiosk_id, text)

    # --- inputs -----------------------------------------------------------------------------

    def tap_card(self, member: MemberSpec, stop: threading.Event) -> dict[str, Any] | None:
        """Hold the member's card on the reader until the screen shows the result."""
        from simulators.nfc.card import VirtualCard

        card = VirtualCard(member.card_uid, member.card_type)
        with self._reader:
            self.feed.drain()
            card.present(self.runtime.nfc_port)
            try:
                view = self.feed.next_tap(TAP_TIMEOUT_S, "card", stop)
            finally:
                card.remove()
        return self._report(f"card {member.card_type}", view, stop)

    def door_tap(self, member: MemberSpec, stop: threading.Event) -> dict[str, str] | None:
        """Tap the member's card at the classroom door's station; its answer (or None)."""
        door = self.runtime.door
        if door is None or stop.is_set():
            return None
        answer = door.tap(member.card_uid, TAP_TIMEOUT_S)
        if answer is None:
            self.stats.count("door_no_answer")
            self.say(f"door station: no answer for {member.display_name}")
            return None
        result, reason = answer.get("result", "?"), answer.get("reason") or ""
        self.stats.count(f"door:{result}:{reason or 'ok'}")
        light = {"accepted": "green", "already": "blue", "refused": "red"}.get(
            answer.get("signal", ""), answer.get("signal", "")
        )
        self.say(
            f"{'door station':<14} {member.display_name}: {result}"
            f"{' (' + reason + ')' if reason else ''}, {light} light at the door"
        )
        return answer

    def show_qr(self, member: MemberSpec, stop: threading.Event) -> dict[str, Any] | None:
        """Show the member's phone code (fresh from their phone page) to the camera."""
        link = self.links.get(member.member_id)
        if link is None:
            return self.tap_card(member, stop)
        answer = httpx.get(
            f"{self.coordinator_url}/api/v1/member/qr", params={"link": link}, timeout=10
        )
        if answer.status_code != 200:
            self.say(f"phone page of {member.display_name} failed: {answer.text[:200]}")
            self.stats.count("qr_token_failed")
            return None
        token = answer.json()["token"]
        camera = self.runtime.camera
        with self._reader:
            self.feed.drain()
            camera.show_token(token, 8.0)
            try:
                view = self.feed.next_tap(TAP_TIMEOUT_S, "qr", stop)
            finally:
                camera.scene.clear()
        return self._report("phone QR", view, stop)

    def visit(self, member: MemberSpec, stop: threading.Event) -> dict[str, Any] | None:
        """The member identifies themselves the way they usually do."""
        if member.prefers_qr and member.member_id in self.links:
            return self.show_qr(member, stop)
        return self.tap_card(member, stop)

    def _report(
        self, how: str, view: dict[str, Any] | None, stop: threading.Event
    ) -> dict[str, Any] | None:
        if view is None:
            if not stop.is_set():
                self.stats.count("no_result")
                self.say(f"{how}: no result on the screen within {TAP_TIMEOUT_S:g} s")
            return None
        key = view.get("action") if view.get("outcome") == "accepted" else view.get("reason")
        self.stats.count(f"{view.get('outcome')}:{key}")
        self.say(f"{how:<14} {describe(view)}")
        return view

    # --- the screen (member session) ----------------------------------------------------------

    def member_redeem_points(self, session: str, reward_id: str) -> dict[str, Any] | None:
        """The member spends points on a reward on the screen."""
        return self._member_post("/api/member/redeem-points", session, {"reward_id": reward_id})

    def member_redeem_coupon(self, session: str, coupon_id: str) -> dict[str, Any] | None:
        """The member uses a coupon on the screen."""
        return self._member_post("/api/member/redeem-coupon", session, {"coupon_id": coupon_id})

    def member_detail(self, session: str) -> dict[str, Any] | None:
        """What the member's redemption screen shows."""
        answer = self._http.get("/api/member", headers={"X-Member-Session": session})
        return dict(answer.json()) if answer.status_code == 200 else None

    def _member_post(self, path: str, session: str, body: dict[str, Any]) -> dict[str, Any] | None:
        answer = self._http.post(path, json=body, headers={"X-Member-Session": session})
        if answer.status_code != 200:
            self.say(f"screen {path}: {answer.status_code} {answer.text[:160]}")
            return None
        view = dict(answer.json())
        self._count(view)
        self.say(f"{'screen':<14} {describe(view)}")
        return view

    # --- staff ------------------------------------------------------------------------------

    def staff_redeem_points(self, member_id: str, reward_id: str) -> dict[str, Any] | None:
        """Staff spend a member's points on a reward (PIN login)."""
        return self._staff_post(
            "/api/staff/redeem-points", {"member_id": member_id, "reward_id": reward_id}
        )

    def staff_charge(self, member_id: str, amount_fen: int) -> dict[str, Any] | None:
        """Staff charge a member's stored value (PIN login)."""
        return self._staff_post(
            "/api/staff/charge", {"member_id": member_id, "amount_fen": amount_fen}
        )

    def staff_redeem_coupon(self, member_id: str, coupon_id: str) -> dict[str, Any] | None:
        """Staff use a member's coupon (PIN login)."""
        return self._staff_post(
            "/api/staff/redeem-coupon", {"member_id": member_id, "coupon_id": coupon_id}
        )

    def staff_sync(self) -> dict[str, Any]:
        """The staff sync page: online, outbox depth, last seq, versions."""
        return self._staff_call("GET", "/api/staff/sync", None)

    def status(self) -> dict[str, Any]:
        """The member screen's indicators (online, ready, readers)."""
        answer = self._http.get("/api/status")
        return dict(answer.json()) if answer.status_code == 200 else {}

    def _staff_post(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        try:
            view = self._staff_call("POST", path, body)
        except DemoError as exc:
            self.say(f"staff {path}: {exc}")
            return None
        self._count(view)
        self.say(f"{'staff':<14} {describe(view)}")
        return view

    def _staff_call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        for _attempt in range(2):
            if self._staff_token is None:
                login = self._http.post("/api/staff/login", json={"pin": self.catalog.staff_pin})
                if login.status_code != 200:
                    raise DemoError(f"staff PIN login refused: {login.text[:200]}")
                self._staff_token = str(login.json()["token"])
            answer = self._http.request(
                method, path, json=body, headers={"X-Staff-Session": self._staff_token}
            )
            if answer.status_code == 401:
                self._staff_token = None  # the staff session timed out: log in again
                continue
            if answer.status_code != 200:
                raise DemoError(f"{method} {path}: {answer.status_code} {answer.text[:200]}")
            return dict(answer.json())
        raise DemoError(f"{method} {path}: the staff session keeps expiring")

    def _count(self, view: dict[str, Any]) -> None:
        key = view.get("action") if view.get("outcome") == "accepted" else view.get("reason")
        self.stats.count(f"{view.get('outcome')}:{key}")


class TrafficGenerator:
    """Runs the background traffic and the story until ``stop`` is set."""

    def __init__(
        self,
        fleet: Fleet,
        catalog: Catalog,
        client: CoordinatorClient,
        console: Console,
        seeded: SeedResult,
        state: StateFile,
        *,
        seed: int = 7,
    ) -> None:
        self.fleet = fleet
        self.catalog = catalog
        self.client = client
        self.console = console
        self.state = state
        self.stats = Stats()
        self.seed = seed
        self.story_done = threading.Event()
        self.drivers = {
            kiosk_id: KioskDriver(
                runtime, catalog, console, self.stats, seeded.page_links, fleet.coordinator_url
            )
            for kiosk_id, runtime in fleet.kiosks.items()
        }
        self._threads: list[threading.Thread] = []
        self._last_visit: dict[str, float] = {}
        self._visits_lock = threading.Lock()
        self.error: BaseException | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self, stop: threading.Event) -> None:
        """Open the kiosks' screen feeds and start the traffic threads."""
        for driver in self.drivers.values():
            driver.start()
        roles = self.catalog.roles
        story_members = {roles.points_member, roles.coupon_member, roles.hands_on_member}
        regulars = [
            m for m in self.catalog.members if not m.student and m.member_id not in story_members
        ]
        for i, (kiosk_id, driver) in enumerate(self.drivers.items()):
            rng = random.Random(self.seed + i)
            if kiosk_id == roles.studio:
                students = [m for m in self.catalog.members if m.student]
                month_cards = [m for m in regulars if any(p.kind == "time" for p in m.passes)]
                self._spawn(
                    f"studio {kiosk_id}",
                    self._studio,
                    driver,
                    students,
                    month_cards,
                    rng,
                    stop,
                )
            else:
                # Members visit any store of the chain, their own twice as often.
                home = [m for m in regulars if m.home_store_id == driver.runtime.spec.store_id]
                # The offline kiosk goes quiet after its story: it is left to the user.
                self._spawn(
                    f"traffic {kiosk_id}",
                    self._background,
                    driver,
                    home + regulars,
                    rng,
                    stop,
                    kiosk_id == roles.offline,
                )
        self._spawn("story", self._story, stop)

    def join(self, timeout_s: float = 20.0, hurry: threading.Event | None = None) -> None:
        """Wait for the traffic threads (after ``stop`` was set).

        Gives up at ``timeout_s`` or as soon as ``hurry`` is set (the threads are daemons).
        """
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            while thread.is_alive() and time.monotonic() < deadline:
                if hurry is not None and hurry.is_set():
                    break
                thread.join(0.1)

    def close(self) -> None:
        """Close the screen feeds (after the kiosks stopped, so the streams have ended)."""
        for driver in self.drivers.values():
            driver.close()

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        def guarded() -> None:
            try:
                target(*args)
            except Exception as exc:  # one failing thread must not take the demo down silently
                self.error = self.error or exc
                self.console.warn(f"traffic thread '{name}' failed: {exc!r}")
                log.debug("traffic thread %s failed", name, exc_info=True)

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _pause(self, rng: random.Random) -> float:
        return rng.uniform(1.0, 3.0) if not self.story_done.is_set() else rng.uniform(4.0, 9.0)

    # --- background ---------------------------------------------------------------------------

    def _background(
        self,
        driver: KioskDriver,
        pool: list[MemberSpec],
        rng: random.Random,
        stop: threading.Event,
        quiet_after_story: bool = False,
        once: bool = False,
    ) -> None:
        """Members of ``pool`` visit one after another, none twice within ``REVISIT_S``
        (``once``: each visits at most once, then the kiosk stays idle)."""
        pool = list(pool)  # may list a member twice: they are picked twice as often
        while not stop.is_set():
            if quiet_after_story and self.story_done.is_set():
                driver.say("left quiet for your own taps (see 'Try it yourself' above)")
                return
            if not pool:
                stop.wait()
                return
            now = time.monotonic()
            with self._visits_lock:
                due = [
                    m
                    for m in pool
                    if now - self._last_visit.get(m.member_id, -REVISIT_S) >= REVISIT_S
                ]
                member = rng.choice(due) if due else None
                if member is not None:
                    self._last_visit[member.member_id] = now
                else:
                    soonest = min(self._last_visit.get(m.member_id, now) for m in pool)
            if member is None:
                stop.wait(max(0.5, soonest + REVISIT_S - now))
                continue
            if once:
                pool = [m for m in pool if m.member_id != member.member_id]
            view = driver.visit(member, stop)
            if view is not None and view.get("outcome") == "accepted" and not stop.is_set():
                self._maybe_redeem(driver, view, rng)
            stop.wait(self._pause(rng))

    def _maybe_redeem(self, driver: KioskDriver, view: dict[str, Any], rng: random.Random) -> None:
        session = view.get("session_token")
        balance = int((view.get("member") or {}).get("points_balance") or 0)
        if not session:
            return
        roll = rng.random()
        if roll < 0.3 and balance >= 20:
            affordable = [r for r in self.catalog.rewards if r.points_cost <= min(balance, 200)]
            reward = rng.choice(affordable)
            driver.member_redeem_points(str(session), reward.reward_id)
        elif roll < 0.45:
            detail = driver.member_detail(str(session)) or {}
            usable = [c for c in detail.get("coupons", ()) if c.get("usable")]
            if usable:
                driver.member_redeem_coupon(str(session), str(rng.choice(usable)["coupon_id"]))

    def _studio(
        self,
        driver: KioskDriver,
        students: list[MemberSpec],
        later: list[MemberSpec],
        rng: random.Random,
        stop: threading.Event,
    ) -> None:
        self._class_burst(driver, students, rng, stop)
        self._background(driver, later, rng, stop, once=True)

    def _class_burst(
        self,
        driver: KioskDriver,
        students: list[MemberSpec],
        rng: random.Random,
        stop: threading.Event,
    ) -> None:
        session = next(
            c for c in self.catalog.classes if c.class_session_id == self.catalog.open_class_id
        )
        order = list(students)
        rng.shuffle(order)
        now_ms = time.time_ns() // 1_000_000
        valid = [
            m
            for m in order[:3]
            if all(not p.frozen and p.valid_until_ms > now_ms for p in m.passes)
        ]
        if valid:
            order.insert(3, valid[0])  # a student taps again: never deducted twice
        driver.say(
            f"class burst: {len(students)} students tap in for {session.title_zh} "
            f"{session.title_en} ({session.class_session_id})"
        )
        started = time.monotonic()
        signed = refused = 0
        for number, member in enumerate(order):
            if stop.is_set():
                return
            if number % 3 == 1 and driver.runtime.door is not None and member.card_type != "felica":
                # Some students tap at the classroom door's station instead of the kiosk.
                answer = driver.door_tap(member, stop)
                if answer is None:
                    continue
                if answer.get("result") == "accepted":
                    signed += 1
                else:
                    refused += 1
                continue
            view = driver.visit(member, stop)
            if view is None:
                continue
            if view.get("outcome") == "accepted":
                signed += 1
            else:
                refused += 1
        driver.say(
            f"class burst done in {time.monotonic() - started:.0f} s: {signed} signed in, "
            f"{refused} refused (double tap, frozen or expired pass); roster on the kiosk's "
            f"staff screen, attendance in the coordinator"
        )
        self.state.update(class_burst={"signed_in": signed, "refused": refused})

    # --- the offline story --------------------------------------------------------------------

    def _story(self, stop: threading.Event) -> None:
        roles = self.catalog.roles
        off = self.drivers[roles.offline]
        partner = self.drivers[roles.partner]
        if stop.wait(4.0):
            return
        off.runtime.switch.cut()
        cut_ms = time.time_ns() // 1_000_000
        off.say("network cut: the broker drops the kiosk (its last will says offline)")
        self.state.update(offline_story={"kiosk_id": off.kiosk_id, "cut_ms": cut_ms})
        if not self._wait(
            lambda: off.status().get("online") is False, 15, "the kiosk to notice", stop
        ) or not self._wait(
            lambda: not self._kiosk_row(off.kiosk_id).get("connected", True),
            15,
            "the coordinator to see the kiosk offline",
            stop,
        ):
            return
        off.say("offline: it keeps taking taps from its local ledger (backlog in its outbox)")
        points_member = self.catalog.member(roles.points_member)
        towel = next(r for r in self.catalog.rewards if r.reward_id == "towel")
        off.say(
            f"staff redeem {towel.title_en} ({towel.points_cost} pts) for "
            f"{points_member.display_name} (300 pts) while offline"
        )
        off.staff_redeem_points(points_member.member_id, towel.reward_id)
        partner.say(f"...and the same member spends {towel.points_cost} pts here, online")
        partner.staff_redeem_points(points_member.member_id, towel.reward_id)
        off.say(f"staff charge ¥100 to {points_member.display_name}'s stored value (¥150), offline")
        off.staff_charge(points_member.member_id, 10_000)
        partner.say("...and ¥100 more here, online: together more than the member holds")
        partner.staff_charge(points_member.member_id, 10_000)
        if roles.coupon_member is not None:
            coupon_member = self.catalog.member(roles.coupon_member)
            coupons = member_coupons(self.client, coupon_member.member_id)
            voucher = next(
                (c for c in coupons if c.get("campaign_id") == roles.coupon_campaign), None
            )
            if voucher is not None:
                partner.say(f"{coupon_member.display_name} uses the store voucher here (online)")
                partner.staff_redeem_coupon(coupon_member.member_id, voucher["coupon_id"])
                off.say("...and the same voucher at the offline kiosk (store-scoped: allowed)")
                off.staff_redeem_coupon(coupon_member.member_id, voucher["coupon_id"])
        if stop.wait(max(0.0, OFFLINE_S - (time.time_ns() // 1_000_000 - cut_ms) / 1000)):
            return
        sync = off.staff_sync()
        backlog, last_seq = int(sync.get("outbox_depth", 0)), int(sync.get("last_seq", 0))
        off.runtime.switch.restore()
        restored_ms = time.time_ns() // 1_000_000
        off.say(f"network back after {OFFLINE_S:g} s with a backlog of {backlog} events")
        self.state.update(
            offline_story={
                "kiosk_id": off.kiosk_id,
                "cut_ms": cut_ms,
                "restored_ms": restored_ms,
                "backlog_events": backlog,
                "last_seq_at_restore": last_seq,
                "applied": False,
            }
        )
        if not self._wait(
            lambda: _applied_seq(self._kiosk_row(off.kiosk_id)) >= last_seq,
            CATCH_UP_TIMEOUT_S,
            "the coordinator to apply the offline backlog",
            stop,
        ):
            return
        caught_up_s = (time.time_ns() // 1_000_000 - restored_ms) / 1000
        conflicts = self._open_conflicts()
        off.say(
            f"backlog applied {caught_up_s:.1f} s after reconnecting (coordinator applied seq "
            f">= {last_seq}); {len(conflicts)} open conflict(s):"
        )
        for conflict in conflicts:
            self.console.event(
                "coordinator", f"conflict {conflict['kind']}: {conflict['explanation']}"
            )
        self.console.event(
            "coordinator",
            f"resolve them as hq-admin on the dashboard or POST "
            f"{self.fleet.coordinator_url}/api/v1/conflicts/<id>/resolve",
        )
        self.state.update(
            offline_story={
                "kiosk_id": off.kiosk_id,
                "cut_ms": cut_ms,
                "restored_ms": restored_ms,
                "backlog_events": backlog,
                "last_seq_at_restore": last_seq,
                "applied": True,
                "caught_up_s": round(caught_up_s, 2),
                "conflicts": [c["conflict_id"] for c in conflicts],
            }
        )
        self.story_done.set()
        self.state.update(story_done=True)
        while not stop.wait(30.0):
            self.console.event("fleet", self.fleet_summary())

    def fleet_summary(self) -> str:
        """One line: kiosks connected, events applied, open conflicts, traffic counts."""
        rows = self.client.get("/api/v1/kiosks")
        connected = sum(1 for r in rows if r["connected"])
        applied = sum(_applied_seq(r) for r in rows)
        conflicts = len(self._open_conflicts())
        counts = self.stats.snapshot()
        accepted = sum(v for k, v in counts.items() if k.startswith("accepted:"))
        refused = sum(v for k, v in counts.items() if k.startswith("refused:"))
        return (
            f"{connected}/{len(rows)} kiosks connected, {applied} kiosk events applied, "
            f"{conflicts} open conflicts; traffic so far: {accepted} accepted, {refused} refused"
        )

    def _kiosk_row(self, kiosk_id: str) -> dict[str, Any]:
        try:
            return dict(self.client.get(f"/api/v1/kiosks/{kiosk_id}"))
        except (ApiFailure, httpx.HTTPError):
            return {}

    def _open_conflicts(self) -> list[dict[str, Any]]:
        return list(self.client.get("/api/v1/conflicts", status="open")["items"])

    @staticmethod
    def _wait(
        condition: Callable[[], bool], timeout_s: float, what: str, stop: threading.Event
    ) -> bool:
        """Poll another process's state; False when the demo is stopping meanwhile."""
        deadline = time.monotonic() + timeout_s
        while not stop.is_set():
            if condition():
                return True
            if time.monotonic() > deadline:
                raise DemoError(f"timed out after {timeout_s:g} s waiting for {what}")
            stop.wait(0.2)
        return False


def _applied_seq(row: dict[str, Any]) -> int:
    return int((row.get("evidence") or {}).get("applied_seq") or 0)
