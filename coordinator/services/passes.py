"""Passes: sell or grant (hq ``PassIssue`` events), freeze, unfreeze, extend, top up.

A freeze pauses the pass's validity clock: on unfreeze the time it was frozen is given back
(the pass's end moves out by exactly that). Freezing a frozen pass, or unfreezing one that
is not, is a 409 and changes nothing.

A pass sold to start at its first use (``first_use_days``) has no running clock until the
member's first visit starts it (``shared.model.FirstUse``): freezing or extending it before
then is a 409 ``pass_not_started`` and changes nothing (there is nothing to pause; its
deadline already bounds how long it can wait). Once started it freezes, unfreezes and
extends like any pass.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa
from pydantic import Field

from coordinator import schema
from coordinator.downstream import rule_bundles
from coordinator.errors import conflict, invalid, not_found
from coordinator.ledger.hq_events import HqFact
from coordinator.ledger.jsonrows import ledger_from_row
from coordinator.ledger.member_fold import ensure_member_states, lock_member_states
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services import cross_store
from coordinator.services.common import Body, Out, audit, member_row
from coordinator.services.money import charge
from shared.events import PassIssue, PassUpdate, PurchaseMethod
from shared.model import (
    FIRST_USE_DEADLINE_DAYS,
    Count,
    FirstUse,
    Id,
    Ms,
    PassKind,
    PassState,
    commission_fen,
    first_use_terms,
)

MAX_MS = 10**14


class SellPass(Body):
    """A pass to sell or grant."""

    pass_id: Id | None = None
    kind: PassKind
    name: str = Field(min_length=1, max_length=200)
    class_types: list[Id] = Field([], max_length=100)
    store_ids: list[Id] = Field([], max_length=1000)
    """Stores where it is valid; empty = every store (HQ admins only)."""
    valid_from_ms: Ms | None = None
    """Start of a fixed window (required unless ``first_use_days`` is given)."""
    valid_until_ms: Ms | None = None
    """End of a fixed window (required unless ``first_use_days`` is given)."""
    first_use_days: int | None = Field(None, ge=1, le=3660)
    """Start at the first use instead: the window is this many store-local days from the
    member's first visit (``shared.model.FirstUse``); ``valid_*_ms`` must then be left out."""
    activate_within_days: int = Field(FIRST_USE_DEADLINE_DAYS, ge=1, le=3660)
    """With ``first_use_days``: a pass never used starts by itself this many store-local
    days after the sale."""
    sessions_total: Count = 0
    price_fen: Count = 0
    payment_method: PurchaseMethod | None = None
    """How the price was paid; ``stored_value`` charges it to the member's stored value in
    the same transaction (422 ``insufficient_balance`` and nothing recorded when short)."""


