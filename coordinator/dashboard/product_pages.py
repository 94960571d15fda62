"""The product catalogue page (``/dashboard/products``): what the chain sells, at what price
(integer fen, shown in yuan), for how long, for which classes and in which stores.

Managers add products and take them off sale; everyone else reads. Selling is on the member
page (a product, then the confirmation: two clicks).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from coordinator.dashboard.i18n import yuan
from coordinator.dashboard.pages import PREFIX, SessionDep, _coord, _stores_for, render
from coordinator.errors import ApiError
from coordinator.security import page_sessions as session
from coordinator.services import products
from shared.model import FIRST_USE_DEADLINE_DAYS, Id

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _page(
    request: Request, current: session.Session, *, problem: str = "", status: int = 200
) -> HTMLResponse:
    principal = current.principal
    return render(
        request,
        "products.html",
        current,
        status=status,
        nav="products",
        items=products.list_products(_coord(request), principal),
        stores=_stores_for(request, principal),
        kinds=[k.value for k in products.ProductKind],
        yuan=yuan,
        problem=problem,
        done=request.query_params.get("done") == "1",
    )


@router.get("/products", response_class=HTMLResponse)
def products_page(request: Request, current: SessionDep) -> Response:
    """The catalogue, and (for managers) the form that adds a product."""
    return _page(request, current)


def _fen(text: str, field: str) -> int:
    """A yuan amount typed as ``980`` or ``980.5`` as integer fen (no float)."""
    text = text.strip().replace(",", "").replace("¥", "")
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 2)):
        raise ApiError(422, "invalid_amount", f"{field}: give an amount like 980 or 980.50", field)
    return int(whole) * 100 + int((frac + "00")[:2])


@router.post("/products", response_class=HTMLResponse)
def add_product(
    request: Request,
    current: SessionDep,
    name: Annotated[str, Form(max_length=200)],
    kind: Annotated[str, Form(max_length=20)],
    price: Annotated[str, Form(max_length=20)],
    sessions: Annotated[int, Form(ge=0, le=10_000)] = 0,
    validity_days: Annotated[int, Form(ge=0, le=products.MAX_VALIDITY_DAYS)] = 0,
    activate_on_first_use: Annotated[bool, Form()] = False,
    activate_within_days: Annotated[
        int, Form(ge=1, le=products.MAX_VALIDITY_DAYS)
    ] = FIRST_USE_DEADLINE_DAYS,
    value: Annotated[str, Form(max_length=20)] = "0",
    class_types: Annotated[str, Form(max_length=500)] = "",
    store_ids: Annotated[list[str] | None, Form()] = None,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Add a product (managers); a refusal shows the reason and adds nothing."""
    try:
        if csrf != current.csrf:
            raise ApiError(403, "csrf_failed", "reload the page and try again")
        try:
            body = products.NewProduct(
                name=name,
                kind=kind,
                price_fen=_fen(price, "price"),
                sessions=sessions,
                validity_days=validity_days,
                activate_on_first_use=activate_on_first_use,
                activate_within_days=activate_within_days,
                value_fen=_fen(value or "0", "value"),
                class_types=[x.strip() for x in class_types.split(",") if x.strip()],
                store_ids=store_ids or [],
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(x) for x in first["loc"])
            raise ApiError(422, "invalid_input", f"{field}: {first['msg']}", field) from exc
        products.create_product(_coord(request), current.principal, body)
    except ApiError as exc:
        return _page(request, current, problem=exc.message, status=exc.status)
    return RedirectResponse(f"{PREFIX}/products?done=1", status_code=303)


@router.post("/products/{product_id}/active", response_class=HTMLResponse)
def toggle_product(
    request: Request,
    current: SessionDep,
    product_id: Annotated[Id, PathParam()],
    active: Annotated[bool, Form()] = False,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Take a product off sale, or back on."""
    try:
        if csrf != current.csrf:
            raise ApiError(403, "csrf_failed", "reload the page and try again")
        products.set_active(_coord(request), current.principal, product_id, active)
    except ApiError as exc:
        return _page(request, current, problem=exc.message, status=exc.status)
    return RedirectResponse(f"{PREFIX}/products?done=1", status_code=303)
