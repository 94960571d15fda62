"""Webhook endpoints, their delivery log and resends."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import webhooks
from coordinator.services.common import MAX_ROW_ID
from coordinator.services.webhooks import (
    DeliveryDetail,
    DeliveryOut,
    DeliveryStatus,
    EndpointChange,
    EndpointOut,
    EndpointSecret,
    NewEndpoint,
    Rotation,
)
from shared.model import Id

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=USER)

EndpointId = Annotated[str, Path(min_length=1, max_length=32)]
DeliveryId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


@router.get("/endpoints")
def list_endpoints(
    coord: CoordinatorDep, principal: PrincipalDep, store_id: Annotated[Id | None, Query()] = None
) -> list[EndpointOut]:
    """Endpoints the caller may see (a store manager: their store's)."""
    return webhooks.list_endpoints(coord, principal, store_id)


@router.post("/endpoints", status_code=201, responses=answers(404))
def create_endpoint(
    coord: CoordinatorDep, principal: PrincipalDep, body: NewEndpoint
) -> EndpointSecret:
    """Register an endpoint (its secret is in this answer only)."""
    return webhooks.create_endpoint(coord, principal, body)


@router.get("/endpoints/{endpoint_id}", responses=answers(404))
def get_endpoint(
    coord: CoordinatorDep, principal: PrincipalDep, endpoint_id: EndpointId
) -> EndpointOut:
    """One endpoint."""
    return webhooks.get_endpoint(coord, principal, endpoint_id)


@router.patch("/endpoints/{endpoint_id}", responses=answers(404))
def change_endpoint(
    coord: CoordinatorDep, principal: PrincipalDep, endpoint_id: EndpointId, body: EndpointChange
) -> EndpointOut:
    """Change an endpoint, or disable / enable it."""
    return webhooks.change_endpoint(coord, principal, endpoint_id, body)


@router.post("/endpoints/{endpoint_id}/rotate", responses=answers(404))
def rotate_secret(
    coord: CoordinatorDep, principal: PrincipalDep, endpoint_id: EndpointId, body: Rotation
) -> EndpointSecret:
    """A new secret; the old one keeps signing for the grace period."""
    return webhooks.rotate_secret(coord, principal, endpoint_id, body)


@router.get("/endpoints/{endpoint_id}/deliveries", responses=answers(404))
def list_deliveries(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    endpoint_id: EndpointId,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    """An endpoint's deliveries, newest first."""
    return webhooks.list_deliveries(coord, principal, endpoint_id, status, limit)


@router.get("/deliveries/{delivery_id}", responses=answers(404))
def get_delivery(
    coord: CoordinatorDep, principal: PrincipalDep, delivery_id: DeliveryId
) -> DeliveryDetail:
    """A delivery with its body and every attempt."""
    return webhooks.get_delivery(coord, principal, delivery_id)


@router.post("/deliveries/{delivery_id}/resend", responses=answers(404))
def resend_delivery(
    coord: CoordinatorDep, principal: PrincipalDep, delivery_id: DeliveryId
) -> DeliveryOut:
    """Send a delivery again now."""
    return webhooks.resend_delivery(coord, principal, delivery_id)
