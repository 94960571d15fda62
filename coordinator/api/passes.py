"""Passes: sell or grant (hq ``PassIssue`` events), freeze, unfreeze, extend, top up."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import Field

from coordinator.api.deps import (
    Body,
    CoordinatorDep,
    PrincipalDep,
    audit,
    check_member_access,
    member_row,
)
from coordinator.errors import conflict, invalid, not_found
from coordinator.ledger.hq_events import HqFact
from coordinator.ledger.jsonrows import ledger_from_row
from coordinator.ledger.member_fold import ensure_member_states, lock_member_states
from coordinator.security.auth import Principal
from shared.events import PassIssue, PassUpdate
from shared.model import Count, Id, Ms, PassKind, PassState

router = APIRouter(prefix="/api/v1/members/{member_id}/passes", tags=["passes"])
MemberPath = Annotated[Id, Path()]


class SellPass(Body):
    """A pass to sell or grant."""

    pass_id: Id | None = None
    kind: PassKind
    name: str = Field(min_length=1, max_length=200)
    class_types: list[Id] = []
    store_ids: list[Id] = []
    """Stores where it is valid; empty = every store (HQ admins only)."""
    valid_from_ms: Ms
    valid_until_ms: Ms
    sessions_total: Count = 0
    price_fen: Count = 0


class PassChange(Body):
    """Extend a pass or change its sessions (top-up)."""

    valid_until_ms: Ms | None = None
    sessions_total: Count | None = None


def _scope_check(principal: Principal, store_ids: list[str]) -> None:
    if principal.store_filter() is not None and store_ids != [principal.store_id]:
        raise invalid(
            "store_scope_required",
            f"store managers sell passes valid in their own store only: "
            f"store_ids=[{principal.store_id!r}]",
            "store_ids",
        )


@router.post("", status_code=201)
def sell_pass(
    coord: CoordinatorDep, principal: PrincipalDep, member_id: MemberPath, body: SellPass
) -> dict[str, Any]:
    """Record a pass sale as an hq event; kiosks get it with the member's next record."""
    principal.require_write()
    _scope_check(principal, body.store_ids)
    if body.valid_until_ms <= body.valid_from_ms:
        raise invalid(
            "bad_validity", "valid_until_ms must be after valid_from_ms", "valid_until_ms"
        )
    if body.kind is PassKind.PUNCH and body.sessions_total < 1:
        raise invalid("no_sessions", "a punch pass needs sessions_total >= 1", "sessions_total")
    state = PassState(
        pass_id=body.pass_id or "p" + uuid.uuid4().hex[:12],
        kind=body.kind,
        name=body.name,
        class_types=tuple(body.class_types),
        store_ids=tuple(body.store_ids),
        valid_from_ms=body.valid_from_ms,
        valid_until_ms=body.valid_until_ms,
        sessions_total=body.sessions_total,
        price_fen=body.price_fen,
    )
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        check_member_access(principal, member_row(conn, member_id))
        ensure_member_states(conn, [member_id], now)
        current = ledger_from_row(lock_member_states(conn, [member_id])[member_id].ledger)
        if current.find_pass(state.pass_id) is not None:
            raise conflict("pass_exists", f"member already holds pass {state.pass_id}", "pass_id")
        result = coord.recorder.record(
            conn, [HqFact(member_id, PassIssue(pass_state=state), principal.store_id)], now
        )
        audit(conn, principal.username, "pass.sell", f"{member_id}/{state.pass_id}", now,
              event_id=result.events[0].event_id)  # fmt: skip
    coord.pusher.wake()
    return {"pass": state.model_dump(mode="json"), "event_id": result.events[0].event_id}


def _update(
    coord: Any, principal: Principal, member_id: str, pass_id: str, **change: Any
) -> dict[str, Any]:
    principal.require_write()
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        check_member_access(principal, member_row(conn, member_id))
        ensure_member_states(conn, [member_id], now)
        ledger = ledger_from_row(lock_member_states(conn, [member_id])[member_id].ledger)
        held = ledger.find_pass(pass_id)
        if held is None:
            raise not_found("pass", pass_id, "pass_id")
        if principal.store_filter() is not None:
            _scope_check(principal, list(held.store_ids))
        body = PassUpdate(pass_id=pass_id, staff_user=principal.username, **change)
        result = coord.recorder.record(conn, [HqFact(member_id, body, principal.store_id)], now)
        audit(conn, principal.username, "pass.update", f"{member_id}/{pass_id}", now, **change)
        after = result.outcomes[0].ledger.find_pass(pass_id)
    coord.pusher.wake()
    return {
        "pass": after.model_dump(mode="json") if after else None,
        "event_id": result.events[0].event_id,
    }


@router.post("/{pass_id}/freeze")
def freeze(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    member_id: MemberPath,
    pass_id: Annotated[Id, Path()],
) -> dict[str, Any]:
    """Freeze a pass (kiosks refuse it until unfrozen)."""
    return _update(coord, principal, member_id, pass_id, frozen=True)


@router.post("/{pass_id}/unfreeze")
def unfreeze(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    member_id: MemberPath,
    pass_id: Annotated[Id, Path()],
) -> dict[str, Any]:
    """Unfreeze a pass."""
    return _update(coord, principal, member_id, pass_id, frozen=False)


@router.post("/{pass_id}/extend")
def extend(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    member_id: MemberPath,
    pass_id: Annotated[Id, Path()],
    body: PassChange,
) -> dict[str, Any]:
    """Extend a pass's validity and/or change its total sessions."""
    change = body.model_dump(exclude_none=True)
    if not change:
        raise invalid("nothing_to_change", "give valid_until_ms and/or sessions_total")
    return _update(coord, principal, member_id, pass_id, **change)
