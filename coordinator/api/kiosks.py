"""Kiosks: registration (provisioning or enrollment), status and health, revocation.

See :mod:`coordinator.services.kiosks` for the two ways a kiosk gets its credentials.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.security.login_limit import client_address
from coordinator.services import kiosks
from coordinator.services.kiosks import (
    Enrollment,
    EnrollmentCode,
    KioskCredentials,
    KioskHealth,
    KioskStreams,
    NewEnrollmentCode,
    NewKiosk,
    PendingCode,
    Reprovisioned,
    Revoked,
)
from shared.model import Id

router = APIRouter(prefix="/api/v1/kiosks", tags=["kiosks"], responses=USER)
enroll_router = APIRouter(prefix="/api/v1", tags=["kiosks"])


@router.post("", status_code=201, responses=answers(404, 409, 503))
def provision(coord: CoordinatorDep, principal: PrincipalDep, body: NewKiosk) -> KioskCredentials:
    """Register a kiosk; returns its broker credentials (the password is shown only once)."""
    return kiosks.provision(coord, principal, body)


@enroll_router.post("/enrollment-codes", status_code=201, responses={**USER, **answers(404, 409)})
def create_enrollment_code(
    coord: CoordinatorDep, principal: PrincipalDep, body: NewEnrollmentCode
) -> EnrollmentCode:
    """A one-time code a new kiosk trades for its own credentials (shown only once)."""
    return kiosks.create_enrollment_code(coord, principal, body)


@enroll_router.get("/enrollment-codes", responses=USER)
def list_enrollment_codes(coord: CoordinatorDep, principal: PrincipalDep) -> list[PendingCode]:
    """Codes waiting to be used (a store manager sees their own store's); never the codes."""
    return kiosks.pending_codes(coord, principal)


@enroll_router.post("/enroll", status_code=201, responses=answers(403, 404, 409, 422, 429, 503))
def enroll(request: Request, coord: CoordinatorDep, body: Enrollment) -> KioskCredentials:
    """Trade a one-time enrollment code for this kiosk's broker credentials (no login: the
    code is the credential). The broker accepts the kiosk as soon as this answers.
    403: unknown, used, superseded or expired code."""
    return kiosks.enroll(coord, body.code, client_address(request))


@router.get("", response_model=list[KioskHealth])
def list_kiosks(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    store_id: Annotated[Id | None, Query()] = None,
    after: Annotated[
        Id | None, Query(description="page: only kiosks whose id sorts after this one")
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=10_000, description="page size (default: every kiosk)")
    ] = None,
) -> Response:
    """Kiosks with their liveness facts in kiosk id order (a store manager sees their own
    store's). Without ``limit`` every kiosk; page on with ``after`` = the last id seen."""
    body = kiosks.kiosks_json(coord, principal, store_id=store_id, after=after, limit=limit)
    return Response(body, media_type="application/json")


@router.get("/{kiosk_id}", responses=answers(404))
def get_kiosk(
    coord: CoordinatorDep, principal: PrincipalDep, kiosk_id: Annotated[Id, Path()]
) -> KioskHealth:
    """Alive, connected, in sync and last good tap of one kiosk, with the evidence."""
    return kiosks.get_kiosk(coord, principal, kiosk_id)


@router.post("/{kiosk_id}/revoke", responses=answers(404))
def revoke(
    coord: CoordinatorDep, principal: PrincipalDep, kiosk_id: Annotated[Id, Path()]
) -> Revoked:
    """Stop accepting anything from a kiosk (HQ admins). Its recorded events stay."""
    return kiosks.revoke(coord, principal, kiosk_id)


@router.get("/{kiosk_id}/streams", responses=answers(404))
def stream_history(
    coord: CoordinatorDep, principal: PrincipalDep, kiosk_id: Annotated[Id, Path()]
) -> KioskStreams:
    """The kiosk id's stream epochs and the lost ranges of its closed epochs."""
    return kiosks.stream_history(coord, principal, kiosk_id)


@router.post("/{kiosk_id}/reprovision", responses=answers(404))
def reprovision(
    coord: CoordinatorDep, principal: PrincipalDep, kiosk_id: Annotated[Id, Path()]
) -> Reprovisioned:
    """Open a new stream epoch for a kiosk id whose ledger was lost or replaced; what the old
    ledger never delivered is recorded as lost ranges."""
    return kiosks.reprovision(coord, principal, kiosk_id)
