"""The dashboard's HTML pages, login and static assets (``/dashboard/...``).

Pages are rendered on the server (Jinja2, autoescaped) in the caller's language; live
parts (the fleet, a kiosk, rollouts) are filled by the page scripts from the JSON routes.
Every asset is served from here: no CDN, no web font, no third-party script. A strict
Content-Security-Policy (``'self'`` only) makes the browser refuse anything else.

Auth: pages need the session cookie (see :mod:`coordinator.security.page_sessions`); without
one they redirect to the login form. Role checks are the API's own: pages call the same
functions as the JSON routes, and hide what the role may not do.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from coordinator.dashboard.i18n import client_words, normalize, t, yuan
from coordinator.errors import ApiError
from coordinator.fleet import fleet_view as fleet
from coordinator.reports.service import PAGE_ROWS
from coordinator.runtime import Coordinator
from coordinator.security import page_sessions as session
from coordinator.security.auth import Principal, Role, log_in
from coordinator.security.login_limit import client_address
from coordinator.services import conflicts, engage, reports, self_service, timetables
from coordinator.services import fleet as fleet_service
from coordinator.services import kiosks as kiosks_service
from shared.model import COUPON_KINDS, Id

HERE = Path(__file__).resolve().parent
PREFIX = "/dashboard"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)


class LoginRequired(Exception):
    """A page was asked for without a valid session."""

    def __init__(self, next_path: str):
        super().__init__(next_path)
        self.next_path = next_path


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tojson_safe"] = _json_for_script
    env.globals["coupon_kinds"] = tuple(kind.value for kind in COUPON_KINDS)
    return env


def _json_for_script(value: Any) -> str:
    """JSON that is safe inside a ``<script type="application/json">`` element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def lang_of(request: Request) -> str:
    """``?lang=`` if given, else the language cookie, else the browser's, else zh."""
    asked = request.query_params.get("lang")
    if asked:
        return normalize(asked)
    saved = request.cookies.get(session.LANG_COOKIE)
    if saved:
        return normalize(saved)
    accept = request.headers.get("accept-language", "")
    return normalize(accept.split(",")[0]) if accept.lower().startswith("en") else "zh"


def _safe_next(value: str | None) -> str:
    """Only local dashboard paths are followed after login (no open redirects)."""
    if value and value.startswith(PREFIX + "/") and not value.startswith("//"):
        return value
    return PREFIX + "/fleet"


def page_session(request: Request) -> session.Session:
    """The page's session, or a redirect to the login form."""
    found = session.current(request)
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return found


SessionDep = Annotated[session.Session, Depends(page_session)]


def _switch_url(request: Request, lang: str) -> str:
    params = dict(request.query_params)
    params["lang"] = "en" if lang == "zh" else "zh"
    return f"{request.url.path}?{urlencode(params)}"


