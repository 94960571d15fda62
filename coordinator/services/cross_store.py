"""Cross-store service: store staff serving a member whose home is another store.

The one rule (issue 13): a store-bound user with write access (store manager, front desk)
may *serve* a member of another store — sell a pass from their own store's catalogue, top up
stored value, top up a pass's sessions, take a purchase at the desk (which may redeem a
coupon the product allows there) — and every such action is recorded as cross-store service:
a :data:`coordinator.schema.cross_store_services` row naming the serving store (the user's)
and the member's home store, the same facts on the audit line, and the serving store on the
ledger event, so the money reports count the revenue where it was taken and the commission
goes to the serving staff member.

Everything else about that member — profile, cards, phones, freezes, extensions, points,
coupons given away, deletions — stays with the member's home store or HQ:
:func:`check_home_access` refuses it (403 ``store_forbidden``, nothing changed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.errors import ApiError
from coordinator.security.auth import STORE_ROLES, Principal, Role

SERVING_ROLES = frozenset({Role.STORE_MANAGER, Role.FRONT_DESK})
"""Store roles that may find and serve another store's member (a coach of another store
may not: it reads its own store only)."""

SERVE_ACTIONS = ("pass.sell", "product.sell", "stored_value.top_up", "pass.top_up", "purchase")
"""What a store may do for another store's member (the ``action`` of a service row)."""


class HomeStoreOnly(ApiError):
    """403: only the member's home store (or HQ) may do this to the member."""

    def __init__(self, home_store_id: str | None, serving_store_id: str | None):
        home = home_store_id or "HQ"
        super().__init__(
            403,
            "store_forbidden",
            f"this member belongs to store {home}: only that store or HQ can change the "
            f"member's profile, cards, passes' validity or points; here in store "
            f"{serving_store_id} you may sell, top up and redeem (cross-store service)",
        )
        self.home_store_id = home_store_id
        self.serving_store_id = serving_store_id


@dataclass(frozen=True)
class Service:
    """Who serves whom: the serving store (None: HQ) and the member's home store."""

    member_id: str
    home_store_id: str | None
    serving_store_id: str | None
    cross_store: bool

    def audit_detail(self) -> dict[str, Any]:
        """What the audit line adds for a cross-store service (nothing otherwise)."""
        if not self.cross_store:
            return {}
        return {
            "cross_store": True,
            "serving_store_id": self.serving_store_id,
            "home_store_id": self.home_store_id,
        }


def is_cross_store(principal: Principal, row: sa.Row[Any]) -> bool:
    """True when a store-bound user looks at a member whose home is not their store."""
    return principal.role in STORE_ROLES and row.home_store_id != principal.store_id


def check_home_access(principal: Principal, row: sa.Row[Any]) -> None:
    """Refuse store staff acting on a member of another store (profile, cards, freeze,
    extend, points, coupons given away, deletions): 403 naming the member's home store."""
    if is_cross_store(principal, row):
        raise HomeStoreOnly(row.home_store_id, principal.store_id)


def check_serve_access(principal: Principal, row: sa.Row[Any]) -> Service:
    """May ``principal`` serve this member (sell, top up, redeem)? Their own store's members
    and HQ: yes; a store manager or front desk: yes, as cross-store service; a coach of
    another store: no (403). The caller still checks write access and what the store
    sells."""
    cross = is_cross_store(principal, row)
    if cross and principal.role not in SERVING_ROLES:
        raise HomeStoreOnly(row.home_store_id, principal.store_id)
    return Service(
        member_id=row.member_id,
        home_store_id=row.home_store_id,
        serving_store_id=principal.store_id if principal.role in STORE_ROLES else None,
        cross_store=cross,
    )


def record(
    conn: Connection,
    service: Service,
    *,
    action: str,
    event_id: str,
    staff: str,
    amount_fen: int,
    now_ms: int,
) -> None:
    """Write the cross-store service row of one action (nothing for a home-store one),
    inside the caller's transaction."""
    if not service.cross_store:
        return
    assert action in SERVE_ACTIONS, action
    conn.execute(
        sa.insert(schema.cross_store_services).values(
            event_id=event_id,
            action=action,
            member_id=service.member_id,
            home_store_id=service.home_store_id,
            serving_store_id=service.serving_store_id,
            staff=staff,
            amount_fen=amount_fen,
            at_ms=now_ms,
        )
    )


def served_events(conn: Connection, member_id: str) -> dict[str, str | None]:
    """event id -> serving store of the member's cross-store services."""
    x = schema.cross_store_services
    rows = conn.execute(
        sa.select(x.c.event_id, x.c.serving_store_id).where(x.c.member_id == member_id)
    )
    return {r.event_id: r.serving_store_id for r in rows}
