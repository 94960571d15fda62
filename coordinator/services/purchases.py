"""Purchases from a POS, a cashier system or the front desk (``POST /api/v1/purchases``).

One purchase is priced with the shared rule (:func:`shared.pricing.price`: tier discount,
coupon, points) and recorded as hq facts in one transaction: the coupon's redemption, the
stored value it took (when paid from stored value, refused if the balance does not cover
it) and the ``purchase`` fact carrying the breakdown and the points earned. It happens once
per ``Idempotency-Key`` (:mod:`coordinator.services.idempotency`).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from pydantic import Field, StrictInt, model_validator

from coordinator import schema
from coordinator.errors import ApiError, invalid, not_found
from coordinator.ledger.hq_events import HqFact
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services import cross_store, idempotency
from coordinator.services.common import Body, Out, audit, member_row, store_exists
from coordinator.services.money import charge, locked_ledger
from shared.events import CouponRedeem, Purchase, PurchaseMethod
from shared.model import DAY_MS, Id, Uid
from shared.pricing import PriceBreakdown, price
from shared.reasons import RejectReason, messages

IdempotencyKey = str


class PurchaseLine(Body):
    """One line of a purchase: what, at which unit price, how many."""

    sku: Id
    name: str = Field("", max_length=200)
    unit_fen: StrictInt = Field(ge=0, le=10**9)
    qty: StrictInt = Field(ge=1, le=1000)


class PurchaseIn(Body):
    """A purchase: who (member id or card UID), where, what (lines or a total), how paid."""

    member_id: Id | None = None
    card_uid: Uid | None = None
    store_id: Id
    lines: list[PurchaseLine] | None = Field(None, min_length=1, max_length=200)
    total_fen: StrictInt | None = Field(None, ge=1, le=10**9)
    """The list amount when there are no lines."""
    coupon_id: Id | None = None
    method: PurchaseMethod
    reference: str = Field("", max_length=200)

    @model_validator(mode="after")
    def _one_of_each(self) -> PurchaseIn:
        if (self.member_id is None) == (self.card_uid is None):
            raise ValueError("give exactly one of member_id and card_uid")
        if (self.lines is None) == (self.total_fen is None):
            raise ValueError("give exactly one of lines and total_fen")
        return self


class Purchased(Out):
    """The purchase recorded: its breakdown in fen and the points it earned."""

    purchase_id: str
    member_id: Id
    store_id: Id
    tier: str
    list_fen: int
    tier_discount_fen: int
    coupon_id: str | None
    coupon_kind: str | None
    coupon_off_fen: int
    total_fen: int
    method: PurchaseMethod
    stored_value_charged_fen: int
    due_fen: int
    """Still to be paid by the method (0 when paid from stored value)."""
    points_earned: int
    stored_value_after_fen: int | None
    """The member's available stored value after a stored-value payment."""
    event_ids: list[str]


SCOPE = "purchases"


def purchase(
    coord: Coordinator, principal: Principal, body: PurchaseIn, key: IdempotencyKey
) -> tuple[Purchased, bool]:
    """Record a purchase once per ``key``; returns (the answer, whether it is a replay)."""
    principal.require_write()
    principal.require_store(body.store_id)
    now = coord.clock.wall_ms()
    scope = f"{SCOPE}:{principal.username}"
    fingerprint = idempotency.request_hash(body.model_dump(mode="json"))
    kept = idempotency.begin(coord, scope, key, fingerprint, now)
    if kept is not None:
        return Purchased.model_validate(kept[1]), True
    try:
        answer = _record(coord, principal, body, key, scope, now)
    except ApiError:
        idempotency.abandon(coord, scope, key)
        raise
    coord.pusher.wake()
    return answer, False


