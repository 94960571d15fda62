"""Staff accounts (``/dashboard/staff``): a store's front-desk staff and coaches, their own
logins and their own kiosk PINs. Managers only; every refusal is shown and changes nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from coordinator.dashboard.pages import PREFIX, SessionDep, _coord, _error_page, _stores_for, render
from coordinator.errors import ApiError
from coordinator.security import page_sessions as session
from coordinator.services import staff
from coordinator.services.users import NewUser
from shared.model import Id

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Csrf = Annotated[str, Form(max_length=200)]


def _page(
    request: Request,
    current: session.Session,
    *,
    problem: str = "",
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    principal = current.principal
    try:
        people = staff.list_staff(_coord(request), principal)
    except ApiError as exc:
        return _error_page(request, current, exc)
    return render(
        request,
        "staff.html",
        current,
        status=status,
        nav="staff",
        people=people,
        stores=_stores_for(request, principal),
        roles=[r.value for r in staff.STAFF_ROLES]
        + ([] if principal.store_filter() else ["store_manager", "viewer", "hq_admin"]),
        problem=problem,
        notice=notice,
    )


def _check_csrf(current: session.Session, csrf: str) -> None:
    if csrf != current.csrf:
        raise ApiError(403, "csrf_failed", "reload the page and try again")


@router.get("/staff", response_class=HTMLResponse)
def staff_page(request: Request, current: SessionDep) -> Response:
    """The store's staff, the form that adds one, and each person's kiosk PIN form."""
    return _page(request, current)


@router.post("/staff", response_class=HTMLResponse)
def add_staff(
    request: Request,
    current: SessionDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    role: Annotated[str, Form(max_length=20)],
    store_id: Annotated[str, Form(max_length=64)] = "",
    csrf: Csrf = "",
) -> Response:
    """Create a staff account with its own login."""
    try:
        _check_csrf(current, csrf)
        try:
            body = NewUser(username=username, password=password, role=role,
                           store_id=store_id or None)  # fmt: skip
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(x) for x in first["loc"])
            raise ApiError(422, "invalid_input", f"{field}: {first['msg']}", field) from exc
        staff.create_staff(_coord(request), current.principal, body)
    except ApiError as exc:
        return _page(request, current, problem=exc.message, status=exc.status)
    return RedirectResponse(f"{PREFIX}/staff?done=user", status_code=303)


@router.post("/staff/{username}/pin", response_class=HTMLResponse)
def set_pin(
    request: Request,
    current: SessionDep,
    username: Annotated[Id, PathParam()],
    pin: Annotated[str, Form(max_length=40)],
    csrf: Csrf = "",
) -> Response:
    """Set a staff member's kiosk PIN; the store's kiosks get it with the rule bundle."""
    try:
        _check_csrf(current, csrf)
        staff.set_pin(_coord(request), current.principal, username, staff.PinChange(pin=pin))
    except ApiError as exc:
        return _page(request, current, problem=exc.message, status=exc.status)
    return RedirectResponse(f"{PREFIX}/staff?done=pin", status_code=303)
