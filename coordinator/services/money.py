"""Stored value at the coordinator: top-ups, refunds, central charges and the balance.

Every change is an hq fact (``sv_topup``, ``sv_refund``, ``sv_spend``) folded by the same
``shared.fold`` as the kiosks' spends, recorded in the member's locked transaction with its
audit-log line. The rules are ``shared.money``'s: the bonus from the top-up tiers, the cap
per member across every store (principal after the top-up), the spend order. Top-ups and
refunds happen here only (online); a kiosk may only spend.

Front desk and integration callers use these functions directly: :func:`top_up`,
:func:`refund`, :func:`charge` (inside their own transaction) and :func:`balance`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import Field, StrictInt
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.errors import invalid
from coordinator.ledger.hq_events import HqFact
from coordinator.ledger.jsonrows import ledger_from_row
from coordinator.ledger.member_fold import ensure_member_states, lock_member_states
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services import cross_store
from coordinator.services.common import (
    Body,
    Out,
    audit,
    check_member_access,
    member_row,
    store_exists,
)
from shared.events import StoredValueRefund, StoredValueSpend, StoredValueTopUp
from shared.model import Id, MemberLedger, Rules
from shared.money import PaymentMethod, StoredValue, TopUpTier, topup_problem
from shared.pricing import topup_points

Amount = StrictInt
"""Fen as a JSON integer: ``100.0`` and ``"100"`` are refused, not coerced."""


class TopUp(Body):
    """Money paid into a member's stored value (充值)."""

    amount_fen: Amount = Field(ge=1, le=10**9, description="Paid, in fen (¥1 = 100).")
    method: PaymentMethod
    store_id: Id | None = Field(
        None, description="Store where it was paid (store managers: their own; default it)."
    )
    reference: str = Field("", max_length=200, description="The payment's own reference.")


class Refund(Body):
    """Principal paid back to a member (HQ admins only; never more than principal)."""

    amount_fen: Amount = Field(ge=1, le=10**9)
    method: PaymentMethod
    reason: str = Field(min_length=3, max_length=200)


class StoredValueOut(Out):
    """A member's stored value now (fen)."""

    member_id: Id
    available_fen: int
    """What a spend may take now (principal + live bonus; negative after an overdraw)."""
    principal_fen: int
    bonus_fen: int
    """Live bonus."""
    bonus_expiring_30d_fen: int
    topped_up_fen: int
    bonus_granted_fen: int
    spent_fen: int
    refunded_fen: int
    bonus_expired_fen: int
    cap_fen: int
    """Most principal the member may hold after a top-up (the chain's cap)."""


class MoneyChange(StoredValueOut):
    """A money fact recorded, and the stored value after it."""

    event_id: str
    amount_fen: int
    bonus_added_fen: int = 0
    bonus_expires_ms: int | None = None
    points_earned: int = 0


DAY_MS = 86_400_000
_PROBLEMS = {
    "amount_not_positive": "amount_fen must be at least 1 fen",
    "amount_over_max": "amount_fen is above the chain's maximum top-up ({max} fen)",
    "over_member_cap": (
        "this top-up would take the member's principal to {after} fen, above the chain's "
        "cap of {cap} fen (across all stores); top up at most {room} fen"
    ),
}


def stored_value_out(
    member_id: str, value: StoredValue, rules: Rules, now_ms: int
) -> StoredValueOut:
    """The response model of a member's stored value at ``now_ms``."""
    return StoredValueOut(**_out_fields(member_id, value, rules, now_ms))


def _out_fields(member_id: str, value: StoredValue, rules: Rules, now_ms: int) -> dict[str, Any]:
    return {
        "member_id": member_id,
        "available_fen": value.available_fen(now_ms),
        "principal_fen": value.principal_fen,
        "bonus_fen": value.bonus_available(now_ms),
        "bonus_expiring_30d_fen": value.bonus_expiring(now_ms, now_ms + 30 * DAY_MS),
        "topped_up_fen": value.topped_up_fen,
        "bonus_granted_fen": value.bonus_granted_fen,
        "spent_fen": value.spent_fen,
        "refunded_fen": value.refunded_fen,
        "bonus_expired_fen": value.bonus_expired_fen,
        "cap_fen": rules.money.member_cap_fen,
    }


