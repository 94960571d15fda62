"""Seeding a kiosk ledger for the kiosk tests, as the coordinator would have: rules, members.

The data is what a real bundle and snapshot carry (members with cards, passes, coupons,
points; a class whose sign-in window is open now), applied through the ledger's own
downstream methods, so the kiosk under test starts exactly as after a sync.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from device.ledger import KioskLedger
from device.ports import SystemClock
from shared.events import (
    HQ_SOURCE,
    CheckIn,
    CouponIssue,
    Event,
    EventBody,
    PassIssue,
    StoredValueTopUp,
)
from shared.fold import fold
from shared.model import (
    ClassSession,
    CouponKind,
    CouponState,
    MemberLedger,
    MemberRecord,
    PassKind,
    PassState,
    QrKey,
    Reward,
    RuleBundle,
    Rules,
)
from shared.money import PaymentMethod
from shared.protocol import MemberUpdate, RuleBundleMessage

DAY = 86_400_000
MIN = 60_000


@dataclass(frozen=True)
class Person:
    """A seeded member and the card they tap."""

    member_id: str
    display_name: str
    card: str
    lang: str
    points: int


ANNA = Person("M-1001", "李*华", "04A1B2C3D4E5F6", "zh", 250)
BOB = Person("M-1002", "Bob S.", "04B0B0B0B0B0B0", "en", 40)
STUDENT = Person("M-2001", "王*明", "04C1C2C3C4C5C6", "zh", 0)
STUDENT2 = Person("M-2002", "Chen Y.", "04D1D2D3D4D5D6", "en", 0)
STAFF_CARD = "04E1E2E3E4E5E6"
WALKIN = Person("M-3001", "赵*", "04A7A7A7A7A7A7", "zh", 0)
"""No pass, ¥300 of stored value: pays a drop-in class (only seeded when asked for)."""
ANNA_STORED_VALUE = 30_000
"""Anna's stored value (¥300, principal) for the staff charge screen."""
UNKNOWN_CARD = "04F0F0F0F0F0F0"
CLASS_ID = "yoga-today"
STORE_COUPON = "cpn-anna-store"
"""Valid only in the kiosk's store: redeemable offline (store-scoped policy)."""
CHAIN_COUPON = "cpn-anna-chain"
"""Valid in every store: needs an online claim from the coordinator."""


def _hq(seq: int, member_id: str, body: EventBody, at_ms: int) -> Event:
    return Event(
        event_id=uuid.uuid4().hex,
        kiosk_id=HQ_SOURCE,
        seq=seq,
        hlc_ms=at_ms,
        wall_ms=at_ms,
        member_id=member_id,
        body=body,
    )


def member_record(person: Person, now_ms: int, *, store_id: str) -> MemberRecord:
    """The member's cached record: points, and a pass and a coupon where it matters."""
    events: list[Event] = []
    seq = 0
    past = now_ms - 3 * DAY
    if person.points:
        seq += 1
        events.append(
            _hq(
                seq,
                person.member_id,
                CheckIn(
                    points=person.points,
                    reward_day="2000-01-01",
                    points_expires_ms=now_ms + 300 * DAY,
                ),
                past,
            )
        )
    if person in (STUDENT, STUDENT2, ANNA):
        seq += 1
        events.append(
            _hq(
                seq,
                person.member_id,
                PassIssue(
                    pass_state=PassState(
                        pass_id=f"pass-{person.member_id}",
                        kind=PassKind.PUNCH,
                        name="10次瑜伽卡",
                        class_types=("yoga",),
                        valid_from_ms=now_ms - 30 * DAY,
                        valid_until_ms=now_ms + 60 * DAY,
                        sessions_total=10,
                        sessions_used=2,
                    )
                ),
                past,
            )
        )
    if person is ANNA:
        seq += 1
        events.append(
            _hq(
                seq,
                person.member_id,
                CouponIssue(
                    coupon=CouponState(
                        coupon_id=STORE_COUPON,
                        campaign_id="spring",
                        kind=CouponKind.VOUCHER,
                        title="¥20 代金券",
                        value=2000,
                        store_ids=(store_id,),
                        valid_from_ms=now_ms - DAY,
                        valid_until_ms=now_ms + 30 * DAY,
                    )
                ),
                past,
            )
        )
        seq += 1
        events.append(
            _hq(
                seq,
                person.member_id,
                CouponIssue(
                    coupon=CouponState(
                        coupon_id=CHAIN_COUPON,
                        campaign_id="trial",
                        kind=CouponKind.TRIAL,
                        title="免费体验课",
                        store_ids=(),  # every store: needs the coordinator's claim
                        valid_from_ms=now_ms - DAY,
                        valid_until_ms=now_ms + 30 * DAY,
                    )
                ),
                past,
            )
        )
    if person in (ANNA, WALKIN):
        seq += 1
        topup = StoredValueTopUp(
            paid_fen=ANNA_STORED_VALUE, method=PaymentMethod.WECHAT, staff_user="hq"
        )
        events.append(_hq(seq, person.member_id, topup, past))
    ledger, _ = fold(MemberLedger(), events)
    return MemberRecord(
        member_id=person.member_id,
        display_name=person.display_name,
        cards=(person.card,),
        lang=person.lang,
        ledger=ledger,
    )


