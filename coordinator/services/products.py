"""The product catalogue: the card products a chain sells, and selling one to a member.

A product is data (price in integer fen, validity, sessions, class types, the stores that
sell it). Selling a punch or time pass from the catalogue records the same hq ``PassIssue``
event as :func:`coordinator.services.passes.sell_pass` (it calls it) and a row in
``product_sales`` naming the staff member and store, with the commission the rule bundle in
force for that store gives (:func:`shared.model.commission_fen`), which the commission report
reads.
Stored-value packages are catalogue data only until stored value exists (a follow-up of the
money work); selling one is refused with that reason.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import Field

from coordinator import schema
from coordinator.downstream import rule_bundles
from coordinator.errors import conflict, invalid, not_found
from coordinator.ledger.jsonrows import dumps, loads_list
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services import cross_store
from coordinator.services.common import Body, Out, audit, member_row, store_exists
from coordinator.services.passes import PassResult, SellPass, record_sale
from shared.events import PurchaseMethod
from shared.model import FIRST_USE_DEADLINE_DAYS, Count, Id, PassKind, commission_fen

DAY_MS = 86_400_000
MAX_VALIDITY_DAYS = 3660


class ProductKind(StrEnum):
    """What a product is."""

    PUNCH = "punch"
    """计次卡: N sessions within the validity."""
    TIME = "time"
    """月卡/季卡/年卡: unlimited entries within the validity."""
    STORED_VALUE = "stored_value"
    """储值套餐: a top-up package (catalogue data until stored value exists)."""


class NewProduct(Body):
    """A product to add to the catalogue."""

    product_id: Id | None = None
    name: str = Field(min_length=1, max_length=200)
    kind: ProductKind
    price_fen: Count
    sessions: int = Field(0, ge=0, le=10_000)
    validity_days: int = Field(0, ge=0, le=MAX_VALIDITY_DAYS)
    activate_on_first_use: bool = False
    activate_within_days: int = Field(FIRST_USE_DEADLINE_DAYS, ge=1, le=MAX_VALIDITY_DAYS)
    """With ``activate_on_first_use``: a pass never used starts by itself this many
    store-local days after the sale."""
    value_fen: Count = 0
    class_types: list[Id] = Field([], max_length=100)
    store_ids: list[Id] = Field([], max_length=1000)
    """Stores that sell it; empty = every store (HQ admins only)."""


class ProductOut(Out):
    """A product of the catalogue."""

    product_id: str
    name: str
    kind: ProductKind
    price_fen: int
    sessions: int
    validity_days: int
    activate_on_first_use: bool
    activate_within_days: int
    value_fen: int
    class_types: list[str]
    store_ids: list[str]
    active: bool

    def sold_in(self, store_id: str | None) -> bool:
        """True when the product is sold in ``store_id`` (None: HQ, anywhere)."""
        return store_id is None or not self.store_ids or store_id in self.store_ids


class ProductSold(Out):
    """A sale from the catalogue: the pass recorded and the sale row."""

    product_id: str
    member_id: str
    store_id: str | None
    staff: str
    price_fen: int
    sale: PassResult


def _out(row: sa.Row[Any]) -> ProductOut:
    return ProductOut(
        product_id=row.product_id,
        name=row.name,
        kind=ProductKind(row.kind),
        price_fen=row.price_fen,
        sessions=row.sessions,
        validity_days=row.validity_days,
        activate_on_first_use=bool(row.activate_on_first_use),
        activate_within_days=int(row.activate_within_days),
        value_fen=row.value_fen,
        class_types=loads_list(row.class_types),
        store_ids=loads_list(row.store_ids),
        active=bool(row.active),
    )


def _check(principal: Principal, body: NewProduct) -> None:
    """The rules of a product, each refusal naming its field."""
    own = principal.store_filter()
    if own is not None and body.store_ids != [own]:
        raise invalid("store_scope_required",
                      f"store managers add products sold in their own store only: "
                      f"store_ids=[{own!r}]", "store_ids")  # fmt: skip
    if body.kind is ProductKind.STORED_VALUE:
        if body.value_fen < 1:
            raise invalid("no_value", "a stored-value package credits value_fen >= 1",
                          "value_fen")  # fmt: skip
        return
    if body.validity_days < 1:
        raise invalid("no_validity", "a pass needs validity_days >= 1", "validity_days")
    if body.kind is ProductKind.PUNCH and body.sessions < 1:
        raise invalid("no_sessions", "a punch pass needs sessions >= 1", "sessions")


def create_product(coord: Coordinator, principal: Principal, body: NewProduct) -> ProductOut:
    """Add a product (HQ admins; a store manager for their own store)."""
    principal.require_manager()
    _check(principal, body)
    product_id = body.product_id or "prod-" + uuid.uuid4().hex[:10]
    now = coord.clock.wall_ms()
    p = schema.products
    with coord.db.write() as conn:
        for store_id in body.store_ids:
            store_exists(conn, store_id, "store_ids")
        if conn.execute(sa.select(p.c.product_id).where(p.c.product_id == product_id)).first():
            raise conflict("product_exists", f"product {product_id!r} exists", "product_id")
        values = body.model_dump(exclude={"product_id", "class_types", "store_ids"})
        conn.execute(
            sa.insert(p).values(
                product_id=product_id,
                **values,
                class_types=dumps(sorted(set(body.class_types))),
                store_ids=dumps(sorted(set(body.store_ids))),
                active=True,
                created_by=principal.username,
                created_ms=now,
            )
        )
        audit(conn, principal.username, "product.create", product_id, now,
              price_fen=body.price_fen, kind=body.kind.value)  # fmt: skip
        return _out(conn.execute(sa.select(p).where(p.c.product_id == product_id)).one())


def set_active(
    coord: Coordinator, principal: Principal, product_id: str, active: bool
) -> ProductOut:
    """Take a product off sale (or back on); past sales are untouched."""
    principal.require_manager()
    now = coord.clock.wall_ms()
    p = schema.products
    with coord.db.write() as conn:
        product = get_product(conn, product_id)
        if principal.store_filter() is not None and product.store_ids != [principal.store_id]:
            principal.require_admin()
        conn.execute(sa.update(p).where(p.c.product_id == product_id).values(active=active))
        audit(conn, principal.username, "product.active", product_id, now, active=active)
        return get_product(conn, product_id)


def get_product(conn: sa.Connection, product_id: str) -> ProductOut:
    """One product (404 when unknown)."""
    p = schema.products
    row = conn.execute(sa.select(p).where(p.c.product_id == product_id)).first()
    if row is None:
        raise not_found("product", product_id, "product_id")
    return _out(row)


def list_products(
    coord: Coordinator, principal: Principal, *, sellable_only: bool = False
) -> list[ProductOut]:
    """The catalogue (store staff: what their store sells); ``sellable_only``: active passes
    the caller's store sells."""
    p = schema.products
    with coord.db.read() as conn:
        rows = conn.execute(sa.select(p).order_by(p.c.kind, p.c.price_fen, p.c.product_id))
        items = [_out(r) for r in rows]
    store = principal.store_filter()
    items = [x for x in items if x.sold_in(store)]
    if sellable_only:
        items = [x for x in items if x.active and x.kind is not ProductKind.STORED_VALUE]
    return items