def locked_ledger(conn: Connection, member_id: str, now_ms: int) -> MemberLedger:
    """The member's authoritative ledger, its state row locked for this transaction."""
    ensure_member_states(conn, [member_id], now_ms)
    return ledger_from_row(lock_member_states(conn, [member_id])[member_id].ledger)


def balance(
    coord: Coordinator, principal: Principal, member_id: str, *, for_service: bool = False
) -> StoredValueOut:
    """A member's stored value now: the home store's staff and HQ; with ``for_service``
    also another store serving the member (the dashboard's limited view, whose opening is
    audited; the API's read stays with the home store)."""
    now = coord.clock.wall_ms()
    ms = schema.member_states
    with coord.db.read() as conn:
        row = member_row(conn, member_id)
        if for_service:
            cross_store.check_serve_access(principal, row)
        else:
            check_member_access(principal, row)
        rules = coord.rules(conn)
        row = conn.execute(sa.select(ms.c.ledger).where(ms.c.member_id == member_id)).first()
    # A member the ledger never saw holds nothing yet.
    ledger = ledger_from_row(row.ledger) if row else MemberLedger()
    return stored_value_out(member_id, ledger.stored_value, rules, now)


def _refuse_topup(rules: Rules, value: StoredValue, amount_fen: int) -> None:
    """422 with the reason when the rules refuse a top-up of ``amount_fen``."""
    problem = topup_problem(rules.money, value, amount_fen)
    if problem is not None:
        room = max(0, rules.money.member_cap_fen - max(0, value.principal_fen))
        message = _PROBLEMS[problem].format(
            max=rules.money.max_topup_fen,
            cap=rules.money.member_cap_fen,
            after=max(0, value.principal_fen) + amount_fen,
            room=room,
        )
        raise invalid(problem, message, "amount_fen")


class TopUpPreview(Out):
    """What a top-up of ``amount_fen`` would give now (nothing recorded)."""

    member_id: Id
    amount_fen: int
    bonus_fen: int
    bonus_expires_ms: int | None
    principal_after_fen: int
    available_after_fen: int
    cap_fen: int


def preview_top_up(
    coord: Coordinator, principal: Principal, member_id: str, amount_fen: int
) -> TopUpPreview:
    """The bonus the rules give a top-up of ``amount_fen`` and the balance after it, for the
    desk to show before the member pays; refused (422) exactly as :func:`top_up` would."""
    principal.require_write()
    now = coord.clock.wall_ms()
    with coord.db.read() as conn:
        cross_store.check_serve_access(principal, member_row(conn, member_id))
        rules = coord.rules(conn)
        ms = schema.member_states
        row = conn.execute(sa.select(ms.c.ledger).where(ms.c.member_id == member_id)).first()
    value = (ledger_from_row(row.ledger) if row else MemberLedger()).stored_value
    _refuse_topup(rules, value, amount_fen)
    bonus, expires = rules.money.bonus_for(amount_fen, now)
    return TopUpPreview(
        member_id=member_id,
        amount_fen=amount_fen,
        bonus_fen=bonus,
        bonus_expires_ms=expires,
        principal_after_fen=value.principal_fen + amount_fen,
        available_after_fen=value.available_fen(now) + amount_fen + bonus,
        cap_fen=rules.money.member_cap_fen,
    )


def topup_tiers(coord: Coordinator) -> tuple[TopUpTier, ...]:
    """The chain's top-up bonus tiers now (for the desk to show beside the form)."""
    with coord.db.read() as conn:
        return coord.rules(conn).money.topup_tiers


