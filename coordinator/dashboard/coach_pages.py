"""A coach's own classes (``/dashboard/my-classes``): their sessions of the week with each
roster (booked, signed in, waitlisted, no-shows), and the form that marks one as taught
(credited to them with the attendance; the staff report reads it). Coaches only; every
refusal is shown and changes nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from coordinator.dashboard.pages import PREFIX, SessionDep, _coord, _error_page, render
from coordinator.errors import ApiError
from coordinator.security import page_sessions as session
from coordinator.services import bookings, coaching
from shared.model import Id

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _page(
    request: Request,
    current: session.Session,
    day: date | None,
    *,
    problem: str = "",
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    principal = current.principal
    coord = _coord(request)
    try:
        mine = coaching.my_classes(coord, principal, day)
        zone = ZoneInfo(mine.timezone)
        rows = [
            {
                "s": s,
                "at": datetime.fromtimestamp(s.starts_ms / 1000, UTC).astimezone(zone),
                "roster": bookings.roster(coord, principal, s.store_id, s.class_session_id),
                "started": s.starts_ms <= coord.clock.wall_ms(),
            }
            for s in mine.sessions
        ]
    except ApiError as exc:
        return _error_page(request, current, exc)
    return render(
        request,
        "my_classes.html",
        current,
        status=status,
        nav="my_classes",
        mine=mine,
        rows=rows,
        prev_day=(mine.first_day - timedelta(days=7)).isoformat(),
        next_day=(mine.first_day + timedelta(days=7)).isoformat(),
        problem=problem,
        notice=notice,
    )


@router.get("/my-classes", response_class=HTMLResponse)
def my_classes_page(
    request: Request, current: SessionDep, day: Annotated[date | None, Query()] = None
) -> Response:
    """The coach's sessions of the week, each with its roster and the mark-taught form."""
    done = request.query_params.get("done") == "taught"
    return _page(request, current, day, notice="my.done" if done else "")


@router.post("/my-classes/taught", response_class=HTMLResponse)
def mark_taught(
    request: Request,
    current: SessionDep,
    class_session_id: Annotated[Id, Form()],
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Mark one of the coach's sessions taught (once), then back to the week."""
    principal = current.principal
    try:
        if csrf != current.csrf:
            raise ApiError(403, "csrf_failed", "reload the page and try again")
        coaching.mark_taught(_coord(request), principal, principal.store_id or "", class_session_id)
    except ApiError as exc:
        return _page(request, current, None, problem=exc.message, status=exc.status)
    return RedirectResponse(f"{PREFIX}/my-classes?done=taught", status_code=303)