def render(
    request: Request,
    template: str,
    current: session.Session | None,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page in the caller's language with the security headers every page gets."""
    lang = lang_of(request)
    principal = current.principal if current else None
    html = (
        _env()
        .get_template(template)
        .render(
            lang=lang,
            t=partial(t, lang),
            user=principal,
            can_write=principal is not None and principal.role not in (Role.VIEWER, Role.COACH),
            can_manage=principal is not None
            and principal.role in (Role.HQ_ADMIN, Role.STORE_MANAGER),
            csrf=current.csrf if current else "",
            words=client_words(lang),
            path=request.url.path,
            switch_url=_switch_url(request, lang),
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status)
    secure_headers(response)
    if request.query_params.get("lang"):
        response.set_cookie(
            session.LANG_COOKIE, lang, max_age=365 * 86_400, path="/", samesite="strict"
        )
    return response


def secure_headers(response: Response) -> None:
    """CSP ('self' only), no sniffing, no framing, no caching of pages."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"


def _error_page(request: Request, current: session.Session, exc: ApiError) -> HTMLResponse:
    return render(request, "error.html", current, status=exc.status, message=exc.message)


def typed_uid(text: str) -> str:
    """A card UID as staff type it (any case, with colons or spaces) in the form the API
    validates: upper-case hex, nothing between the digits."""
    return text.strip().upper().replace(":", "").replace(" ", "")


def _coord(request: Request) -> Coordinator:
    return request.app.state.coordinator


def _stores_for(request: Request, principal: Principal) -> list[dict[str, str]]:
    with _coord(request).db.read() as conn:
        return fleet.load_stores(conn, principal.store_filter())


# -- login -----------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home() -> RedirectResponse:
    """The fleet is the start page."""
    return RedirectResponse(PREFIX + "/fleet", status_code=303)


LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def _cookie_dropped(request: Request) -> bool:
    """True when the browser will refuse the Secure session cookie (plain HTTP, not local)."""
    secure = _coord(request).settings.dashboard.cookie_secure
    return secure and request.url.scheme == "http" and request.url.hostname not in LOOPBACK


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: Annotated[str | None, Query()] = None) -> Response:
    """The login form (straight on to ``next`` when already logged in)."""
    if session.current(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(
        request,
        "login.html",
        None,
        next=_safe_next(next),
        failed=False,
        insecure=_cookie_dropped(request),
    )


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Check the password; on success set the session cookie and go on to ``next``."""
    coord = _coord(request)
    now = coord.clock.wall_ms()
    address = client_address(request)
    try:
        coord.login_limiter.check(username, address, now)
    except ApiError as exc:  # too many failed logins
        limited = render(request, "error.html", None, status=exc.status, message=exc.message)
        limited.headers.update(exc.headers or {})
        return limited
    try:
        principal = log_in(coord.db, username, password, coord.settings.password_hash)
    except ApiError:
        coord.login_limiter.failed(username, address, now)
        return render(
            request,
            "login.html",
            None,
            status=401,
            next=_safe_next(next),
            failed=True,
            insecure=_cookie_dropped(request),
        )
    coord.login_limiter.succeeded(username, address)
    settings = coord.settings.dashboard
    value = session.issue(
        coord.settings.secret_key.get_secret_value(),
        principal,
        coord.clock.wall_ms(),
        settings.session_ttl_s,
    )
    response = RedirectResponse(_safe_next(next), status_code=303)
    session.set_cookie(response, value, ttl_s=settings.session_ttl_s, secure=settings.cookie_secure)
    return response


@router.post("/logout")
def logout(request: Request, current: SessionDep, csrf: Annotated[str, Form()] = "") -> Response:
    """End the session (the form carries the CSRF value) and show the login form."""
    if csrf != current.csrf:
        return _error_page(
            request, current, ApiError(403, "csrf_failed", "reload the page and try again")
        )
    response = RedirectResponse(PREFIX + "/login", status_code=303)
    session.clear_cookie(response, secure=_coord(request).settings.dashboard.cookie_secure)
    return response


# -- fleet -----------------------------------------------------------------------------------


@router.get("/fleet", response_class=HTMLResponse)
def fleet_page(
    request: Request,
    current: SessionDep,
    store_id: Annotated[Id | None, Query()] = None,
    problems: Annotated[bool, Query()] = False,
) -> Response:
    """Live fleet view: every kiosk by store, alive / connected / in sync / last good tap."""
    principal = current.principal
    if store_id is not None and principal.store_filter() not in (None, store_id):
        store_id = principal.store_filter()
    return render(
        request,
        "fleet.html",
        current,
        nav="fleet",
        stores=_stores_for(request, principal),
        store_id=store_id or "",
        problems=problems,
    )


@router.get("/kiosks/{kiosk_id}", response_class=HTMLResponse)
def kiosk_page(
    request: Request, current: SessionDep, kiosk_id: Annotated[Id, PathParam()]
) -> Response:
    """One kiosk: its facts (live) and the timeline of its status changes."""
    try:
        detail = fleet_service.kiosk_detail(_coord(request), current.principal, kiosk_id, 1)
        streams = kiosks_service.stream_history(_coord(request), current.principal, kiosk_id)
    except ApiError as exc:
        return _error_page(request, current, exc)
    return render(
        request,
        "kiosk.html",
        current,
        nav="fleet",
        kiosk_id=kiosk_id,
        store_id=detail.kiosk.store_id,
        streams=streams,
        when=_when_fn(request),
    )


# -- conflicts -------------------------------------------------------------------------------


@router.get("/conflicts", response_class=HTMLResponse)
def conflicts_page(request: Request, current: SessionDep) -> Response:
    """Open conflicts (the queue) and the history of decided ones."""
    coord = _coord(request)
    principal = current.principal
    open_items = conflicts.list_conflicts(coord, principal, status="open", limit=200)
    resolved = conflicts.list_conflicts(coord, principal, status="resolved", limit=100)
    withdrawn = conflicts.list_conflicts(coord, principal, status="withdrawn", limit=50)
    history = sorted(
        (c.model_dump() for c in resolved.items + withdrawn.items),
        key=lambda c: c["resolved_ms"] or c["updated_ms"],
        reverse=True,
    )
    return render(
        request,
        "conflicts.html",
        current,
        nav="conflicts",
        open_items=[c.model_dump() for c in open_items.items],
        history=history,
        when=_when_fn(request),
    )


@router.get("/conflicts/{conflict_id}", response_class=HTMLResponse)
def conflict_page(
    request: Request, current: SessionDep, conflict_id: Annotated[Id, PathParam()]
) -> Response:
    """One conflict: the story, what each decision would do, and the decision form."""
    coord = _coord(request)
    try:
        detail = conflicts.story(coord, current.principal, conflict_id).model_dump()
    except ApiError as exc:
        return _error_page(request, current, exc)
    return render(
        request,
        "conflict.html",
        current,
        nav="conflicts",
        c=detail["conflict"],
        d=detail,
        when=_when_fn(request),
    )


def _when_fn(request: Request) -> Any:
    from coordinator.reports.period import local

    with _coord(request).db.read() as conn:
        zones = {s["store_id"]: s["timezone"] for s in fleet.load_stores(conn)}

    def when(ms: int | None, store_id: str | None = None) -> str:
        if ms is None:
            return "—"
        return f"{local(ms, zones.get(store_id or '')):%Y-%m-%d %H:%M:%S}"

    return when


# -- rollouts --------------------------------------------------------------------------------


@router.get("/rollouts", response_class=HTMLResponse)
def rollouts_page(request: Request, current: SessionDep) -> Response:
    """Publish a rule bundle or a coupon campaign, and watch which kiosks applied it; and
    each software channel's release with the version every kiosk reports."""
    from coordinator.downstream import rule_bundles
    from coordinator.services.fleet import software_rollout

    principal = current.principal
    software = software_rollout(_coord(request), principal).channels
    with _coord(request).db.read() as conn:
        bundle = (
            rule_bundles.bundle_for_store(conn, principal.store_id)
            if principal.store_id
            else rule_bundles.chain_bundle(conn)
        )
    content: dict[str, Any] = {"rules": {}, "classes": [], "rewards": [], "commission": []}
    if bundle is not None:
        dumped = bundle.model_dump(mode="json")
        # Fields left at their default are not in the dump (``added_later``).
        content = {k: dumped.get(k, content[k]) for k in content}
    return render(
        request,
        "rollouts.html",
        current,
        nav="rollouts",
        stores=_stores_for(request, principal),
        draft=json.dumps(content, ensure_ascii=False, indent=2),
        software=software,
    )


# -- timetable -------------------------------------------------------------------------------


@router.get("/timetable", response_class=HTMLResponse)
def timetable_page(
    request: Request,
    current: SessionDep,
    store_id: Annotated[Id | None, Query()] = None,
    day: Annotated[date | None, Query()] = None,
) -> Response:
    """A store's week of classes; a store manager edits the weekly slots and cancels
    sessions here (each save rolls out to the store's kiosks as a new rule version)."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    principal = current.principal
    stores = _stores_for(request, principal)
    chosen = store_id or principal.store_id or (stores[0]["store_id"] if stores else None)
    if chosen is None:
        return render(request, "timetable.html", current, nav="timetable", stores=stores,
                      store_id=None, week=None, table=None, days=[], data="{}")  # fmt: skip
    coord = _coord(request)
    try:
        table = timetables.get_timetable(coord, principal, chosen)
        week = timetables.week_sessions(coord, principal, chosen, day)
    except ApiError as exc:
        return _error_page(request, current, exc)
    zone = ZoneInfo(week.timezone)
    days = []
    for i in range(7):
        d = week.first_day + timedelta(days=i)
        held = [
            {
                "session": s,
                "at": datetime.fromtimestamp(s.starts_ms / 1000, UTC).astimezone(zone),
                "until": datetime.fromtimestamp(s.ends_ms / 1000, UTC).astimezone(zone),
            }
            for s in week.sessions
            if datetime.fromtimestamp(s.starts_ms / 1000, UTC).astimezone(zone).date() == d
        ]
        days.append({"day": d, "sessions": held})
    data = table.model_dump(mode="json", include={"slots", "exceptions"})
    return render(
        request,
        "timetable.html",
        current,
        nav="timetable",
        stores=stores,
        store_id=chosen,
        week=week,
        table=table,
        days=days,
        prev_day=(week.first_day - timedelta(days=7)).isoformat(),
        next_day=(week.first_day + timedelta(days=7)).isoformat(),
        data=_json_for_script(data),
    )


# -- sign-up poster --------------------------------------------------------------------------


@router.get("/stores/{store_id}/poster", response_class=HTMLResponse)
def signup_poster(
    request: Request, current: SessionDep, store_id: Annotated[Id, PathParam()]
) -> Response:
    """A store's printable sign-up poster: the QR opens the store's sign-up page."""
    import segno

    try:
        current.principal.require_store(store_id)
        name = self_service.store_name(_coord(request), store_id)
    except ApiError as exc:
        return _error_page(request, current, exc)
    url = f"{str(request.base_url).rstrip('/')}/join/{store_id}"
    svg = segno.make(url, error="m").svg_inline(omitsize=True, border=4, light="#fff")
    return render(
        request, "poster.html", current, store_id=store_id, store_name=name, url=url, svg=svg
    )


# -- reports ---------------------------------------------------------------------------------


@router.get("/reports", response_class=HTMLResponse)
def reports_page(
    request: Request,
    current: SessionDep,
    store_id: Annotated[Id | None, Query()] = None,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    """Store-owner reports with charts, in the page's language, each table with its CSV."""
    lang = lang_of(request)
    principal = current.principal
    try:
        report = reports.build(
            _coord(request), principal, store_id=store_id, first=first, last=last, lang=lang
        )
    except ApiError as exc:
        return _error_page(request, current, exc)
    query = {"from": report.period.first.isoformat(), "to": report.period.last.isoformat()}
    if report.store_id:
        query["store_id"] = report.store_id
    return render(
        request,
        "reports.html",
        current,
        nav="reports",
        report=report,
        stores=_stores_for(request, principal),
        csv_query=urlencode({**query, "lang": lang}),
        page_rows=PAGE_ROWS,
        when=_when_fn(request),
    )


# -- engagement ------------------------------------------------------------------------------


@router.get("/engage", response_class=HTMLResponse)
def engage_page(request: Request, current: SessionDep) -> Response:
    """The chain's automations with their report, and the webhook endpoints' deliveries."""

    coord = _coord(request)
    return render(
        request,
        "engage.html",
        current,
        nav="engage",
        automations=[a.model_dump() for a in engage.automation_report(coord, current.principal)],
        endpoints=[e.model_dump() for e in engage.endpoint_stats(coord, current.principal)],
        when=_when_fn(request),
        yuan=yuan,
    )


STATIC_PATH = PREFIX + "/static"


def static_files() -> StaticFiles:
    """The dashboard's own scripts, styles and images (no CDN)."""
    return StaticFiles(directory=HERE / "static")


async def to_login(_request: Request, exc: Exception) -> Response:
    """A page asked for without a session goes to the login form, then back."""
    next_path = exc.next_path if isinstance(exc, LoginRequired) else PREFIX + "/fleet"
    target = f"{PREFIX}/login?{urlencode({'next': next_path})}"
    return RedirectResponse(target, status_code=303)