class PassChange(Body):
    """Extend a pass or change its sessions (top-up), with what the member paid for it."""

    valid_until_ms: Ms | None = None
    sessions_total: Count | None = None
    price_fen: Count = 0
    """Paid for this change (0: free, e.g. a goodwill extension)."""
    payment_method: PurchaseMethod | None = None
    """Required with a price; ``stored_value`` charges it in the same transaction (422
    ``insufficient_balance`` and nothing recorded when short)."""


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
    conn: sa.Connection,
    coord: Coordinator,
    principal: Principal,
    member_id: str,
    body: SellPass,
    action: str = "pass.sell",
) -> PassResult:
    """:func:`sell_pass` inside the caller's transaction (a catalogue sale adds its own row
    to the same transaction); the caller wakes the member pusher after the commit. A member
    of another store is served as cross-store service (recorded under ``action``)."""
    principal.require_write()
    _scope_check(principal, body.store_ids)
    if body.kind is PassKind.PUNCH and body.sessions_total < 1:
        raise invalid("no_sessions", "a punch pass needs sessions_total >= 1", "sessions_total")
    now = coord.clock.wall_ms()
    valid_from, valid_until, first_use = _window(coord.rules(conn).timezone, body, now)
    state = PassState(
        pass_id=body.pass_id or "p" + uuid.uuid4().hex[:12],
        kind=body.kind,
        name=body.name,
        class_types=tuple(body.class_types),
        store_ids=tuple(body.store_ids),
        valid_from_ms=valid_from,
        valid_until_ms=valid_until,
        sessions_total=body.sessions_total,
        price_fen=body.price_fen,
        first_use=first_use,
    )
    service = cross_store.check_serve_access(principal, member_row(conn, member_id))
    ensure_member_states(conn, [member_id], now)
    current = ledger_from_row(lock_member_states(conn, [member_id])[member_id].ledger)
    if current.find_pass(state.pass_id) is not None:
        raise conflict("pass_exists", f"member already holds pass {state.pass_id}", "pass_id")
    if body.payment_method is PurchaseMethod.STORED_VALUE:
        if body.price_fen < 1:
            raise invalid(
                "amount_not_positive", "a pass paid from stored value needs its price_fen",
                "price_fen",
            )  # fmt: skip
        charge(
            conn,
            coord,
            member_id=member_id,
            amount_fen=body.price_fen,
            store_id=principal.store_id,
            purpose=f"pass {state.pass_id}",
            purchase_id=None,
            staff_user=principal.username,
            now_ms=now,
        )
    issue = PassIssue(pass_state=state, payment_method=body.payment_method)
    result = coord.recorder.record(conn, [HqFact(member_id, issue, principal.store_id)], now)
    event_id = result.events[0].event_id
    audit(conn, principal.username, "pass.sell", f"{member_id}/{state.pass_id}", now,
          event_id=event_id, **service.audit_detail())  # fmt: skip
    cross_store.record(conn, service, action=action, event_id=event_id, staff=principal.username,
                       amount_fen=body.price_fen, now_ms=now)  # fmt: skip
    return PassResult(pass_=state, event_id=result.events[0].event_id)


def _window(timezone: str, body: SellPass, now_ms: int) -> tuple[int, int, FirstUse | None]:
    """(valid_from_ms, valid_until_ms, first-use terms) of a sale: the fixed window given,
    or the terms of a pass that starts at its first use, its days counted in the chain's
    ``timezone`` (``shared.model.first_use_terms``)."""
    if body.first_use_days is not None:
        if body.valid_from_ms is not None or body.valid_until_ms is not None:
            raise invalid(
                "bad_validity",
                "a pass that starts at its first use has no fixed window: give first_use_days "
                "or valid_from_ms and valid_until_ms, not both",
                "first_use_days",
            )
        return first_use_terms(now_ms, body.first_use_days, timezone, body.activate_within_days)
    if body.valid_from_ms is None or body.valid_until_ms is None:
        raise invalid(
            "bad_validity", "give valid_from_ms and valid_until_ms (or first_use_days)",
            "valid_until_ms",
        )  # fmt: skip
    if body.valid_until_ms <= body.valid_from_ms:
        raise invalid(
            "bad_validity", "valid_until_ms must be after valid_from_ms", "valid_until_ms"
        )
    return body.valid_from_ms, body.valid_until_ms, None


