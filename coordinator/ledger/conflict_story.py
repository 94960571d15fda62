"""A conflict told for the person who must decide it, in Chinese or English.

:func:`story` lists what happened to the pass, coupon or points in ledger order — when
(store-local time), where (store and kiosk, online or offline), what, and the balance
after each step — and marks the step that went over. :func:`options` lists what each
resolution would do to the member's balance now, with the request body that does it
through ``POST /api/v1/conflicts/{id}/resolve``. Pure functions over the member's events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from coordinator.ledger.explain import Place
from coordinator.reports.period import local
from shared.events import (
    Adjustment,
    CheckIn,
    ClassSignIn,
    CouponIssue,
    CouponRedeem,
    Event,
    PassIssue,
    PassUpdate,
    PointsExpire,
    PointsRedeem,
    Reversal,
)
from shared.fold import apply
from shared.model import MemberLedger

PASS_KINDS = frozenset({"pass_overdrawn", "pass_invalid_at_use", "pass_unknown"})
COUPON_KINDS = frozenset({"coupon_reused", "coupon_invalid_at_use", "coupon_unknown"})
MAX_STEPS = 14


@dataclass(frozen=True)
class Step:
    """One thing that happened, with the balance right after it."""

    n: int
    at_ms: int
    when: str
    store_id: str | None
    kiosk_id: str
    offline: bool
    target: bool
    what: Mapping[str, str]
    """Text per language (``zh``, ``en``)."""
    after: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Option:
    """A resolution staff can choose, and what it would do."""

    key: str
    body: Mapping[str, Any]
    text: Mapping[str, str]


def _both(zh: str, en: str) -> dict[str, str]:
    return {"zh": zh, "en": en}


def _describe(event: Event) -> dict[str, str]:
    b = event.body
    if isinstance(b, PassIssue):
        p = b.pass_state
        return _both(
            f"开卡「{p.name}」，共 {p.sessions_total} 次",
            f"pass “{p.name}” issued, {p.sessions_total} session(s)",
        )
    if isinstance(b, ClassSignIn):
        return _both(
            f"上课签到（{b.class_session_id}），扣 {b.sessions} 次",
            f"class sign-in ({b.class_session_id}), {b.sessions} session(s) deducted",
        )
    if isinstance(b, CouponIssue):
        return _both(f"发券「{b.coupon.title}」", f"coupon “{b.coupon.title}” issued")
    if isinstance(b, CouponRedeem):
        if b.claim_id:
            return _both("核销优惠券（已在线确认）", "coupon redeemed (confirmed online)")
        return _both("核销优惠券（未经在线确认）", "coupon redeemed (without an online check)")
    if isinstance(b, PointsRedeem):
        return _both(f"兑换 {b.points} 积分", f"{b.points} points redeemed")
    if isinstance(b, CheckIn):
        return _both(f"签到，+{b.points} 积分", f"check-in, +{b.points} points")
    if isinstance(b, Reversal):
        return _both(
            f"店员 {b.staff_id} 撤销了一次 {b.target_kind}",
            f"staff {b.staff_id} undid a {b.target_kind}",
        )
    if isinstance(b, Adjustment):
        parts = []
        if b.sessions_delta:
            parts.append((f"课次 {b.sessions_delta:+d}", f"{b.sessions_delta:+d} session(s)"))
        if b.coupon_uses_delta:
            parts.append(
                (f"券使用次数 {b.coupon_uses_delta:+d}", f"{b.coupon_uses_delta:+d} coupon use(s)")
            )
        if b.points_delta:
            parts.append((f"积分 {b.points_delta:+d}", f"{b.points_delta:+d} points"))
        zh = "，".join(p[0] for p in parts) or "不调整余额"
        en = ", ".join(p[1] for p in parts) or "no balance change"
        return _both(f"{b.staff_user} 人工调整：{zh}", f"adjusted by {b.staff_user}: {en}")
    if isinstance(b, PassUpdate):
        return _both(f"{b.staff_user} 修改了卡", f"pass changed by {b.staff_user}")
    if isinstance(b, PointsExpire):
        return _both("积分到期", "points expired")
    return _both(event.kind, event.kind)


def _relevant(kind: str, subject: str | None, event: Event) -> bool:
    b = event.body
    if kind in PASS_KINDS:
        return (
            (isinstance(b, PassIssue) and b.pass_state.pass_id == subject)
            or (isinstance(b, ClassSignIn | PassUpdate) and b.pass_id == subject)
            or (isinstance(b, Reversal | Adjustment) and b.pass_id == subject)
        )
    if kind in COUPON_KINDS:
        return (
            (isinstance(b, CouponIssue) and b.coupon.coupon_id == subject)
            or (isinstance(b, CouponRedeem) and b.coupon_id == subject)
            or (isinstance(b, Reversal | Adjustment) and b.coupon_id == subject)
        )
    if kind == "points_overdrawn":
        return isinstance(b, PointsRedeem | CheckIn | PointsExpire) or (
            isinstance(b, Reversal | Adjustment)
            and bool(getattr(b, "points", 0) or getattr(b, "points_delta", 0))
        )
    return False


def _balance(kind: str, subject: str | None, ledger: MemberLedger, at_ms: int) -> dict[str, str]:
    if kind in PASS_KINDS and subject:
        p = ledger.find_pass(subject)
        if p is not None:
            return _both(f"剩余 {p.sessions_left} 次", f"{p.sessions_left} session(s) left")
    if kind in COUPON_KINDS and subject:
        c = ledger.find_coupon(subject)
        if c is not None:
            return _both(f"已用 {c.redeem_count} 次", f"used {c.redeem_count} time(s)")
    if kind == "points_overdrawn":
        return _both(
            f"可用 {ledger.points_available(at_ms)} 分，欠 {ledger.points_debt} 分",
            f"{ledger.points_available(at_ms)} points available, {ledger.points_debt} owed",
        )
    return {}


def story(conflict: Mapping[str, Any], events: Sequence[Event], place: Place) -> list[Step]:
    """The steps that led to the conflict, in ledger order (the last ``MAX_STEPS``)."""
    kind = str(conflict["kind"])
    subject = conflict.get("subject_id")
    target_id = conflict.get("event_id")
    ledger = MemberLedger()
    steps: list[Step] = []
    for event in sorted(events, key=Event.sort_key):
        ledger, _ = apply(ledger, event)
        is_target = event.event_id == target_id
        if not (is_target or _relevant(kind, subject, event)):
            continue
        store = place.store_of(event)
        when = local(event.hlc_ms, place.store_timezones.get(store or "", None))
        steps.append(
            Step(
                n=0,
                at_ms=event.hlc_ms,
                when=f"{when:%Y-%m-%d %H:%M:%S}",
                store_id=None if event.kiosk_id == "hq" else store,
                kiosk_id=event.kiosk_id,
                offline=event.offline,
                target=is_target,
                what=_describe(event),
                after=_balance(kind, subject, ledger, event.hlc_ms),
            )
        )
    if kind == "points_overdrawn" and target_id:
        cut = next((i for i, s in enumerate(steps) if s.target), len(steps) - 1)
        steps = steps[: cut + 1]
    steps = steps[-MAX_STEPS:]
    return [
        Step(i + 1, s.at_ms, s.when, s.store_id, s.kiosk_id, s.offline, s.target, s.what, s.after)
        for i, s in enumerate(steps)
    ]


def options(conflict: Mapping[str, Any], ledger: MemberLedger | None, now_ms: int) -> list[Option]:
    """What staff can decide for an open conflict, each with its effect on the balance now."""
    kind = str(conflict["kind"])
    subject = conflict.get("subject_id")
    amount = int(conflict.get("amount") or 0)
    accept = Option(
        "accept",
        {},
        _both("按记录接受，不调整余额", "Accept as recorded; no balance change"),
    )
    if ledger is None or conflict.get("member_id") is None:
        return [
            Option(
                "acknowledge",
                {},
                _both(
                    "确认已核实处理（不涉及会员余额）",
                    "Acknowledge: checked and handled (no member balance involved)",
                ),
            )
        ]
    if kind in PASS_KINDS and subject and (p := ledger.find_pass(subject)) is not None:
        give = max(1, amount)
        return [
            Option(
                "accept",
                {},
                _both(
                    f"按记录接受：该卡保持剩余 {p.sessions_left} 次",
                    f"Accept as recorded: the pass stays at {p.sessions_left} session(s) left",
                ),
            ),
            Option(
                "give_back",
                {"sessions_delta": give},
                _both(
                    f"退回 {give} 次：该卡变为剩余 {p.sessions_left + give} 次",
                    f"Give {give} session(s) back: "
                    f"the pass will have {p.sessions_left + give} left",
                ),
            ),
        ]
    if kind in COUPON_KINDS and subject and (c := ledger.find_coupon(subject)) is not None:
        opts = [
            Option(
                "accept",
                {},
                _both(
                    f"按记录接受：该券记为已用 {c.redeem_count} 次",
                    f"Accept as recorded: the coupon counts as used {c.redeem_count} time(s)",
                ),
            )
        ]
        if c.redeem_count > 0:
            opts.append(
                Option(
                    "forgive_use",
                    {"coupon_uses_delta": -1},
                    _both(
                        f"免除一次使用：该券记为已用 {c.redeem_count - 1} 次",
                        f"Forgive one use: the coupon will count as used "
                        f"{c.redeem_count - 1} time(s)",
                    ),
                )
            )
        return opts
    if kind == "points_overdrawn":
        debt = ledger.points_debt
        forgive = min(amount, debt) if debt else amount
        return [
            Option(
                "accept",
                {},
                _both(
                    f"保留欠款：会员欠 {debt} 分，以后赚的积分先还欠款",
                    f"Keep the debt: the member owes {debt} point(s), paid from future earnings",
                ),
            ),
            Option(
                "forgive_points",
                {"points_delta": forgive},
                _both(
                    f"免除 {forgive} 分欠款：欠款变为 {max(0, debt - forgive)} 分",
                    f"Forgive {forgive} point(s): the debt becomes {max(0, debt - forgive)}",
                ),
            ),
        ]
    return [accept]
