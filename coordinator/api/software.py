"""Staged software updates: channels, their releases, store assignments, kiosk manifests."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import software
from coordinator.services.software import (
    Channel,
    ChannelOut,
    Manifest,
    ReleaseIn,
    StoreChannelIn,
    StoreChannelOut,
)
from shared.model import Id

router = APIRouter(prefix="/api/v1/software", tags=["software"])


@router.get("/channels", responses=USER)
def list_channels(coord: CoordinatorDep, principal: PrincipalDep) -> list[ChannelOut]:
    """Every channel with the release it offers now."""
    return software.list_channels(coord, principal)


@router.put("/channels/{channel}", responses={**USER, **answers(404)})
def publish(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    channel: Annotated[Channel, Path()],
    body: ReleaseIn,
) -> ChannelOut:
    """Offer a release on a channel to a phased percentage of its kiosks (HQ admins)."""
    return software.publish(coord, principal, channel, body)


@router.put("/stores/{store_id}/channel", responses={**USER, **answers(404)})
def assign_store(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    store_id: Annotated[Id, Path()],
    body: StoreChannelIn,
) -> StoreChannelOut:
    """Make a store's kiosks follow a channel (HQ admins; default ``stable``)."""
    return software.assign_store(coord, principal, store_id, body)


@router.get("/manifest/{store_id}", responses=answers(404, 422))
def manifest(coord: CoordinatorDep, store_id: Annotated[Id, Path()]) -> Manifest:
    """What the updater of a kiosk in this store reads (public: a kiosk has no API token,
    and the manifest holds nothing secret: a URL, a hash and a percentage)."""
    return software.manifest(coord, store_id)