def update_pass(
    coord: Coordinator,
    principal: Principal,
    member_id: str,
    pass_id: str,
    *,
    price_fen: int = 0,
    payment_method: PurchaseMethod | None = None,
    **change: Any,
) -> PassResult:
    """Freeze, unfreeze, extend or top up a pass (an audited hq ``PassUpdate`` event).

    A paid extension or top-up records ``price_fen`` and ``payment_method`` on the event
    (revenue, RFM), charges stored value in the same transaction when paid from it, and adds
    a staff sale row with its commission (:func:`_staff_sale`)."""
    principal.require_write()
    if price_fen > 0 and payment_method is None:
        raise invalid("payment_method_required", "say how the price was paid", "payment_method")
    if payment_method is not None and price_fen < 1:
        raise invalid("amount_not_positive", "a payment needs its price_fen", "price_fen")
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        service = cross_store.check_serve_access(principal, member_row(conn, member_id))
        ensure_member_states(conn, [member_id], now)
        ledger = ledger_from_row(lock_member_states(conn, [member_id])[member_id].ledger)
        held = ledger.find_pass(pass_id)
        if held is None:
            raise not_found("pass", pass_id, "pass_id")
        if service.cross_store and not _is_session_top_up(held, change):
            # Another store may add sessions; freezing and extending stay with the home store.
            raise cross_store.HomeStoreOnly(service.home_store_id, service.serving_store_id)
        if principal.store_filter() is not None:
            _scope_check(principal, list(held.store_ids))
        moves_clock = "frozen" in change or "valid_until_ms" in change
        if moves_clock and held.pause_problem(now) is not None:
            raise conflict(
                "pass_not_started",
                f"pass {pass_id} has not started yet: it starts at the member's first visit "
                "(or by itself at its deadline); freeze or extend it after that",
                "pass_id",
            )
        if change.get("frozen") is True and held.frozen:
            raise conflict("pass_frozen", f"pass {pass_id} is already frozen", "pass_id")
        if change.get("frozen") is False:
            if not held.frozen:
                raise conflict("pass_not_frozen", f"pass {pass_id} is not frozen", "pass_id")
            since = frozen_since(conn, member_id, pass_id)
            if since is not None and "valid_until_ms" not in change:
                change["valid_until_ms"] = unfrozen_until(held.valid_until_ms, since, now)
        if payment_method is PurchaseMethod.STORED_VALUE:
            charge(
                conn,
                coord,
                member_id=member_id,
                amount_fen=price_fen,
                store_id=principal.store_id,
                purpose=f"pass {pass_id} extension",
                purchase_id=None,
                staff_user=principal.username,
                now_ms=now,
            )
        body = PassUpdate(
            pass_id=pass_id,
            staff_user=principal.username,
            price_fen=price_fen,
            payment_method=payment_method,
            **change,
        )
        result = coord.recorder.record(conn, [HqFact(member_id, body, principal.store_id)], now)
        event_id = result.events[0].event_id
        paid = {"price_fen": price_fen, "payment_method": payment_method.value} if price_fen else {}
        audit(conn, principal.username, "pass.update", f"{member_id}/{pass_id}", now,
              event_id=event_id, **change, **paid, **service.audit_detail())  # fmt: skip
        if price_fen:
            _staff_sale(conn, principal, service, pass_id, event_id, price_fen, now)
        cross_store.record(conn, service, action="pass.top_up", event_id=event_id,
                           staff=principal.username, amount_fen=price_fen, now_ms=now)  # fmt: skip
        after = result.outcomes[0].ledger.find_pass(pass_id)
    coord.pusher.wake()
    return PassResult(pass_=after, event_id=result.events[0].event_id)


def _is_session_top_up(held: PassState, change: dict[str, Any]) -> bool:
    """True when ``change`` only adds sessions to the pass (a top-up of sessions, 充次)."""
    return set(change) == {"sessions_total"} and change["sessions_total"] > held.sessions_total


def _staff_sale(
    conn: sa.Connection,
    principal: Principal,
    service: cross_store.Service,
    pass_id: str,
    event_id: str,
    price_fen: int,
    now_ms: int,
) -> None:
    """A paid extension or session top-up as a staff sale row (the commission report): the
    catalogue product the pass was sold as, else the pass itself (the default commission
    rule then applies), with the commission of the store's rules in force now: the serving
    store's, the commission the serving staff member's."""
    member_id = service.member_id
    s = schema.product_sales
    product_id = conn.execute(
        sa.select(s.c.product_id)
        .where(s.c.member_id == member_id, s.c.pass_id == pass_id)
        .order_by(s.c.id)
        .limit(1)
    ).scalar()
    store = principal.store_filter() or service.home_store_id
    bundle = (
        rule_bundles.bundle_for_store(conn, store) if store else rule_bundles.chain_bundle(conn)
    )
    product = product_id or pass_id
    conn.execute(
        sa.insert(s).values(
            event_id=event_id,
            product_id=product,
            member_id=member_id,
            pass_id=pass_id,
            store_id=store,
            staff=principal.username,
            price_fen=price_fen,
            commission_fen=commission_fen(bundle.commission, product, price_fen) if bundle else 0,
            rules_version=bundle.version if bundle else 0,
            sold_ms=now_ms,
            member_store_id=service.home_store_id,
            cross_store=service.cross_store,
        )
    )


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
    change = body.model_dump(exclude_none=True, exclude={"price_fen", "payment_method"})
    if not change:
        raise invalid("nothing_to_change", "give valid_until_ms and/or sessions_total")
    return update_pass(
        coord,
        principal,
        member_id,
        pass_id,
        price_fen=body.price_fen,
        payment_method=body.payment_method,
        **change,
    )