def sell_product(
    coord: Coordinator,
    principal: Principal,
    member_id: str,
    product_id: str,
    *,
    payment_method: PurchaseMethod | None = None,
) -> ProductSold:
    """Sell a catalogue product to a member: the pass (an hq event, the pass service's own
    checks, paid by ``payment_method``: ``stored_value`` charges the member in the same
    transaction) and a sale row naming the staff member. Refused, with nothing changed, when
    the product is off sale, a stored-value package, not sold in the seller's store, or paid
    from stored value that does not cover it."""
    principal.require_write()
    now = coord.clock.wall_ms()
    with coord.db.read() as conn:
        product = get_product(conn, product_id)
        row = member_row(conn, member_id)
    home = row.home_store_id
    served_elsewhere = cross_store.is_cross_store(principal, row)
    store = principal.store_filter() or home
    if not product.active:
        raise conflict("product_inactive", f"{product.name} is not on sale any more",
                       "product_id")  # fmt: skip
    if product.kind is ProductKind.STORED_VALUE:
        raise conflict("stored_value_unavailable",
                       "stored-value packages are sold once stored value is available",
                       "product_id")  # fmt: skip
    if not product.sold_in(store):
        raise conflict("product_not_sold_here",
                       f"{product.name} is not sold in store {store}; sold in "
                       f"{', '.join(product.store_ids)}", "product_id")  # fmt: skip
    # Store staff sell passes valid in their store (the pass service's rule); HQ sells the
    # product's stores.
    valid_in = [principal.store_id] if principal.store_filter() else product.store_ids
    # A product activated on first use sells a pass holding its length, not a window: the
    # member's first visit starts it (by activate_within_days after the sale at the
    # latest), its days counted on the store's calendar (shared.model.FirstUse).
    window: dict[str, int] = (
        {
            "first_use_days": product.validity_days,
            "activate_within_days": product.activate_within_days,
        }
        if product.activate_on_first_use
        else {"valid_from_ms": now, "valid_until_ms": now + product.validity_days * DAY_MS}
    )
    sale = SellPass(
        kind=PassKind(product.kind.value),
        name=product.name,
        class_types=product.class_types,
        store_ids=[s for s in valid_in if s],
        **window,
        sessions_total=product.sessions,
        price_fen=product.price_fen,
        payment_method=payment_method,
    )
    with coord.db.write() as conn:
        result = record_sale(conn, coord, principal, member_id, sale, action="product.sell")
        bundle = (
            rule_bundles.bundle_for_store(conn, store) if store else rule_bundles.chain_bundle(conn)
        )
        commission = (
            commission_fen(bundle.commission, product.product_id, product.price_fen)
            if bundle
            else 0
        )
        conn.execute(
            sa.insert(schema.product_sales).values(
                event_id=result.event_id,
                product_id=product.product_id,
                member_id=member_id,
                pass_id=result.pass_.pass_id if result.pass_ else None,
                store_id=store,
                staff=principal.username,
                price_fen=product.price_fen,
                commission_fen=commission,
                rules_version=bundle.version if bundle else 0,
                sold_ms=now,
                member_store_id=home,
                cross_store=served_elsewhere,
            )
        )
        audit(conn, principal.username, "product.sell", member_id, now,
              product_id=product.product_id, price_fen=product.price_fen,
              payment_method=payment_method.value if payment_method else None,
              event_id=result.event_id, cross_store=served_elsewhere, home_store_id=home,
              serving_store_id=store)  # fmt: skip
    coord.pusher.wake()
    return ProductSold(
        product_id=product.product_id,
        member_id=member_id,
        store_id=store,
        staff=principal.username,
        price_fen=product.price_fen,
        sale=result,
    )
