"""Builders for ledger values used across the test suite (members, passes, bundles, events).

Plain functions with sensible defaults so each test states only what matters to it.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence

from shared.events import (
    HQ_SOURCE,
    CouponIssue,
    CredentialKind,
    CredentialRef,
    Event,
    EventBody,
    PassIssue,
)
from shared.model import (
    ClassSession,
    CouponKind,
    CouponState,
    MemberLedger,
    MemberRecord,
    OfflineLimits,
    PassKind,
    PassState,
    Reward,
    RuleBundle,
    Rules,
    first_use_terms,
)

T0 = 1_767_240_000_000  # 2026-01-01T04:00:00Z = 12:00 in Asia/Shanghai
HOUR = 3_600_000
DAY = 24 * HOUR
_ids = itertools.count(1)


def event_id() -> str:
    """A fresh event id."""
    return uuid.uuid4().hex


def punch_pass(
    pass_id: str = "p1",
    sessions: int = 10,
    *,
    class_types: Sequence[str] = ("yoga",),
    store_ids: Sequence[str] = (),
    valid_from_ms: int = T0 - 30 * DAY,
    valid_until_ms: int = T0 + 60 * DAY,
    used: int = 0,
    frozen: bool = False,
) -> PassState:
    """A punch pass (计次卡)."""
    return PassState(
        pass_id=pass_id,
        kind=PassKind.PUNCH,
        name=f"{sessions}-session pass",
        class_types=tuple(class_types),
        store_ids=tuple(store_ids),
        valid_from_ms=valid_from_ms,
        valid_until_ms=valid_until_ms,
        sessions_total=sessions,
        sessions_used=used,
        frozen=frozen,
    )


def time_pass(pass_id: str = "t1", *, class_types: Sequence[str] = ()) -> PassState:
    """A month card: unlimited entries in its period."""
    return PassState(
        pass_id=pass_id,
        kind=PassKind.TIME,
        name="Month card",
        class_types=tuple(class_types),
        valid_from_ms=T0 - 10 * DAY,
        valid_until_ms=T0 + 20 * DAY,
    )


def first_use_pass(
    pass_id: str = "f1",
    *,
    days: int = 30,
    sold_ms: int = T0 - DAY,
    class_types: Sequence[str] = (),
    deadline_days: int = 90,
    timezone: str = "Asia/Shanghai",
) -> PassState:
    """A month card sold to start at its first use (not used yet)."""
    valid_from, valid_until, terms = first_use_terms(sold_ms, days, timezone, deadline_days)
    return PassState(
        pass_id=pass_id,
        kind=PassKind.TIME,
        name="Month card (first use)",
        class_types=tuple(class_types),
        valid_from_ms=valid_from,
        valid_until_ms=valid_until,
        first_use=terms,
    )


def coupon(
    coupon_id: str = "c1",
    *,
    store_ids: Sequence[str] = (),
    valid_from_ms: int = T0 - DAY,
    valid_until_ms: int = T0 + 30 * DAY,
) -> CouponState:
    """A single-use cash voucher."""
    return CouponState(
        coupon_id=coupon_id,
        campaign_id="camp1",
        kind=CouponKind.VOUCHER,
        title="¥20 voucher",
        value=2000,
        store_ids=tuple(store_ids),
        valid_from_ms=valid_from_ms,
        valid_until_ms=valid_until_ms,
    )


def member(
    member_id: str = "m1",
    *,
    cards: Sequence[str] = ("04A1B2C3D4E5F6",),
    ledger: MemberLedger | None = None,
    tier: str = "basic",
) -> MemberRecord:
    """A member record as a kiosk caches it."""
    return MemberRecord(
        member_id=member_id,
        display_name="李*华",
        tier=tier,
        cards=tuple(cards),
        ledger=ledger or MemberLedger(),
    )


def yoga_class(
    class_session_id: str = "yoga-0900",
    *,
    store_id: str = "s1",
    starts_ms: int = T0 + 10 * 60_000,
    class_type: str = "yoga",
) -> ClassSession:
    """A class starting ten minutes after T0 (sign-in open at T0)."""
    return ClassSession(
        class_session_id=class_session_id,
        class_type=class_type,
        store_id=store_id,
        title_zh="流瑜伽",
        title_en="Flow yoga",
        starts_ms=starts_ms,
        ends_ms=starts_ms + HOUR,
        capacity=30,
    )


def bundle(
    *,
    classes: Sequence[ClassSession] = (),
    offline: OfflineLimits | None = None,
    version: int = 1,
    **rules: object,
) -> RuleBundle:
    """A rule bundle with a small reward catalogue."""
    base = Rules(**rules) if rules else Rules()  # type: ignore[arg-type]
    if offline is not None:
        base = base.model_copy(update={"offline": offline})
    return RuleBundle(
        version=version,
        rules=base,
        classes=tuple(classes),
        rewards=(
            Reward(reward_id="water", title_zh="矿泉水", title_en="Water", points_cost=20),
            Reward(reward_id="towel", title_zh="毛巾", title_en="Towel", points_cost=200),
        ),
    )


def hq_event(seq: int, member_id: str, body: EventBody, at_ms: int = T0 - DAY) -> Event:
    """A coordinator (hq) fact."""
    return Event(
        event_id=event_id(),
        kiosk_id=HQ_SOURCE,
        seq=seq,
        hlc_ms=at_ms,
        wall_ms=at_ms,
        member_id=member_id,
        body=body,
    )


def issue_pass(seq: int, member_id: str, state: PassState) -> Event:
    """hq event selling a pass."""
    return hq_event(seq, member_id, PassIssue(pass_state=state))


def issue_coupon(seq: int, member_id: str, state: CouponState) -> Event:
    """hq event issuing a coupon."""
    return hq_event(seq, member_id, CouponIssue(coupon=state))


def kiosk_event(
    kiosk_id: str,
    seq: int,
    member_id: str | None,
    body: EventBody,
    *,
    at_ms: int = T0,
    store_id: str = "s1",
    offline: bool = False,
) -> Event:
    """A kiosk fact."""
    return Event(
        event_id=event_id(),
        kiosk_id=kiosk_id,
        store_id=store_id,
        seq=seq,
        hlc_ms=at_ms,
        hlc_c=0,
        wall_ms=at_ms,
        member_id=member_id,
        offline=offline,
        credential=CredentialRef(kind=CredentialKind.CARD, uid="04A1B2C3D4E5F6"),
        body=body,
    )
