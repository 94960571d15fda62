"""Stores of the chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import stores
from coordinator.services.stores import NewStore, StoreOut
from shared.model import Id

router = APIRouter(prefix="/api/v1/stores", tags=["stores"], responses=USER)


@router.get("")
def list_stores(coord: CoordinatorDep, principal: PrincipalDep) -> list[StoreOut]:
    """Stores the caller may see (a store manager sees their own)."""
    return stores.list_stores(coord, principal)


@router.post("", status_code=201, responses=answers(409))
def create_store(coord: CoordinatorDep, principal: PrincipalDep, body: NewStore) -> StoreOut:
    """Register a store (HQ admins)."""
    return stores.create_store(coord, principal, body)


@router.get("/{store_id}", responses=answers(404))
def get_store(
    coord: CoordinatorDep, principal: PrincipalDep, store_id: Annotated[Id, Path()]
) -> StoreOut:
    """One store."""
    return stores.get_store(coord, principal, store_id)
