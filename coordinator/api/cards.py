"""Member cards: bind, report lost (deny-list + push), replace."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import cards
from coordinator.services.cards import (
    BindCard,
    BlockedCard,
    CardRecord,
    LostCard,
    ReplaceCard,
    Replacement,
)
from shared.model import Id, Uid

router = APIRouter(prefix="/api/v1", tags=["cards"], responses=USER)

UidPath = Annotated[Uid, Path(description="Card UID, upper-case hex (4, 7, 8 or 10 bytes)")]


@router.post("/members/{member_id}/cards", status_code=201, responses=answers(404, 409))
def bind_card(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    member_id: Annotated[Id, Path()],
    body: BindCard,
) -> CardRecord:
    """Bind a card to a member; kiosks learn it with the member's next record."""
    return cards.bind_card(coord, principal, member_id, body)


@router.get("/cards/{uid}", responses=answers(404))
def get_card(coord: CoordinatorDep, principal: PrincipalDep, uid: UidPath) -> CardRecord:
    """A card and its owner."""
    return cards.get_card(coord, principal, uid)


@router.post("/cards/{uid}/report-lost", responses=answers(404, 409))
def report_lost(
    coord: CoordinatorDep, principal: PrincipalDep, uid: UidPath, body: LostCard
) -> BlockedCard:
    """Block a card everywhere: deny-list entry from now, pushed to the whole fleet."""
    return cards.report_lost(coord, principal, uid, body)


@router.post("/cards/{uid}/replace", responses=answers(404, 409))
def replace_card(
    coord: CoordinatorDep, principal: PrincipalDep, uid: UidPath, body: ReplaceCard
) -> Replacement:
    """Give the member a new card; the old one is blocked (reason ``replaced``)."""
    return cards.replace_card(coord, principal, uid, body)
