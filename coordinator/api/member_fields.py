"""Custom member fields: HQ admins define them; every role reads the ones it sees."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import member_fields
from coordinator.services.member_fields import FieldList, FieldOut
from shared.custom_fields import FieldDefinition, FieldKey

router = APIRouter(prefix="/api/v1/member-fields", tags=["members"], responses=USER)

KeyPath = Annotated[FieldKey, Path()]


@router.get("")
def list_fields(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    include_removed: Annotated[
        bool, Query(description="also removed fields (HQ admins only)")
    ] = False,
) -> FieldList:
    """The chain's custom member fields the caller sees, in form order."""
    return member_fields.list_fields(coord, principal, include_removed=include_removed)


@router.post("", status_code=201, responses=answers(409))
def create_field(coord: CoordinatorDep, principal: PrincipalDep, body: FieldDefinition) -> FieldOut:
    """Define a custom member field (HQ admins; 422 ``too_many_fields`` past the limit)."""
    return member_fields.create_field(coord, principal, body)


@router.put("/{key}", responses=answers(404, 409))
def change_field(
    coord: CoordinatorDep, principal: PrincipalDep, key: KeyPath, body: FieldDefinition
) -> FieldOut:
    """Replace a field's labels, options, required flag or visibility (HQ admins). 409 when
    members' values would be lost: a new type while members hold values, a choice option
    dropped that a member holds, a different key."""
    return member_fields.change_field(coord, principal, key, body)


@router.delete("/{key}", responses=answers(404))
def remove_field(coord: CoordinatorDep, principal: PrincipalDep, key: KeyPath) -> FieldOut:
    """Remove a field: hidden from forms and reads; members keep their values (HQ admins)."""
    return member_fields.set_removed(coord, principal, key, True)


@router.post("/{key}/restore", responses=answers(404))
def restore_field(coord: CoordinatorDep, principal: PrincipalDep, key: KeyPath) -> FieldOut:
    """Bring a removed field back, with the values members kept (HQ admins)."""
    return member_fields.set_removed(coord, principal, key, False)
