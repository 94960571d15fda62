"""Staff accounts (``/dashboard/staff``): a store's front-desk staff and coaches, their own
logins, their own kiosk PINs and staff cards (UID typed, or tapped at a kiosk of their store).
Managers only; every refusal is shown and changes nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from coordinator.dashboard.i18n import t
from coordinator.dashboard.pages import (
    PREFIX,
    SessionDep,
    _coord,
    _error_page,
    _stores_for,
    lang_of,
    render,
    typed_uid,
)
from coordinator.errors import ApiError
from coordinator.security import page_sessions as session
from coordinator.services import front_desk, staff
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
    coord = _coord(request)
    try:
        people = staff.list_staff(coord, principal)
        stores = sorted({p.store_id for p in people if p.store_id})
        kiosks = {s: front_desk.store_kiosks(coord, principal, s) for s in stores}
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
        kiosks=kiosks,
        now_ms=coord.clock.wall_ms(),
        problem=problem,
        notice=notice,
    )


def _check_csrf(current: session.Session, csrf: str) -> None:
    if csrf != current.csrf:
        raise ApiError(403, "csrf_failed", "reload the page and try again")


DONE = ("user", "pin", "card", "unbind")
"""Actions whose success the staff page announces (``?done=...``)."""


@router.get("/staff", response_class=HTMLResponse)
def staff_page(
    request: Request,
    current: SessionDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The store's staff, the form that adds one, and each person's kiosk PIN and staff
    card forms."""
    notice = t(lang_of(request), "staff.done_" + done) if done in DONE else ""
    return _page(request, current, notice=notice)


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


@router.post("/staff/{username}/card", response_class=HTMLResponse)
def bind_card(
    request: Request,
    current: SessionDep,
    username: Annotated[Id, PathParam()],
    uid: Annotated[str, Form(max_length=40)],
    csrf: Csrf = "",
) -> Response:
    """Bind a staff card by its UID (typed, or read by a desk reader)."""
    try:
        _check_csrf(current, csrf)
        try:
            body = staff.StaffCardBind(uid=typed_uid(uid))
        except ValidationError as exc:
            raise ApiError(422, "invalid_uid", t(lang_of(request), "staff.bad_uid"), "uid") from exc
        staff.bind_card(_coord(request), current.principal, username, body)
    except ApiError as exc:
        return _page(request, current, problem=exc.message, status=exc.status)
    return RedirectResponse(f"{PREFIX}/staff?done=card", status_code=303)


@router.post("/staff/{username}/card/tapped", response_class=HTMLResponse)
def bind_tapped_card(
    request: Request,
    current: SessionDep,
    username: Annotated[Id, PathParam()],
    kiosk_id: Annotated[Id, Form()],
    since_ms: Annotated[int, Form(ge=0, le=10**14)],
    csrf: Csrf = "",
) -> Response:
    """Bind the card just tapped at a kiosk of the staff member's store."""
    try:
        _check_csrf(current, csrf)
        staff.bind_tapped_card(_coord(request), current.principal, username, kiosk_id, since_ms)
    except ApiError as exc:
        return _page(request, current, problem=exc.message, status=exc.status)
    return RedirectResponse(f"{PREFIX}/staff?done=card", status_code=303)


@router.post("/staff/{username}/card/unbind", response_class=HTMLResponse)
def unbind_card(
    request: Request,
    current: SessionDep,
    username: Annotated[Id, PathParam()],
    csrf: Csrf = "",
) -> Response:
    """Take the staff member's card away; the store's kiosks stop accepting it."""
    try:
        _check_csrf(current, csrf)
        staff.unbind_card(_coord(request), current.principal, username)
    except ApiError as exc:
        return _page(request, current, problem=exc.message, status=exc.status)
    return RedirectResponse(f"{PREFIX}/staff?done=unbind", status_code=303)
