"""The front desk's member pages (``/dashboard/members...``): search, CSV, one member, and
the actions on a member (register, edit, cards, passes, coupons, points).

Every action is a form posted with the page's CSRF value and confirmed in the browser
(``members.js``); it calls the same service function as the JSON API, so the role checks,
the audit entry and the ledger event are the API's own. Success goes back to the member page
with a notice (post/redirect/get); a refusal shows the member page again with the reason,
and nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from coordinator.dashboard.field_pages import custom_form
from coordinator.dashboard.i18n import t, t_or, yuan
from coordinator.dashboard.pages import (
    PREFIX,
    SessionDep,
    _coord,
    _error_page,
    _stores_for,
    _when_fn,
    lang_of,
    render,
    secure_headers,
    typed_uid,
)
from coordinator.dashboard.product_pages import _fen
from coordinator.errors import ApiError
from coordinator.reports.period import zone
from coordinator.security import page_sessions as session
from coordinator.services import (
    cards,
    coupons,
    front_desk,
    member_devices,
    member_fields,
    members,
    money,
    passes,
    points,
    products,
)
from coordinator.services.common import Body
from coordinator.services.cross_store import HomeStoreOnly
from shared.events import PurchaseMethod
from shared.model import COUPON_KINDS, Id, Uid
from shared.money import PaymentMethod

router = APIRouter(prefix=PREFIX, include_in_schema=False)

MAX_PAGE = 100_000
DONE = frozenset({"register", "edit", "bind", "lost", "replace", "freeze", "unfreeze", "extend",
                  "coupon", "points", "sell", "topup", "phone_removed"})  # fmt: skip
"""Actions whose success the member page announces (``?done=...``)."""
Text = Annotated[str, Form(max_length=200)]
Csrf = Annotated[str, Form(max_length=200)]
CustomForm = Annotated[dict[str, str], Depends(custom_form)]
"""The ``custom.<key>`` inputs of a member form (the chain's custom fields)."""


def _as_text(value: object) -> str:
    """A stored custom value as a form input's text (yes/no for booleans)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _field_errors(request: Request, exc: member_fields.CustomFieldRefused) -> dict[str, str]:
    """Each refused custom field's message in the page's language."""
    lang = lang_of(request)
    errors: dict[str, str] = {}
    for problem in exc.problems:
        errors.setdefault(problem.key, problem.message(lang))
    return errors


def _day_fn(request: Request) -> Any:
    when = _when_fn(request)

    def day(ms: int | None, store_id: str | None = None) -> str:
        return str(when(ms, store_id))[:10]

    return day


def _what_fn(request: Request) -> Callable[[str], str]:
    lang = lang_of(request)
    return lambda key: t_or(lang, "what." + key, key)


def _problem(request: Request, exc: ApiError) -> str:
    """The refusal in the page's language where the dashboard has its words, else the
    service's sentence."""
    if isinstance(exc, HomeStoreOnly):
        home = exc.home_store_id or "HQ"
        return t(lang_of(request), "cross.refused", home=home, store=exc.serving_store_id)
    return exc.message


def _invalid(exc: ValidationError) -> ApiError:
    """A form value the model refused, as a 422 naming the field."""
    first = exc.errors()[0]
    field = ".".join(str(x) for x in first["loc"]) or None
    return ApiError(422, "invalid_input", f"{field}: {first['msg']}", field)


# -- search, CSV, one member -----------------------------------------------------------------


@router.get("/members", response_class=HTMLResponse)
def members_page(
    request: Request,
    current: SessionDep,
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    """Member search (name, phone, member id, card UID) with paging and CSV export."""
    found = front_desk.search_members(_coord(request), current.principal, q, page)
    return render(
        request,
        "members.html",
        current,
        nav="members",
        found=found,
        poster_stores=_stores_for(request, current.principal),
        csv_query=urlencode({"q": q}),
        prev_query=urlencode({"q": q, "page": page - 1}),
        next_query=urlencode({"q": q, "page": page + 1}),
    )


@router.get("/members.csv")
def members_csv(
    request: Request, current: SessionDep, q: Annotated[str, Query(max_length=100)] = ""
) -> Response:
    """The matching members as CSV (UTF-8 with a BOM for Excel); the export is audited."""
    text = front_desk.members_csv(_coord(request), current.principal, q)
    response = Response(
        ("\ufeff" + text).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="members.csv"'},
    )
    secure_headers(response)
    return response


def _register_form(
    request: Request,
    current: session.Session,
    *,
    values: dict[str, Any] | None = None,
    problem: str = "",
    existing: str | None = None,
    status: int = 200,
    custom: dict[str, str] | None = None,
    custom_errors: dict[str, str] | None = None,
) -> HTMLResponse:
    principal = current.principal
    return render(
        request,
        "member_new.html",
        current,
        status=status,
        nav="members",
        stores=_stores_for(request, principal),
        values=values or {"home_store_id": principal.store_id or ""},
        problem=problem,
        existing=existing,
        fields=member_fields.fields_for(_coord(request), principal),
        custom=custom or {},
        custom_errors=custom_errors or {},
    )


@router.get("/members/new", response_class=HTMLResponse)
def register_page(request: Request, current: SessionDep) -> Response:
    """The registration form."""
    return _register_form(request, current)


def _tags(text: str) -> list[str]:
    return [x.strip() for x in text.replace("，", ",").split(",") if x.strip()]


@router.post("/members/new", response_class=HTMLResponse)
def register(
    request: Request,
    current: SessionDep,
    display_name: Text,
    custom: CustomForm,
    full_name: Text = "",
    phone: Annotated[str, Form(max_length=40)] = "",
    birthday: Annotated[str, Form(max_length=10)] = "",
    gender: Annotated[str, Form(max_length=8)] = "",
    home_store_id: Annotated[str, Form(max_length=64)] = "",
    tags: Text = "",
    referrer_id: Annotated[str, Form(max_length=64)] = "",
    csrf: Csrf = "",
) -> Response:
    """Register a member; a phone number already on file offers that member instead; a
    custom field value that does not fit is shown next to its input, with everything typed
    kept."""
    values = {"display_name": display_name, "full_name": full_name, "phone": phone,
              "birthday": birthday, "gender": gender, "home_store_id": home_store_id,
              "tags": tags, "referrer_id": referrer_id}  # fmt: skip
    try:
        _check_csrf(current, csrf)
        body = _model(
            members.NewMember,
            display_name=display_name,
            full_name=full_name,
            phone=phone.strip(),
            birthday=birthday or None,
            gender=gender or None,
            home_store_id=home_store_id or None,
            tags=_tags(tags),
            referrer_id=referrer_id or None,
            custom=custom,
        )
        created = members.create_member(_coord(request), current.principal, body)
    except members.DuplicatePhone as exc:
        return _register_form(
            request, current, values=values, problem=exc.message, existing=exc.member_id,
            status=exc.status, custom=custom,
        )  # fmt: skip
    except member_fields.CustomFieldRefused as exc:
        errors = _field_errors(request, exc)
        return _register_form(
            request, current, values=values, problem=next(iter(errors.values())),
            status=exc.status, custom=custom, custom_errors=errors,
        )  # fmt: skip
    except ApiError as exc:
        return _register_form(
            request, current, values=values, problem=exc.message, status=exc.status, custom=custom
        )
    return _back(created.member_id, "register")


@router.get("/members/{member_id}", response_class=HTMLResponse)
def member_page(
    request: Request,
    current: SessionDep,
    member_id: Annotated[Id, PathParam()],
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """One member: profile, cards, passes, points with expiry, coupons and the timeline."""
    notice = t(lang_of(request), "done." + done) if done in DONE else ""
    return _member(request, current, member_id, notice=notice)


def _member(
    request: Request,
    current: session.Session,
    member_id: str,
    *,
    notice: str = "",
    problem: str = "",
    existing: str | None = None,
    status: int = 200,
    topup: money.TopUpPreview | None = None,
    topup_form: dict[str, str] | None = None,
    edit_custom: dict[str, str] | None = None,
    custom_errors: dict[str, str] | None = None,
) -> HTMLResponse:
    principal = current.principal
    try:
        profile = front_desk.member_profile(_coord(request), principal, member_id)
        stored = money.balance(_coord(request), principal, member_id, for_service=True)
    except ApiError as exc:
        return _error_page(request, current, exc)
    catalogue = products.list_products(_coord(request), principal, sellable_only=True)
    kiosks = front_desk.store_kiosks(_coord(request), principal, profile.member.home_store_id)
    # A cross-store view serves the member; their phones are the home store's business.
    phones = (
        []
        if profile.cross_store
        else member_devices.list_devices(_coord(request), principal, member_id).items
    )
    held = {k: _as_text(v) for k, v in profile.member.custom.items()}
    return render(
        request,
        "member.html",
        current,
        status=status,
        nav="members",
        p=profile,
        what=_what_fn(request),
        when=_when_fn(request),
        day=_day_fn(request),
        notice=notice,
        problem=problem,
        existing=existing,
        coupon_kinds=tuple(kind.value for kind in COUPON_KINDS),
        catalogue=catalogue,
        phones=phones,
        yuan=yuan,
        kiosks=kiosks,
        now_ms=_coord(request).clock.wall_ms(),
        stored=stored,
        topup_tiers=money.topup_tiers(_coord(request)),
        topup=topup,
        topup_form=topup_form or {},
        topup_methods=tuple(x.value for x in PaymentMethod),
        sale_methods=tuple(x.value for x in PurchaseMethod),
        # A cross-store view serves the member: the chain's own fields stay at home.
        fields=() if profile.cross_store else member_fields.fields_for(_coord(request), principal),
        edit_custom=held if edit_custom is None else edit_custom,
        custom_errors=custom_errors or {},
    )


# -- actions ---------------------------------------------------------------------------------


def _check_csrf(current: session.Session, csrf: str) -> None:
    if csrf != current.csrf:
        raise ApiError(403, "csrf_failed", "reload the page and try again")


def _model(model: Any, **values: Any) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise _invalid(exc) from exc


def _back(member_id: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/members/{member_id}?done={done}", status_code=303)


def _act(
    request: Request,
    current: session.Session,
    member_id: str,
    csrf: str,
    done: str,
    action: Callable[[], object],
) -> Response:
    """Run one action; back to the member page with a notice, or with the refusal."""
    try:
        _check_csrf(current, csrf)
        action()
    except members.DuplicatePhone as exc:
        return _member(request, current, member_id, problem=exc.message,
                       existing=exc.member_id, status=exc.status)  # fmt: skip
    except ApiError as exc:
        return _member(
            request, current, member_id, problem=_problem(request, exc), status=exc.status
        )
    return _back(member_id, done)


MemberPath = Annotated[Id, PathParam()]


@router.post("/members/{member_id}/edit", response_class=HTMLResponse)
def edit(
    request: Request,
    current: SessionDep,
    member_id: MemberPath,
    display_name: Text,
    custom: CustomForm,
    full_name: Text = "",
    phone: Annotated[str, Form(max_length=40)] = "",
    birthday: Annotated[str, Form(max_length=10)] = "",
    gender: Annotated[str, Form(max_length=8)] = "",
    tags: Text = "",
    csrf: Csrf = "",
) -> Response:
    """Change the member's profile and custom field values (a refused value is shown next to
    its input, with what was typed kept)."""

    def run() -> object:
        body = _model(
            members.MemberChange,
            display_name=display_name,
            full_name=full_name,
            phone=phone.strip(),
            birthday=birthday or None,
            gender=gender or None,
            tags=_tags(tags),
            custom=custom or None,
        )
        return members.change_member(_coord(request), current.principal, member_id, body)

    try:
        _check_csrf(current, csrf)
        run()
    except member_fields.CustomFieldRefused as exc:
        errors = _field_errors(request, exc)
        return _member(request, current, member_id, problem=next(iter(errors.values())),
                       status=exc.status, edit_custom=custom, custom_errors=errors)  # fmt: skip
    except members.DuplicatePhone as exc:
        return _member(request, current, member_id, problem=exc.message,
                       existing=exc.member_id, status=exc.status, edit_custom=custom)  # fmt: skip
    except ApiError as exc:
        return _member(request, current, member_id, problem=_problem(request, exc),
                       status=exc.status, edit_custom=custom)  # fmt: skip
    return _back(member_id, "edit")


@router.post("/members/{member_id}/cards", response_class=HTMLResponse)
def bind(
    request: Request,
    current: SessionDep,
    member_id: MemberPath,
    uid: Annotated[str, Form(max_length=40)],
    csrf: Csrf = "",
) -> Response:
    """Bind a card (UID typed or read by a desk reader)."""

    def run() -> object:
        body = _model(cards.BindCard, uid=typed_uid(uid))
        return cards.bind_card(_coord(request), current.principal, member_id, body)

    return _act(request, current, member_id, csrf, "bind", run)


@router.post("/members/{member_id}/cards/tapped", response_class=HTMLResponse)
def bind_tapped(
    request: Request,
    current: SessionDep,
    member_id: MemberPath,
    kiosk_id: Annotated[Id, Form()],
    since_ms: Annotated[int, Form(ge=0, le=10**14)],
    csrf: Csrf = "",
) -> Response:
    """Bind the card just tapped at a kiosk of the store (the kiosk's unknown-card fact)."""

    def run() -> object:
        coord = _coord(request)
        tapped = front_desk.card_tapped_at(coord, current.principal, kiosk_id, since_ms)
        body = cards.BindCard(uid=tapped.uid)
        return cards.bind_card(coord, current.principal, member_id, body)

    return _act(request, current, member_id, csrf, "bind", run)


UidPath = Annotated[Uid, PathParam()]


def _own_card(request: Request, current: session.Session, member_id: str, uid: str) -> None:
    """404 unless the card belongs to this member (the form names both)."""
    card = cards.get_card(_coord(request), current.principal, uid)
    if card.member_id != member_id:
        raise ApiError(404, "card_not_found", f"card {uid} is not this member's", "uid")


@router.post("/members/{member_id}/cards/{uid}/lost", response_class=HTMLResponse)
def report_lost(
    request: Request, current: SessionDep, member_id: MemberPath, uid: UidPath, csrf: Csrf = ""
) -> Response:
    """Report a card lost: blocked on every kiosk (deny-list)."""

    def run() -> object:
        _own_card(request, current, member_id, uid)
        return cards.report_lost(_coord(request), current.principal, uid, cards.LostCard())

    return _act(request, current, member_id, csrf, "lost", run)


@router.post("/members/{member_id}/devices/{device_id}/revoke", response_class=HTMLResponse)
def remove_phone(
    request: Request,
    current: SessionDep,
    member_id: MemberPath,
    device_id: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]{1,16}$")],
    csrf: Csrf = "",
) -> Response:
    """Remove a lost or replaced phone: kiosks refuse its codes from their next update."""

    def run() -> object:
        return member_devices.revoke(_coord(request), current.principal, member_id, device_id)

    return _act(request, current, member_id, csrf, "phone_removed", run)


@router.post("/members/{member_id}/cards/{uid}/replace", response_class=HTMLResponse)
def replace(
    request: Request,
    current: SessionDep,
    member_id: MemberPath,
    uid: UidPath,
    new_uid: Annotated[str, Form(max_length=40)],
    csrf: Csrf = "",
) -> Response:
    """Replace a card: the new one is bound, the old one blocked."""

    def run() -> object:
        _own_card(request, current, member_id, uid)
        body = _model(cards.ReplaceCard, new_uid=typed_uid(new_uid))
        return cards.replace_card(_coord(request), current.principal, uid, body)

    return _act(request, current, member_id, csrf, "replace", run)


PassPath = Annotated[Id, PathParam()]


@router.post("/members/{member_id}/passes/{pass_id}/freeze", response_class=HTMLResponse)
def freeze(
    request: Request, current: SessionDep, member_id: MemberPath, pass_id: PassPath, csrf: Csrf = ""
) -> Response:
    """Freeze a pass (its validity clock pauses)."""
    coord = _coord(request)
    return _act(request, current, member_id, csrf, "freeze",
                lambda: passes.update_pass(coord, current.principal, member_id, pass_id,
                                           frozen=True))  # fmt: skip


@router.post("/members/{member_id}/passes/{pass_id}/unfreeze", response_class=HTMLResponse)
def unfreeze(
    request: Request, current: SessionDep, member_id: MemberPath, pass_id: PassPath, csrf: Csrf = ""
) -> Response:
    """Unfreeze a pass; the frozen days are given back."""
    coord = _coord(request)
    return _act(request, current, member_id, csrf, "unfreeze",
                lambda: passes.update_pass(coord, current.principal, member_id, pass_id,
                                           frozen=False))  # fmt: skip


def end_of_day_ms(day: date, tz_name: str | None) -> int:
    """The last millisecond of ``day`` in the store's time zone."""
    start = datetime.combine(day + timedelta(days=1), time(0), zone(tz_name))
    return int(start.timestamp() * 1000) - 1


@router.post("/members/{member_id}/passes/{pass_id}/extend", response_class=HTMLResponse)
def extend(
    request: Request,
    current: SessionDep,
    member_id: MemberPath,
    pass_id: PassPath,
    valid_until: Annotated[str, Form(max_length=10)] = "",
    add_sessions: Annotated[int, Form(ge=0, le=1000)] = 0,
    price: Annotated[str, Form(max_length=20)] = "",
    method: Annotated[str, Form(max_length=20)] = "",
    csrf: Csrf = "",
) -> Response:
    """Extend a pass to a new last day and/or add sessions (a top-up of sessions, 会员充次),
    with what the member paid and how (``stored_value`` charges it in the same
    transaction)."""

    def run() -> object:
        coord = _coord(request)
        profile = front_desk.member_profile(coord, current.principal, member_id, audit_view=False)
        held = next((x for x in profile.ledger.passes if x.pass_id == pass_id), None)
        if held is None:
            raise ApiError(404, "pass_not_found", f"no pass {pass_id}", "pass_id")
        change: dict[str, int] = {}
        if valid_until:
            day = _model(_DayForm, day=valid_until).day
            zones = {s["store_id"]: s["timezone"] for s in _stores_for(request, current.principal)}
            change["valid_until_ms"] = end_of_day_ms(
                day, zones.get(profile.member.home_store_id or "")
            )
        if add_sessions:
            change["sessions_total"] = held.sessions_total + add_sessions
        paid = _fen(price, "price") if price.strip() else 0
        body = _model(
            passes.PassChange,
            **change,
            price_fen=paid,
            payment_method=(method or None) if paid else None,
        )
        return passes.extend_pass(coord, current.principal, member_id, pass_id, body)

    return _act(request, current, member_id, csrf, "extend", run)


class _DayForm(Body):
    day: date


@router.post("/members/{member_id}/coupons", response_class=HTMLResponse)
def issue_coupon(
    request: Request,
    current: SessionDep,
    member_id: MemberPath,
    title: Text,
    kind: Annotated[str, Form(max_length=20)],
    value: Annotated[int, Form(ge=0, le=10**9)] = 0,
    valid_days: Annotated[int, Form(ge=1, le=3650)] = 30,
    csrf: Csrf = "",
) -> Response:
    """Issue one coupon to the member (valid in the staff member's store, or everywhere for
    HQ)."""

    def run() -> object:
        coord = _coord(request)
        now = coord.clock.wall_ms()
        store = current.principal.store_filter()
        body = _model(
            coupons.IssueCoupon,
            title=title,
            kind=kind,
            value=value,
            store_ids=[store] if store else [],
            valid_from_ms=now,
            valid_until_ms=now + valid_days * coupons.DAY_MS,
        )
        return coupons.issue_coupon(coord, current.principal, member_id, body)

    return _act(request, current, member_id, csrf, "coupon", run)


@router.post("/members/{member_id}/points", response_class=HTMLResponse)
def grant_points(
    request: Request,
    current: SessionDep,
    member_id: MemberPath,
    points_: Annotated[int, Form(alias="points", ge=1, le=10**7)],
    reason: Text,
    csrf: Csrf = "",
) -> Response:
    """Grant points with a reason (an audited adjustment)."""

    def run() -> object:
        body = _model(points.PointsGrant, points=points_, reason=reason)
        return points.grant_points(_coord(request), current.principal, member_id, body)

    return _act(request, current, member_id, csrf, "points", run)


@router.post("/members/{member_id}/sell", response_class=HTMLResponse)
def sell(
    request: Request,
    current: SessionDep,
    member_id: MemberPath,
    product_id: Annotated[Id, Form()],
    method: Annotated[PurchaseMethod | None, Form()] = None,
    csrf: Csrf = "",
) -> Response:
    """Sell a catalogue product (a pass) to the member, paid by ``method`` (``stored_value``
    charges the member's stored value in the same transaction); refused when this store does
    not sell it or the stored value does not cover the price."""

    def run() -> object:
        return products.sell_product(
            _coord(request), current.principal, member_id, product_id, payment_method=method
        )

    return _act(request, current, member_id, csrf, "sell", run)


# -- stored value ------------------------------------------------------------------------


@router.post("/members/{member_id}/topup/preview", response_class=HTMLResponse)
def topup_preview(
    request: Request,
    current: SessionDep,
    member_id: MemberPath,
    amount: Annotated[str, Form(max_length=20)],
    method: Annotated[str, Form(max_length=20)],
    reference: Text = "",
    csrf: Csrf = "",
) -> Response:
    """Step one of a top-up: the bonus the rules give and the balance after it, shown for the
    member to agree before anything is recorded; a bad amount or one over the cap is refused
    here with the reason."""
    form = {"amount": amount, "method": method, "reference": reference}
    try:
        _check_csrf(current, csrf)
        _model(money.TopUp, amount_fen=1, method=method, reference=reference)
        amount_fen = _fen(amount, "amount")
        preview = money.preview_top_up(_coord(request), current.principal, member_id, amount_fen)
    except ApiError as exc:
        return _member(request, current, member_id, problem=_problem(request, exc),
                       status=exc.status, topup_form=form)  # fmt: skip
    return _member(request, current, member_id, topup=preview, topup_form=form)


@router.post("/members/{member_id}/topup", response_class=HTMLResponse)
def topup(
    request: Request,
    current: SessionDep,
    member_id: MemberPath,
    amount_fen: Annotated[int, Form(ge=0, le=10**10)],
    method: Annotated[str, Form(max_length=20)],
    reference: Text = "",
    csrf: Csrf = "",
) -> Response:
    """Step two: record the confirmed top-up (the money service's own checks, audit line and
    ledger event; the bonus is the rules' at this moment)."""

    def run() -> object:
        body = _model(money.TopUp, amount_fen=amount_fen, method=method, reference=reference)
        return money.top_up(_coord(request), current.principal, member_id, body)

    return _act(request, current, member_id, csrf, "topup", run)
