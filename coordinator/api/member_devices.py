"""Members' phones that sign their own QR codes: the phone registers, staff list and revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import member_card, member_devices
from coordinator.services.member_devices import (
    DeviceList,
    DeviceRecord,
    DeviceRegistered,
    RegisterDevice,
)
from shared.model import Id

router = APIRouter(tags=["member devices"])

DeviceId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,16}$")]


@router.post("/api/v1/member/devices", responses=answers(401, 403, 404, 409, 422))
def register_device(coord: CoordinatorDep, body: RegisterDevice) -> DeviceRegistered:
    """Register the phone's public key (authorised by the member's personal link)."""
    member_id = member_card.member_of_link(coord, body.link)
    return member_devices.register(coord, member_id, body)


@router.get("/api/v1/members/{member_id}/devices", responses={**USER, **answers(404)})
def list_devices(
    coord: CoordinatorDep, principal: PrincipalDep, member_id: Annotated[Id, Path()]
) -> DeviceList:
    """The member's phones (active and removed), newest first."""
    return member_devices.list_devices(coord, principal, member_id)


@router.post(
    "/api/v1/members/{member_id}/devices/{device_id}/revoke",
    responses={**USER, **answers(404, 409)},
)
def revoke_device(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    member_id: Annotated[Id, Path()],
    device_id: DeviceId,
) -> DeviceRecord:
    """Remove a lost or replaced phone; kiosks refuse its codes from their next update."""
    return member_devices.revoke(coord, principal, member_id, device_id)
