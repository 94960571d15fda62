"""Purchases from a POS or a cashier system, once per ``Idempotency-Key``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import purchases
from coordinator.services.purchases import Purchased, PurchaseIn

router = APIRouter(prefix="/api/v1/purchases", tags=["money"], responses=USER)

KeyHeader = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="A unique key per purchase (e.g. a UUID); a retry with the same key and "
        "body returns the first answer and records nothing more.",
    ),
]


@router.post("", status_code=201, responses=answers(404, 409))
def create_purchase(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    body: PurchaseIn,
    idempotency_key: KeyHeader,
    response: Response,
) -> Purchased:
    """Price and record a purchase: tier discount, coupon, stored value, points.

    422: a bad amount, an unknown payment method, a coupon that does not apply, too little
    stored value, or the key reused with another body. 409: the first request with this
    key is still running. Nothing is recorded on any error.
    """
    answer, replayed = purchases.purchase(coord, principal, body, idempotency_key)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return answer