def bundle(
    now_ms: int,
    *,
    store_id: str,
    with_class: bool,
    qr_keys: tuple[QrKey, ...] = (),
    class_room: str | None = None,
    drop_in_fen: int = 0,
) -> RuleBundle:
    """Rules with a reward catalogue and, optionally, a yoga class whose sign-in is open
    (held in ``class_room``, where a door station may sign students in). A ``drop_in_fen``
    prices the class for walk-ins and makes the chain class-only (no store visitors), so a
    tap without a pass pays it from stored value."""
    classes: tuple[ClassSession, ...] = ()
    if with_class:
        classes = (
            ClassSession(
                class_session_id=CLASS_ID,
                class_type="yoga",
                store_id=store_id,
                title_zh="流瑜伽",
                title_en="Flow yoga",
                starts_ms=now_ms + 10 * MIN,
                ends_ms=now_ms + 70 * MIN,
                signin_opens_before_s=3600,
                signin_closes_after_s=900,
                capacity=20,
                instructor="Lin",
                room=class_room,
                drop_in_price_fen=drop_in_fen,
            ),
        )
    return RuleBundle(
        version=1,
        rules=Rules(
            points_per_checkin=10, undo_window_s=600, checkin_without_class_pass=not drop_in_fen
        ),
        classes=classes,
        qr_keys=qr_keys,
        rewards=(
            Reward(reward_id="water", title_zh="矿泉水", title_en="Water", points_cost=20),
            Reward(reward_id="towel", title_zh="毛巾", title_en="Towel", points_cost=200),
            Reward(reward_id="mat", title_zh="瑜伽垫", title_en="Yoga mat", points_cost=5000),
        ),
    )


def seed_ledger(
    path: Path,
    *,
    kiosk_id: str,
    store_id: str,
    people: tuple[Person, ...] = (ANNA, BOB, STUDENT, STUDENT2),
    with_class: bool = False,
    qr_keys: tuple[QrKey, ...] = (),
    class_room: str | None = None,
    drop_in_fen: int = 0,
) -> None:
    """Create the kiosk's ledger with a rule bundle and a member snapshot, then close it."""
    now_ms = time.time_ns() // 1_000_000
    ledger = KioskLedger.open(path, kiosk_id=kiosk_id, store_id=store_id, clock=SystemClock())
    try:
        ledger.apply_rule_bundle(
            RuleBundleMessage(
                bundle=bundle(
                    now_ms,
                    store_id=store_id,
                    with_class=with_class,
                    qr_keys=qr_keys,
                    class_room=class_room,
                    drop_in_fen=drop_in_fen,
                )
            )
        )
        ledger.apply_member_update(
            MemberUpdate(
                store_id=store_id,
                version=1,
                full=True,
                chunk=0,
                chunks=1,
                members=tuple(member_record(p, now_ms, store_id=store_id) for p in people),
            )
        )
    finally:
        ledger.close()
