"""A small in-memory kiosk for coordinator tests — a TEST DRIVER, not kiosk firmware.

It decides with the real pure core (``shared.decide`` + ``shared.fold``) and speaks the real
protocol (``shared.protocol`` codec, ``shared.topics`` tree) over a real Mosquitto with
paho-mqtt 2.x (VERSION2 callbacks, MQTT v5), so the coordinator sees exactly what a kiosk
sends. What it leaves out on purpose: durability (its journal is a list), readers and UI.
The real kiosk is ``device.ledger.KioskLedger`` + ``device.link``; tests that need the real
thing use those.

Test hooks a real kiosk does not have:

* ``publish_hook`` — every outgoing event batch goes through it (an adversarial path can
  drop, duplicate, delay and reorder them);
* ``allow_offline_coupons`` — redeem any coupon offline without a claim, the double spend
  no shipped coupon policy allows (used to prove reconciliation catches it);
* ``flush()`` — resend everything unacknowledged, as a kiosk's retry timer would.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from shared import topics
from shared.decide import (
    Accepted,
    ClaimOutcome,
    Decision,
    KioskContext,
    MemberView,
    NeedsClaim,
    TapResult,
    decide_coupon_redeem,
    decide_points_redeem,
    decide_stored_value_spend,
    decide_tap,
)
from shared.events import (
    CouponRedeem,
    CredentialKind,
    CredentialRef,
    Event,
    EventBody,
    stored_value_spent,
)
from shared.hlc import HLC, ZERO, merge, tick
from shared.model import DenyEntry, MemberLedger, MemberRecord, RuleBundle
from shared.protocol import (
    Ack,
    ClaimResult,
    CouponClaim,
    DenyListUpdate,
    EventBatch,
    Heartbeat,
    MemberUpdate,
    RuleBundleMessage,
    Status,
    SyncRequest,
    Versions,
    decode,
    encode,
)
from shared.topics import Channel

log = logging.getLogger(__name__)

PublishHook = Callable[[str, bytes], None]


@dataclass
class _Cached:
    record: MemberRecord
    included_seq: int


@dataclass
class MiniKiosk:
    """An in-memory kiosk on the real protocol. Thread-safe; every wait is a condition wait."""

    kiosk_id: str
    store_id: str
    host: str
    port: int
    clock: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    batch_size: int = 50
    allow_offline_coupons: bool = False
    publish_hook: PublishHook | None = None
    username: str | None = None
    password: str | None = None

    def __post_init__(self) -> None:
        self.members: dict[str, _Cached] = {}
        self.bundle: RuleBundle | None = None
        self.bundles_received: list[RuleBundle] = []
        """Every rule bundle that reached this kiosk's subscriptions, applied or not."""
        self.deny: dict[str, DenyEntry] = {}
        self.versions = Versions()
        self.journal: list[Event] = []
        self.acked_seq = 0
        self.confirmed_seq = 0
        self.hlc: HLC = ZERO
        self.online = False
        self.offline_since_ms: int | None = None
        self.claims: dict[str, ClaimResult] = {}
        self.acks: list[Ack] = []
        self.need_sync = 0
        self.staged: dict[int, dict[int, MemberUpdate]] = {}
        self._cond = threading.Condition(threading.RLock())
        self._client: mqtt.Client | None = None
        self._claim_ids = itertools.count(1)

    # -- connection ---------------------------------------------------------------------------

    def connect(self, timeout: float = 10.0) -> None:
        """Connect (birth status, subscriptions, sync request) and wait for the connection."""
        client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.kiosk_id,
            protocol=mqtt.MQTTv5,
        )
        if self.username:
            client.username_pw_set(self.username, self.password)
        client.will_set(
            topics.kiosk_topic(self.kiosk_id, Channel.STATUS),
            encode(Status(kiosk_id=self.kiosk_id, state="offline")),
            qos=1,
            retain=True,
        )
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        self._client = client
        client.connect(self.host, self.port, keepalive=30, clean_start=True)
        client.loop_start()
        if not self.wait_for(lambda: self.online, timeout):
            raise TimeoutError(f"kiosk {self.kiosk_id} could not connect")

    def go_offline(self) -> None:
        """Drop the connection the way a network outage does (no DISCONNECT, so the will fires)."""
        client, self._client = self._client, None
        with self._cond:
            self.online = False
            self.offline_since_ms = self.clock()
        if client is not None:
            client.loop_stop()
            sock = client.socket()
            if sock is not None:
                sock.close()

    def close(self) -> None:
        """Disconnect cleanly (tests' teardown)."""
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
        with self._cond:
            self.online = False

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, rc: object, _p: object
    ) -> None:
        if getattr(rc, "is_failure", False):
            log.warning("mini kiosk %s refused: %s", self.kiosk_id, rc)
            return
        client.publish(
            topics.kiosk_topic(self.kiosk_id, Channel.STATUS),
            encode(Status(kiosk_id=self.kiosk_id, state="online", at_ms=self.clock())),
            qos=1,
            retain=True,
        )
        client.subscribe(topics.kiosk_subscriptions(self.kiosk_id, self.store_id))
        with self._cond:
            self.online = True
            self.offline_since_ms = None
            self._cond.notify_all()
        self.request_sync()
        self.flush()

    def _on_disconnect(self, *_args: object) -> None:
        with self._cond:
            self.online = False
            self._cond.notify_all()

    def request_sync(self) -> None:
        """Tell the coordinator what we have (it answers on our DIRECT topic)."""
        with self._cond:
            message = SyncRequest(
                kiosk_id=self.kiosk_id,
                store_id=self.store_id,
                versions=self.versions,
                last_seq=len(self.journal),
            )
        self._publish(topics.kiosk_topic(self.kiosk_id, Channel.SYNC), encode(message))

    def heartbeat(self, interval_s: int = 10) -> None:
        """Publish one heartbeat with the kiosk's health."""
        with self._cond:
            last = len(self.journal)
            message = Heartbeat(
                kiosk_id=self.kiosk_id,
                store_id=self.store_id,
                sent_wall_ms=self.clock(),
                hlc_ms=self.hlc.wall_ms,
                interval_s=interval_s,
                last_seq=last,
                acked_seq=self.acked_seq,
                outbox_depth=last - self.acked_seq,
                versions=self.versions,
            )
        self._publish(topics.kiosk_topic(self.kiosk_id, Channel.HEARTBEAT), encode(message), qos=0)

    def _publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        client = self._client
        if client is not None and self.online:
            client.publish(topic, payload, qos=qos)

    # -- decisions ----------------------------------------------------------------------------

    def context(self) -> KioskContext:
        """Where and when a decision is taken."""
        return KioskContext(
            kiosk_id=self.kiosk_id,
            store_id=self.store_id,
            now_ms=self.clock(),
            online=self.online,
            offline_since_ms=self.offline_since_ms,
        )

    def view(self, member_id: str) -> MemberView | None:
        """Snapshot + this kiosk's events not yet folded into it."""
        with self._cond:
            cached = self.members.get(member_id)
            if cached is None:
                return None
            pending = tuple(
                e for e in self.journal if e.seq > cached.included_seq and e.member_id == member_id
            )
            return MemberView(record=cached.record, pending=pending)

    def ledger(self, member_id: str) -> MemberLedger | None:
        """What this kiosk would show for the member now."""
        view = self.view(member_id)
        return view.ledger() if view else None

    def pending(self) -> list[Event]:
        """Own events not yet folded into the snapshot of their member."""
        with self._cond:
            return [
                e
                for e in self.journal
                if e.member_id in self.members and e.seq > self.members[e.member_id].included_seq
            ]

    def _bundle(self) -> RuleBundle:
        if self.bundle is None:
            raise RuntimeError(f"kiosk {self.kiosk_id} has no rule bundle yet")
        return self.bundle

    def tap(
        self, member_id: str, *, class_session_id: str | None = None, uid: str | None = None
    ) -> Decision:
        """A member taps (card ``uid`` if given): check-in or class sign-in."""
        with self._cond:
            decision = decide_tap(
                self.context(),
                self._bundle(),
                self.view(member_id),
                class_session_id=class_session_id,
            )
            credential = CredentialRef(kind=CredentialKind.CARD, uid=uid) if uid else None
            self._record(decision, member_id, credential)
        self.flush()
        return decision

    def redeem_points(self, member_id: str, reward_id: str) -> Decision:
        """Spend points on a reward."""
        with self._cond:
            decision = decide_points_redeem(
                self.context(), self._bundle(), self.view(member_id), reward_id
            )
            self._record(decision, member_id, None)
        self.flush()
        return decision

    def spend_stored_value(self, member_id: str, amount_fen: int) -> Decision:
        """Charge the member's stored value (the kiosk-wide unconfirmed total is this
        kiosk's pending spends)."""
        with self._cond:
            pending = sum(stored_value_spent(e) for e in self.pending())
            ctx = self.context().model_copy(update={"kiosk_unconfirmed_fen": pending})
            decision = decide_stored_value_spend(
                ctx, self._bundle(), self.view(member_id), amount_fen
            )
            self._record(decision, member_id, None)
        self.flush()
        return decision

    def redeem_coupon(self, member_id: str, coupon_id: str, timeout: float = 10.0) -> Decision:
        """Use a coupon: online through a coordinator claim; offline only if the policy (or
        the ``allow_offline_coupons`` test hook) allows."""
        with self._cond:
            ctx = self.context()
            view = self.view(member_id)
            decision = decide_coupon_redeem(ctx, self._bundle(), view, coupon_id)
            if (
                not ctx.online
                and self.allow_offline_coupons
                and not isinstance(decision, Accepted)
                and view is not None
                and (coupon := view.ledger().find_coupon(coupon_id)) is not None
                and not coupon.is_used
            ):
                # The hook: record the redemption as a lenient kiosk would.
                decision = Accepted(
                    member_id=member_id,
                    bodies=(CouponRedeem(coupon_id=coupon_id),),
                    result=_coupon_result(view, coupon_id, ctx.now_ms),
                )
        if isinstance(decision, NeedsClaim):
            claim_id = f"{self.kiosk_id}-{next(self._claim_ids)}-{uuid.uuid4().hex[:6]}"
            self._publish(
                topics.kiosk_topic(self.kiosk_id, Channel.CLAIM),
                encode(
                    CouponClaim(
                        kiosk_id=self.kiosk_id,
                        claim_id=claim_id,
                        member_id=member_id,
                        coupon_id=coupon_id,
                    )
                ),
            )
            if not self.wait_for(lambda: claim_id in self.claims, timeout):
                raise TimeoutError(f"no answer to coupon claim {claim_id}")
            answer = self.claims[claim_id]
            with self._cond:
                decision = decide_coupon_redeem(
                    self.context(),
                    self._bundle(),
                    self.view(member_id),
                    coupon_id,
                    ClaimOutcome(claim_id=claim_id, granted=answer.granted, reason=answer.reason),
                )
        with self._cond:
            self._record(decision, member_id, None)
        self.flush()
        return decision

    def _record(
        self, decision: Decision, member_id: str, credential: CredentialRef | None
    ) -> list[Event]:
        if isinstance(decision, Accepted):
            bodies: Sequence[EventBody] = decision.bodies
        elif isinstance(decision, NeedsClaim):
            return []
        else:
            bodies = (decision.body,)
        return [self.record(member_id, body, credential) for body in bodies]

    def record(
        self, member_id: str | None, body: EventBody, credential: CredentialRef | None = None
    ) -> Event:
        """Append one event to the journal (gapless seq, HLC tick)."""
        with self._cond:
            now = self.clock()
            self.hlc = tick(self.hlc, now)
            event = Event(
                event_id=uuid.uuid4().hex,
                kiosk_id=self.kiosk_id,
                store_id=self.store_id,
                seq=len(self.journal) + 1,
                hlc_ms=self.hlc.wall_ms,
                hlc_c=self.hlc.counter,
                wall_ms=now,
                member_id=member_id,
                offline=not self.online,
                rules_version=self.versions.rules,
                credential=credential,
                body=body,
            )
            self.journal.append(event)
            return event

    # -- outbox -------------------------------------------------------------------------------

    def flush(self, from_seq: int | None = None) -> int:
        """Send every unacknowledged event (from ``from_seq`` if given); returns batches sent."""
        with self._cond:
            if not self.online:
                return 0
            start = (from_seq or self.acked_seq + 1) - 1
            todo = self.journal[max(0, start) :]
        topic = topics.kiosk_topic(self.kiosk_id, Channel.EVENTS)
        sent = 0
        for i in range(0, len(todo), self.batch_size):
            chunk = tuple(todo[i : i + self.batch_size])
            payload = encode(EventBatch(kiosk_id=self.kiosk_id, events=chunk))
            if self.publish_hook is not None:
                self.publish_hook(topic, payload)
            else:
                self._publish(topic, payload)
            sent += 1
        return sent

    def publish_now(self, topic: str, payload: bytes) -> None:
        """Publish at once, bypassing ``publish_hook`` (the hook's own way out)."""
        self._publish(topic, payload)

    def send_raw(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Publish anything (tests of bad input)."""
        client = self._client
        assert client is not None
        client.publish(topic, payload, qos=qos).wait_for_publish(5)

    # -- downstream ---------------------------------------------------------------------------

    def _on_message(self, _client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            message = decode(msg.payload)
        except Exception as exc:  # a test driver must survive anything the broker hands it
            log.warning(
                "mini kiosk %s ignored a bad message on %s: %s", self.kiosk_id, msg.topic, exc
            )
            return
        resend_from: int | None = None
        with self._cond:
            stamp = getattr(message, "hlc_ms", None)
            if isinstance(stamp, int) and stamp:
                self.hlc = merge(self.hlc, HLC(stamp, getattr(message, "hlc_c", 0)), self.clock())
            if isinstance(message, Ack):
                self.acks.append(message)
                self.acked_seq = max(self.acked_seq, message.acked_seq)
                resend_from = message.resend_from
            elif isinstance(message, MemberUpdate):
                self._apply_members(message)
            elif isinstance(message, RuleBundleMessage):
                b = message.bundle
                self.bundles_received.append(b)
                if (
                    not b.store_ids or self.store_id in b.store_ids
                ) and b.version > self.versions.rules:
                    self.bundle = b
                    self.versions = self.versions.model_copy(update={"rules": b.version})
            elif isinstance(message, DenyListUpdate):
                self._apply_deny(message)
            elif isinstance(message, ClaimResult):
                self.claims[message.claim_id] = message
            self._cond.notify_all()
        if resend_from is not None:
            self.flush(resend_from)
        if self.need_sync_pending():
            self.request_sync()

    def need_sync_pending(self) -> bool:
        """True once after a delta did not fit our version (then we ask for a sync)."""
        with self._cond:
            if self.need_sync:
                self.need_sync = 0
                return True
            return False

    def _apply_members(self, m: MemberUpdate) -> None:
        if m.store_id != self.store_id or m.version <= self.versions.members:
            return
        ours = m.included_seq.get(self.kiosk_id, 0)
        if not m.full:
            if m.base_version != self.versions.members:
                self.need_sync = 1
                return
            for record in m.members:
                self.members[record.member_id] = _Cached(record, ours)
            for member_id in m.removed:
                self.members.pop(member_id, None)
            self._set_members_version(m.version, ours)
            return
        chunks = self.staged.setdefault(m.version, {})
        chunks[m.chunk] = m
        if len(chunks) == m.chunks:
            self.members = {
                r.member_id: _Cached(r, ours) for c in chunks.values() for r in c.members
            }
            self.staged = {v: c for v, c in self.staged.items() if v > m.version}
            self._set_members_version(m.version, ours)

    def _set_members_version(self, version: int, included: int) -> None:
        self.versions = self.versions.model_copy(update={"members": version})
        self.confirmed_seq = max(self.confirmed_seq, included)

    def _apply_deny(self, d: DenyListUpdate) -> None:
        if d.version <= self.versions.deny:
            return
        if d.full:
            self.deny = {}
        elif d.base_version != self.versions.deny:
            self.need_sync = 1
            return
        for entry in d.added:
            self.deny[entry.uid] = entry
        for uid in d.removed:
            self.deny.pop(uid, None)
        self.versions = self.versions.model_copy(update={"deny": d.version})

    # -- waiting ------------------------------------------------------------------------------

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait until ``condition()`` holds (re-checked on every message); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
            return True

    def wait_acked(self, timeout: float = 15.0) -> bool:
        """Wait until every journal event is acknowledged."""
        return self.wait_for(lambda: self.acked_seq >= len(self.journal), timeout)

    def wait_settled(self, timeout: float = 15.0) -> bool:
        """Wait until every event is acknowledged and folded into the cached records."""
        return self.wait_for(
            lambda: self.acked_seq >= len(self.journal) and not self.pending(), timeout
        )


def _coupon_result(view: MemberView, coupon_id: str, now_ms: int) -> TapResult:
    ledger = view.ledger()
    coupon = ledger.find_coupon(coupon_id)
    return TapResult(
        action="coupon_redeem",
        member_id=view.record.member_id,
        display_name=view.record.display_name,
        tier=view.record.tier,
        points_balance=ledger.points_available(now_ms),
        coupon_title=coupon.title if coupon else None,
        checkins=ledger.checkins,
    )