def _record(
    coord: Coordinator,
    principal: Principal,
    body: PurchaseIn,
    key: str,
    scope: str,
    now: int,
) -> Purchased:
    purchase_id = "pu" + uuid.uuid4().hex[:20]
    with coord.db.write() as conn:
        store_exists(conn, body.store_id)
        member_id = _member(conn, body)
        service = cross_store.check_serve_access(principal, member_row(conn, member_id))
        rules = coord.rules(conn)
        ledger = locked_ledger(conn, member_id, now)
        tier = rules.tier_reached(ledger, now)
        list_fen = (
            sum(line.unit_fen * line.qty for line in body.lines)
            if body.lines is not None
            else int(body.total_fen or 0)
        )
        amount_field = "lines" if body.lines is not None else "total_fen"
        if list_fen < 1:
            raise invalid(
                "amount_not_positive", "the purchase must cost at least 1 fen", amount_field
            )
        if list_fen > rules.money.max_spend_fen:
            raise invalid(
                "amount_over_max",
                f"the purchase is above the chain's maximum ({rules.money.max_spend_fen} fen)",
                amount_field,
            )
        coupon = None
        if body.coupon_id is not None:
            coupon = ledger.find_coupon(body.coupon_id)
            if coupon is None:
                raise not_found("coupon", body.coupon_id, "coupon_id")
            if _claimed(conn, body.coupon_id, member_id, now):
                _refuse(RejectReason.COUPON_USED, "coupon_id")
        priced = price(rules, tier, list_fen, coupon=coupon, now_ms=now, store_id=body.store_id)
        if not isinstance(priced, PriceBreakdown):
            _refuse(priced, "coupon_id")
            raise AssertionError  # pragma: no cover - _refuse always raises
        event_ids: list[str] = []
        if coupon is not None:
            redeemed = coord.recorder.record(
                conn,
                [
                    HqFact(
                        member_id,
                        CouponRedeem(coupon_id=coupon.coupon_id, claim_id=purchase_id),
                        body.store_id,
                    )
                ],
                now,
            )
            event_ids.append(redeemed.events[0].event_id)
        charged = 0
        value_after: int | None = None
        if body.method is PurchaseMethod.STORED_VALUE and priced.total_fen > 0:
            event_id, value = charge(
                conn,
                coord,
                member_id=member_id,
                amount_fen=priced.total_fen,
                store_id=body.store_id,
                purpose=f"purchase {purchase_id}",
                purchase_id=purchase_id,
                staff_user=principal.username,
                now_ms=now,
            )
            event_ids.append(event_id)
            charged = priced.total_fen
            value_after = value.available_fen(now)
        fact = Purchase(
            purchase_id=purchase_id,
            list_fen=priced.list_fen,
            tier_discount_fen=priced.tier_discount_fen,
            coupon_id=priced.coupon_id,
            coupon_off_fen=priced.coupon_off_fen,
            total_fen=priced.total_fen,
            method=body.method,
            stored_value_fen=charged,
            points=priced.points,
            points_expires_ms=now + rules.points_expiry_days * DAY_MS if priced.points else None,
            staff_user=principal.username,
        )
        recorded = coord.recorder.record(conn, [HqFact(member_id, fact, body.store_id)], now)
        event_ids.append(recorded.events[0].event_id)
        answer = Purchased(
            purchase_id=purchase_id,
            member_id=member_id,
            store_id=body.store_id,
            tier=tier.name,
            list_fen=priced.list_fen,
            tier_discount_fen=priced.tier_discount_fen,
            coupon_id=priced.coupon_id,
            coupon_kind=coupon.kind.value if coupon else None,
            coupon_off_fen=priced.coupon_off_fen,
            total_fen=priced.total_fen,
            method=body.method,
            stored_value_charged_fen=charged,
            due_fen=priced.total_fen - charged,
            points_earned=priced.points,
            stored_value_after_fen=value_after,
            event_ids=event_ids,
        )
        audit(conn, principal.username, "purchase", member_id, now, purchase_id=purchase_id,
              total_fen=priced.total_fen, method=body.method.value, reference=body.reference,
              idempotency_key=key, **service.audit_detail())  # fmt: skip
        cross_store.record(conn, service, action="purchase", event_id=recorded.events[0].event_id,
                           staff=principal.username, amount_fen=priced.total_fen,
                           now_ms=now)  # fmt: skip
        idempotency.finish(conn, scope, key, 201, answer.model_dump(mode="json"), now)
    return answer


def _member(conn: sa.Connection, body: PurchaseIn) -> str:
    if body.member_id is not None:
        member_row(conn, body.member_id)
        return body.member_id
    c = schema.cards
    row = conn.execute(sa.select(c).where(c.c.uid == body.card_uid)).first()
    if row is None:
        raise not_found("card", str(body.card_uid), "card_uid")
    if row.status != "active":
        raise invalid("card_not_active", f"card {body.card_uid} is {row.status}", "card_uid")
    return str(row.member_id)


def _claimed(conn: sa.Connection, coupon_id: str, member_id: str, now: int) -> bool:
    """A kiosk holds a live claim on the coupon (it is being redeemed there right now)."""
    cc = schema.coupon_claims
    return (
        conn.execute(
            sa.select(cc.c.claim_id).where(
                cc.c.coupon_id == coupon_id,
                cc.c.member_id == member_id,
                cc.c.status == "granted",
                cc.c.expires_ms > now,
            )
        ).first()
        is not None
    )


def _refuse(reason: RejectReason, field: str) -> Any:
    """422 with the refusal's code and its English sentence."""
    raise invalid(reason.value, messages(reason)[1], field)
