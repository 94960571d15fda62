"""Passes: sell or grant (hq ``PassIssue`` events), freeze, unfreeze, extend, top up.

A freeze pauses the pass's validity clock: on unfreeze the time it was frozen is given back
(the pass's end moves out by exactly that). Freezing a frozen pass, or unfreezing one that
is not, is a 409 and changes nothing.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa
from pydantic import Field

from coordinator import schema
from coordinator.errors import conflict, invalid, not_found
from coordinator.ledger.hq_events import HqFact
from coordinator.ledger.jsonrows import ledger_from_row
from coordinator.ledger.member_fold import ensure_member_states, lock_member_states
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services.common import Body, Out, audit, check_member_access, member_row
from shared.events import PassIssue, PassUpdate
from shared.model import Count, Id, Ms, PassKind, PassState

MAX_MS = 10**14


class SellPass(Body):
    """A pass to sell or grant."""

    pass_id: Id | None = None
    kind: PassKind
    name: str = Field(min_length=1, max_length=200)
    class_types: list[Id] = Field([], max_length=100)
    store_ids: list[Id] = Field([], max_length=1000)
    """Stores where it is valid; empty = every store (HQ admins only)."""
    valid_from_ms: Ms
    valid_until_ms: Ms
    sessions_total: Count = 0
    price_fen: Count = 0


class PassChange(Body):
    """Extend a pass or change its sessions (top-up)."""

    valid_until_ms: Ms | None = None
    sessions_total: Count | None = None


class PassResult(Out):
    """The pass after the change, and the ledger event that recorded it."""

    pass_: PassState | None = Field(alias="pass", serialization_alias="pass")
    event_id: str

    model_config = Out.model_config | {"populate_by_name": True, "serialize_by_alias": True}


def _scope_check(principal: Principal, store_ids: list[str]) -> None:
    if principal.store_filter() is not None and store_ids != [principal.store_id]:
        raise invalid(
            "store_scope_required",
            f"store managers sell passes valid in their own store only: "
            f"store_ids=[{principal.store_id!r}]",
            "store_ids",
        )


def sell_pass(
    coord: Coordinator, principal: Principal, member_id: str, body: SellPass
) -> PassResult:
    """Record a pass sale as an hq event; kiosks get it with the member's next record."""
    with coord.db.write() as conn:
        result = record_sale(conn, coord, principal, member_id, body)
    coord.pusher.wake()
    return result


def record_sale(
    conn: sa.Connection, coord: Coordinator, principal: Principal, member_id: str, body: SellPass
) -> PassResult:
    """:func:`sell_pass` inside the caller's transaction (a catalogue sale adds its own row
    to the same transaction); the caller wakes the member pusher after the commit."""
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
    return PassResult(pass_=state, event_id=result.events[0].event_id)


def update_pass(
    coord: Coordinator, principal: Principal, member_id: str, pass_id: str, **change: Any
) -> PassResult:
    """Freeze, unfreeze, extend or top up a pass (an audited hq ``PassUpdate`` event)."""
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
        if change.get("frozen") is True and held.frozen:
            raise conflict("pass_frozen", f"pass {pass_id} is already frozen", "pass_id")
        if change.get("frozen") is False:
            if not held.frozen:
                raise conflict("pass_not_frozen", f"pass {pass_id} is not frozen", "pass_id")
            since = frozen_since(conn, member_id, pass_id)
            if since is not None and "valid_until_ms" not in change:
                change["valid_until_ms"] = unfrozen_until(held.valid_until_ms, since, now)
        body = PassUpdate(pass_id=pass_id, staff_user=principal.username, **change)
        result = coord.recorder.record(conn, [HqFact(member_id, body, principal.store_id)], now)
        audit(conn, principal.username, "pass.update", f"{member_id}/{pass_id}", now,
              event_id=result.events[0].event_id, **change)  # fmt: skip
        after = result.outcomes[0].ledger.find_pass(pass_id)
    coord.pusher.wake()
    return PassResult(pass_=after, event_id=result.events[0].event_id)


def unfrozen_until(valid_until_ms: int, frozen_ms: int, now_ms: int) -> int:
    """A pass's end after a freeze from ``frozen_ms`` to ``now_ms``: the validity clock was
    paused, so the end moves out by exactly the time the pass was frozen."""
    return min(valid_until_ms + max(0, now_ms - frozen_ms), MAX_MS)


def frozen_since(conn: sa.Connection, member_id: str, pass_id: str) -> int | None:
    """When the pass's current freeze began: the latest ``pass_update`` that froze it."""
    ev = schema.events
    rows = conn.execute(
        sa.select(ev.c.body, ev.c.hlc_ms)
        .where(ev.c.member_id == member_id, ev.c.kind == "pass_update")
        .order_by(ev.c.hlc_ms.desc(), ev.c.hlc_c.desc())
    )
    for row in rows:
        body = json.loads(row.body)["body"]
        if body.get("pass_id") == pass_id and body.get("frozen") is True:
            return int(row.hlc_ms)
    return None


def extend_pass(
    coord: Coordinator, principal: Principal, member_id: str, pass_id: str, body: PassChange
) -> PassResult:
    """Extend a pass's validity and/or change its total sessions."""
    change = body.model_dump(exclude_none=True)
    if not change:
        raise invalid("nothing_to_change", "give valid_until_ms and/or sessions_total")
    return update_pass(coord, principal, member_id, pass_id, **change)
