"""Members: registration, profile changes, listing with paging."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import members
from coordinator.services.members import MemberChange, MemberOut, MemberPage, NewMember
from shared.model import Id

router = APIRouter(prefix="/api/v1/members", tags=["members"], responses=USER)


@router.post("", status_code=201, responses=answers(404, 409))
def create_member(coord: CoordinatorDep, principal: PrincipalDep, body: NewMember) -> MemberOut:
    """Register a member (store managers: in their own store)."""
    return members.create_member(coord, principal, body)


@router.get("")
def list_members(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    home_store_id: Annotated[Id | None, Query()] = None,
    after: Annotated[Id | None, Query(description="member_id to continue after")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> MemberPage:
    """Members page by page (ordered by id; pass ``next_after`` back as ``after``)."""
    return members.list_members(
        coord, principal, q=q, home_store_id=home_store_id, after=after, limit=limit
    )


@router.get("/{member_id}", responses=answers(404))
def get_member(
    coord: CoordinatorDep, principal: PrincipalDep, member_id: Annotated[Id, Path()]
) -> MemberOut:
    """One member with cards, tier and a balance summary."""
    return members.get_member(coord, principal, member_id)


@router.patch("/{member_id}", responses=answers(404, 409))
def change_member(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    member_id: Annotated[Id, Path()],
    body: MemberChange,
) -> MemberOut:
    """Change a member's profile, status, language or store scope; pushed to kiosks (409:
    the phone number belongs to another member)."""
    return members.change_member(coord, principal, member_id, body)