def top_up(coord: Coordinator, principal: Principal, member_id: str, body: TopUp) -> MoneyChange:
    """Record a top-up with the bonus the rules give; refused (422, nothing recorded) over
    the chain's maximum or the member's cap. Another store may top up a member as
    cross-store service: the fact carries the serving store (its money report counts it)."""
    principal.require_write()
    store_id = body.store_id or principal.store_id
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        service = cross_store.check_serve_access(principal, member_row(conn, member_id))
        if store_id is not None:
            principal.require_store(store_id)
            store_exists(conn, store_id)
        rules = coord.rules(conn)
        ledger = locked_ledger(conn, member_id, now)
        value = ledger.stored_value
        _refuse_topup(rules, value, body.amount_fen)
        bonus, expires = rules.money.bonus_for(body.amount_fen, now)
        points = topup_points(rules, rules.tier_reached(ledger, now), body.amount_fen)
        fact = StoredValueTopUp(
            paid_fen=body.amount_fen,
            bonus_fen=bonus,
            bonus_expires_ms=expires,
            method=body.method,
            staff_user=principal.username,
            reference=body.reference,
            points=points,
            points_expires_ms=now + rules.points_expiry_days * DAY_MS if points else None,
        )
        result = coord.recorder.record(conn, [HqFact(member_id, fact, store_id)], now)
        event_id = result.events[0].event_id
        audit(conn, principal.username, "stored_value.top_up", member_id, now,
              amount_fen=body.amount_fen, bonus_fen=bonus, method=body.method.value,
              store_id=store_id, event_id=event_id, **service.audit_detail())  # fmt: skip
        cross_store.record(conn, service, action="stored_value.top_up", event_id=event_id,
                           staff=principal.username, amount_fen=body.amount_fen,
                           now_ms=now)  # fmt: skip
        after = result.outcomes[0].ledger.stored_value
    coord.pusher.wake()
    return MoneyChange(
        **_out_fields(member_id, after, rules, now),
        event_id=event_id,
        amount_fen=body.amount_fen,
        bonus_added_fen=bonus,
        bonus_expires_ms=expires,
        points_earned=points,
    )


def refund(coord: Coordinator, principal: Principal, member_id: str, body: Refund) -> MoneyChange:
    """Pay principal back (an audited HQ action); refused (422) above the principal held."""
    principal.require_admin()
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        member_row(conn, member_id)
        rules = coord.rules(conn)
        value = locked_ledger(conn, member_id, now).stored_value
        if body.amount_fen > value.principal_fen:
            raise invalid(
                "refund_over_principal",
                f"a refund returns principal only: the member holds {max(0, value.principal_fen)}"
                f" fen of principal (bonus is never refunded)",
                "amount_fen",
            )
        fact = StoredValueRefund(
            amount_fen=body.amount_fen,
            method=body.method,
            staff_user=principal.username,
            reason=body.reason,
        )
        result = coord.recorder.record(conn, [HqFact(member_id, fact, None)], now)
        event_id = result.events[0].event_id
        audit(conn, principal.username, "stored_value.refund", member_id, now,
              amount_fen=body.amount_fen, method=body.method.value, reason=body.reason,
              event_id=event_id)  # fmt: skip
        after = result.outcomes[0].ledger.stored_value
    coord.pusher.wake()
    return MoneyChange(
        **_out_fields(member_id, after, rules, now), event_id=event_id, amount_fen=body.amount_fen
    )


def charge(
    conn: Connection,
    coord: Coordinator,
    *,
    member_id: str,
    amount_fen: int,
    store_id: str | None,
    purpose: str,
    purchase_id: str | None,
    staff_user: str,
    now_ms: int,
) -> tuple[str, StoredValue]:
    """Spend ``amount_fen`` of the member's stored value centrally, inside the caller's
    write transaction; returns (event id, stored value after).

    Refused (422 ``insufficient_balance``, nothing recorded) when the authoritative balance
    does not cover it: the coordinator never overdraws (kiosks' undelivered spends can still
    take it below zero, within ``shared.money.worst_case_stored_value_overspend``).
    """
    rules = coord.rules(conn)
    if amount_fen > rules.money.max_spend_fen:
        raise invalid(
            "amount_over_max",
            f"amount is above the chain's maximum charge ({rules.money.max_spend_fen} fen)",
            "amount_fen",
        )
    value = locked_ledger(conn, member_id, now_ms).stored_value
    available = value.available_fen(now_ms)
    if available < amount_fen:
        raise invalid(
            "insufficient_balance",
            f"the member's stored value holds {max(0, available)} fen; {amount_fen} fen needed",
            "amount_fen",
        )
    fact = StoredValueSpend(
        amount_fen=amount_fen,
        order=rules.money.spend_order,
        purpose=purpose[:200],
        purchase_id=purchase_id,
        staff_id=staff_user,
    )
    result = coord.recorder.record(conn, [HqFact(member_id, fact, store_id)], now_ms)
    return result.events[0].event_id, result.outcomes[0].ledger.stored_value
