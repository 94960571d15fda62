"""The reference fold: member balances are what events make of them.

``apply`` is the one function that turns an event into a new :class:`MemberLedger`. The kiosk
uses it to lay its own not-yet-confirmed events over the last server snapshot; the
coordinator uses it to build authoritative balances; tests use it as the reference. It never
refuses an event: a fact that overdraws a pass or reuses a coupon is applied (balances may go
negative) and reported as an :class:`Anomaly` for reconciliation.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from shared import money
from shared.events import (
    Adjustment,
    BonusExpire,
    CheckIn,
    ClassSignIn,
    CouponIssue,
    CouponRedeem,
    Event,
    PassIssue,
    PassUpdate,
    PointsExpire,
    PointsRedeem,
    Purchase,
    PurchaseMethod,
    Reversal,
    StoredValueRefund,
    StoredValueSpend,
    StoredValueTopUp,
)
from shared.model import (
    DAY_MS,
    CouponState,
    Frozen,
    Id,
    MemberLedger,
    MoneyMark,
    PassState,
    PointsLot,
    SignIn,
    Text,
)
from shared.reasons import RejectReason

DEFAULT_POINTS_EXPIRY_MS = 365 * DAY_MS
SIGNIN_MEMORY = 64
"""Class sign-ins remembered per member (enough for any double-tap question)."""
LOT_RETENTION_MS = 800 * DAY_MS
"""Spent or expired lots are kept this long after earning (tier windows look back at them)."""


class AnomalyKind(StrEnum):
    """What went wrong when a fact was folded."""

    PASS_OVERDRAWN = "pass_overdrawn"
    PASS_INVALID_AT_USE = "pass_invalid_at_use"
    PASS_UNKNOWN = "pass_unknown"
    COUPON_REUSED = "coupon_reused"
    COUPON_INVALID_AT_USE = "coupon_invalid_at_use"
    COUPON_UNKNOWN = "coupon_unknown"
    POINTS_OVERDRAWN = "points_overdrawn"
    STORED_VALUE_OVERDRAWN = "stored_value_overdrawn"


class Anomaly(Frozen):
    """A fact that the ledger recorded but that needs a human decision."""

    kind: AnomalyKind
    event_id: Id
    member_id: Id | None
    subject_id: Id | None = None
    """The pass, coupon, ``points`` or ``stored_value`` the anomaly is about."""
    amount: int = 0
    """How far over: sessions, uses, points or fen."""
    detail: Text = ""


def _add_lot(
    ledger: MemberLedger, lot_id: str, at_ms: int, expires_ms: int, points: int, *, for_tier: bool
) -> MemberLedger:
    return ledger.model_copy(
        update=_lot_changes(ledger, lot_id, at_ms, expires_ms, points, for_tier=for_tier)
    )


def _lot_changes(
    ledger: MemberLedger, lot_id: str, at_ms: int, expires_ms: int, points: int, *, for_tier: bool
) -> dict[str, object]:
    """The ledger fields a new points lot changes (debt is paid from it first)."""
    pay_debt = min(ledger.points_debt, points)
    lot = PointsLot(
        lot_id=lot_id,
        earned_ms=at_ms,
        expires_ms=expires_ms,
        amount=points if for_tier else 0,
        remaining=points - pay_debt,
    )
    lots = tuple(
        existing
        for existing in ledger.points_lots
        if existing.remaining > 0 or existing.earned_ms + LOT_RETENTION_MS > at_ms
    )
    return {
        "points_lots": (*lots, lot),
        "points_debt": ledger.points_debt - pay_debt,
        "points_earned_total": ledger.points_earned_total + (points if for_tier else 0),
    }


def _mark(ledger: MemberLedger, at_ms: int, *, spend: int = 0, topup: int = 0) -> MemberLedger:
    """Note money a fact put in, for tiers earned on money (``Rules.tier_basis``); marks are
    kept as long as points lots."""
    if spend == 0 and topup == 0:
        return ledger
    kept = tuple(m for m in ledger.money_marks if m.at_ms + LOT_RETENTION_MS > at_ms)
    mark = MoneyMark(at_ms=at_ms, spend_fen=spend, topup_fen=topup)
    return ledger.model_copy(update={"money_marks": (*kept, mark)})


def _paid_apart(method: PurchaseMethod | None) -> bool:
    """True when a pass's price was paid by a recorded method other than stored value (a
    stored-value payment is its own ``sv_spend``, counted there; None: granted or unknown)."""
    return method is not None and method is not PurchaseMethod.STORED_VALUE


def _spend(ledger: MemberLedger, at_ms: int, points: int) -> tuple[MemberLedger, int]:
    """Consume ``points`` from live lots, soonest-expiring first; returns (ledger, shortfall)."""
    need = points
    order = sorted(
        (i for i, lot in enumerate(ledger.points_lots) if lot.remaining > 0 and lot.live_at(at_ms)),
        key=lambda i: (ledger.points_lots[i].expires_ms, ledger.points_lots[i].lot_id),
    )
    lots = list(ledger.points_lots)
    for i in order:
        if need == 0:
            break
        take = min(need, lots[i].remaining)
        lots[i] = lots[i].model_copy(update={"remaining": lots[i].remaining - take})
        need -= take
    return (
        ledger.model_copy(
            update={"points_lots": tuple(lots), "points_debt": ledger.points_debt + need}
        ),
        need,
    )


def _replace_pass(ledger: MemberLedger, updated: PassState) -> MemberLedger:
    return ledger.model_copy(update={"passes": _passes_with(ledger, updated)})


def _passes_with(ledger: MemberLedger, updated: PassState) -> tuple[PassState, ...]:
    return tuple(updated if p.pass_id == updated.pass_id else p for p in ledger.passes)


def _replace_coupon(ledger: MemberLedger, updated: CouponState) -> MemberLedger:
    coupons = tuple(updated if c.coupon_id == updated.coupon_id else c for c in ledger.coupons)
    return ledger.model_copy(update={"coupons": coupons})


_PASS_PROBLEM_WORDS = {
    RejectReason.PASS_FROZEN: "frozen",
    RejectReason.PASS_NOT_YET_ACTIVE: "not yet active",
    RejectReason.PASS_EXPIRED: "expired",
}


def _pass_invalid_at_use(p: PassState, at_ms: int, store_id: str | None, class_type: str) -> str:
    """Why a pass could not be used for a sign-in that happened anyway ("" when it could);
    the rule is :meth:`PassState.problem_at` (sessions are the overdraw check's business)."""
    problem = p.problem_at(at_ms, store_id=store_id, class_type=class_type, sessions=0)
    if problem is None:
        return ""
    if problem is RejectReason.NO_VALID_PASS:
        if not p.covers(None, store_id):
            return f"not valid in store {store_id}"
        return f"not for class type {class_type}"
    return _PASS_PROBLEM_WORDS.get(problem, problem.value)


def apply(ledger: MemberLedger, event: Event) -> tuple[MemberLedger, tuple[Anomaly, ...]]:
    """Fold one event into a member's ledger; returns the new ledger and any anomalies."""
    body = event.body
    at = event.hlc_ms
    anomalies: list[Anomaly] = []

    def flag(kind: AnomalyKind, subject: str | None, amount: int, detail: str) -> None:
        anomalies.append(
            Anomaly(
                kind=kind,
                event_id=event.event_id,
                member_id=event.member_id,
                subject_id=subject,
                amount=amount,
                detail=detail[:200],
            )
        )

    # Each branch copies the ledger once with all its changes (copies dominate a fold's cost).
    if isinstance(body, CheckIn):
        visit: dict[str, object] = {
            "checkins": ledger.checkins + 1,
            "last_checkin_ms": max(at, ledger.last_checkin_ms or 0),
        }
        if body.points > 0:
            expires = body.points_expires_ms or at + DEFAULT_POINTS_EXPIRY_MS
            visit.update(
                _lot_changes(ledger, event.event_id, at, expires, body.points, for_tier=True)
            )
            visit["last_reward_day"] = body.reward_day
        if body.first_use_of is not None:
            started = ledger.find_pass(body.first_use_of)
            if started is not None:
                visit["passes"] = _passes_with(ledger, started.first_used(at, event.event_id))
        ledger = ledger.model_copy(update=visit)

    elif isinstance(body, ClassSignIn):
        signed: dict[str, object] = {}
        # A drop-in names no pass: its linked sv_spend paid for it.
        p = ledger.find_pass(body.pass_id) if body.pass_id is not None else None
        if p is None and body.pass_id is not None:
            flag(AnomalyKind.PASS_UNKNOWN, body.pass_id, body.sessions, "pass not on this member")
        elif p is not None:
            short = p.sessions_short(body.sessions)
            if short:
                flag(
                    AnomalyKind.PASS_OVERDRAWN,
                    p.pass_id,
                    short,
                    f"{p.name}: {p.sessions_left} session(s) left, {body.sessions} used",
                )
            problem = _pass_invalid_at_use(p, at, event.store_id, body.class_type)
            if problem:
                flag(AnomalyKind.PASS_INVALID_AT_USE, p.pass_id, 0, f"{p.name}: {problem}")
            used = p.first_used(at, event.event_id).model_copy(
                update={"sessions_used": p.sessions_used + body.sessions}
            )
            signed["passes"] = _passes_with(ledger, used)
        signin = SignIn(
            class_session_id=body.class_session_id,
            pass_id=body.pass_id,
            event_id=event.event_id,
            at_ms=at,
        )
        signed["signins"] = (*ledger.signins, signin)[-SIGNIN_MEMORY:]
        ledger = ledger.model_copy(update=signed)

    elif isinstance(body, PointsRedeem):
        ledger, short = _spend(ledger, at, body.points)
        if short:
            flag(
                AnomalyKind.POINTS_OVERDRAWN,
                "points",
                short,
                f"redeemed {body.points} points with {body.points - short} available",
            )

    elif isinstance(body, CouponRedeem):
        c = ledger.find_coupon(body.coupon_id)
        if c is None:
            flag(AnomalyKind.COUPON_UNKNOWN, body.coupon_id, 1, "coupon not on this member")
        else:
            if c.is_used:
                flag(
                    AnomalyKind.COUPON_REUSED,
                    c.coupon_id,
                    1,
                    f"{c.title}: single-use coupon already redeemed by event {c.redeemed_event_id}",
                )
            if c.validity_problem(at, event.store_id) is not None:
                flag(
                    AnomalyKind.COUPON_INVALID_AT_USE,
                    c.coupon_id,
                    0,
                    f"{c.title}: not valid then/there",
                )
            ledger = _replace_coupon(
                ledger,
                c.model_copy(
                    update={
                        "redeem_count": c.redeem_count + 1,
                        "redeemed_event_id": c.redeemed_event_id or event.event_id,
                    }
                ),
            )

    elif isinstance(body, Reversal):
        ledger = _reverse(ledger, event, body)

    elif isinstance(body, Adjustment):
        if body.points_delta > 0:
            expires = body.points_expires_ms or at + DEFAULT_POINTS_EXPIRY_MS
            ledger = _add_lot(
                ledger, event.event_id, at, expires, body.points_delta, for_tier=False
            )
        elif body.points_delta < 0:
            ledger, _ = _spend(ledger, at, -body.points_delta)
        if body.pass_id and body.sessions_delta:
            p = ledger.find_pass(body.pass_id)
            if p is not None:
                ledger = _replace_pass(
                    ledger,
                    p.model_copy(update={"sessions_used": p.sessions_used - body.sessions_delta}),
                )
        if body.principal_delta_fen:
            value = money.adjust(ledger.stored_value, body.principal_delta_fen)
            ledger = ledger.model_copy(update={"stored_value": value})
        if body.coupon_id and body.coupon_uses_delta:
            c = ledger.find_coupon(body.coupon_id)
            if c is not None:
                count = max(0, c.redeem_count + body.coupon_uses_delta)
                ledger = _replace_coupon(
                    ledger,
                    c.model_copy(
                        update={
                            "redeem_count": count,
                            "redeemed_event_id": c.redeemed_event_id if count else None,
                        }
                    ),
                )

    elif isinstance(body, PassIssue):
        if ledger.find_pass(body.pass_state.pass_id) is None:
            ledger = ledger.model_copy(update={"passes": (*ledger.passes, body.pass_state)})
            if _paid_apart(body.payment_method):
                ledger = _mark(ledger, at, spend=body.pass_state.price_fen)

    elif isinstance(body, PassUpdate):
        p = ledger.find_pass(body.pass_id)
        if p is not None:
            changes: dict[str, object] = {}
            if body.frozen is not None:
                changes["frozen"] = body.frozen
            if body.valid_until_ms is not None:
                changes["valid_until_ms"] = body.valid_until_ms
            if body.sessions_total is not None:
                changes["sessions_total"] = body.sessions_total
            ledger = _replace_pass(ledger, p.model_copy(update=changes))
            if _paid_apart(body.payment_method):
                ledger = _mark(ledger, at, spend=body.price_fen)

    elif isinstance(body, CouponIssue):
        if ledger.find_coupon(body.coupon.coupon_id) is None:
            ledger = ledger.model_copy(update={"coupons": (*ledger.coupons, body.coupon)})

    elif isinstance(body, PointsExpire):
        lots = tuple(
            lot.model_copy(update={"remaining": 0}) if lot.lot_id == body.lot_id else lot
            for lot in ledger.points_lots
        )
        ledger = ledger.model_copy(update={"points_lots": lots})

    elif isinstance(body, Purchase):
        if body.points > 0:
            expires = body.points_expires_ms or at + DEFAULT_POINTS_EXPIRY_MS
            ledger = _add_lot(ledger, event.event_id, at, expires, body.points, for_tier=True)
        ledger = _mark(ledger, at, spend=body.total_fen)

    elif isinstance(body, StoredValueTopUp | StoredValueSpend | StoredValueRefund | BonusExpire):
        if isinstance(body, StoredValueTopUp) and body.points > 0:
            expires = body.points_expires_ms or at + DEFAULT_POINTS_EXPIRY_MS
            ledger = _add_lot(ledger, event.event_id, at, expires, body.points, for_tier=True)
        value, short, what = _apply_money(ledger.stored_value, event)
        if short:
            flag(AnomalyKind.STORED_VALUE_OVERDRAWN, "stored_value", short, what)
        ledger = ledger.model_copy(update={"stored_value": value})
        if isinstance(body, StoredValueTopUp):
            ledger = _mark(ledger, at, topup=body.paid_fen)
        elif isinstance(body, StoredValueRefund):
            ledger = _mark(ledger, at, topup=-body.amount_fen)
        elif isinstance(body, StoredValueSpend) and body.purchase_id is None:
            ledger = _mark(ledger, at, spend=body.amount_fen)

    # Rejected: recorded for audit, no balance effect.
    return ledger, tuple(anomalies)


def _apply_money(value: money.StoredValue, event: Event) -> tuple[money.StoredValue, int, str]:
    """A money event's effect on the stored value: (value, fen short, what happened)."""
    body = event.body
    if isinstance(body, StoredValueTopUp):
        after = money.top_up(
            value, event.event_id, body.paid_fen, body.bonus_fen, event.hlc_ms,
            body.bonus_expires_ms,
        )  # fmt: skip
        return after, 0, ""
    if isinstance(body, StoredValueSpend):
        available = value.available_fen(event.hlc_ms)
        after, split = money.split_spend(value, body.amount_fen, event.hlc_ms, body.order)
        return after, split.short_fen, f"spent {body.amount_fen} fen with {available} available"
    if isinstance(body, StoredValueRefund):
        principal = value.principal_fen
        after, short = money.refund(value, body.amount_fen)
        return after, short, f"refunded {body.amount_fen} fen with {principal} principal"
    if isinstance(body, BonusExpire):
        return money.expire_bonus(value, body.lot_id), 0, ""
    return value, 0, ""  # pragma: no cover - the caller passes money events only


def _reverse(ledger: MemberLedger, event: Event, body: Reversal) -> MemberLedger:
    ledger = _reverse_effects(ledger, event, body)
    # An undone tap that started a first-use pass started nothing: the pass waits again.
    started = [
        p
        for p in ledger.passes
        if p.first_use is not None and p.first_use.started_by == body.target_event_id
    ]
    for p in started:
        ledger = _replace_pass(ledger, p.unstarted(body.target_event_id))
    return ledger


def _reverse_effects(ledger: MemberLedger, event: Event, body: Reversal) -> MemberLedger:
    at = event.hlc_ms
    if body.target_kind == "checkin":
        ledger = ledger.model_copy(update={"checkins": max(0, ledger.checkins - 1)})
        if body.points:
            lots = list(ledger.points_lots)
            short = body.points
            for i, lot in enumerate(lots):
                if lot.lot_id == body.target_event_id:
                    take = min(lot.remaining, body.points)
                    lots[i] = lot.model_copy(
                        update={
                            "remaining": lot.remaining - take,
                            "amount": max(0, lot.amount - body.points),
                        }
                    )
                    short = body.points - take
            ledger = ledger.model_copy(
                update={
                    "points_lots": tuple(lots),
                    "points_debt": ledger.points_debt + short,
                    "points_earned_total": max(0, ledger.points_earned_total - body.points),
                    "last_reward_day": None,
                }
            )
    elif body.target_kind == "class_signin":
        if body.pass_id and body.sessions:
            p = ledger.find_pass(body.pass_id)
            if p is not None:
                ledger = _replace_pass(
                    ledger, p.model_copy(update={"sessions_used": p.sessions_used - body.sessions})
                )
        signins = tuple(s for s in ledger.signins if s.event_id != body.target_event_id)
        ledger = ledger.model_copy(update={"signins": signins})
    elif body.target_kind == "points_redeem":
        expires = body.points_expires_ms or at + DEFAULT_POINTS_EXPIRY_MS
        ledger = _add_lot(ledger, event.event_id, at, expires, body.points, for_tier=False)
    elif body.target_kind == "coupon_redeem" and body.coupon_id:
        c = ledger.find_coupon(body.coupon_id)
        if c is not None:
            count = max(0, c.redeem_count - 1)
            ledger = _replace_coupon(
                ledger,
                c.model_copy(
                    update={
                        "redeem_count": count,
                        "redeemed_event_id": c.redeemed_event_id if count else None,
                    }
                ),
            )
    return ledger


def fold(ledger: MemberLedger, events: Iterable[Event]) -> tuple[MemberLedger, tuple[Anomaly, ...]]:
    """Apply ``events`` in the order given; returns the ledger and every anomaly raised."""
    found: list[Anomaly] = []
    for event in events:
        ledger, anomalies = apply(ledger, event)
        found.extend(anomalies)
    return ledger, tuple(found)


def fold_sorted(
    ledger: MemberLedger, events: Iterable[Event]
) -> tuple[MemberLedger, tuple[Anomaly, ...]]:
    """Apply ``events`` in the ledger's total order (HLC, source, seq): the reference fold."""
    return fold(ledger, sorted(events, key=Event.sort_key))
