"""The custom member fields page (``/dashboard/member-fields``): HQ admins define the fields
the register and edit forms show (key, labels in Chinese and English, type, choice options,
required, who sees it), change them, remove and restore them; managers read the list.

Every form calls the same service as the JSON API (:mod:`coordinator.services.member_fields`),
so the admin check, the limit, the "never lose stored values" refusals and the audit entry
are the API's own. Also here: reading the ``custom.<key>`` inputs of the member forms.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from coordinator.dashboard.i18n import t
from coordinator.dashboard.pages import PREFIX, SessionDep, _coord, lang_of, render
from coordinator.errors import ApiError
from coordinator.security import page_sessions as session
from coordinator.services import member_fields
from shared.custom_fields import MAX_FIELDS, FieldDefinition, FieldKey, FieldKind, Visibility

router = APIRouter(prefix=PREFIX, include_in_schema=False)

CUSTOM_PREFIX = "custom."
"""Form inputs of custom field values are named ``custom.<key>``."""


async def custom_form(request: Request) -> dict[str, str]:
    """The ``custom.<key>`` inputs of a posted member form (key -> typed text)."""
    form = await request.form()
    return {
        name[len(CUSTOM_PREFIX) :]: str(value)[:1000]
        for name, value in form.items()
        if name.startswith(CUSTOM_PREFIX) and isinstance(value, str)
    }


def _page(
    request: Request,
    current: session.Session,
    *,
    problem: str = "",
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    principal = current.principal
    coord = _coord(request)
    listed = member_fields.list_fields(coord, principal, include_removed=principal.is_admin)
    return render(
        request,
        "member_fields.html",
        current,
        status=status,
        nav="fields",
        items=listed.items,
        max_fields=MAX_FIELDS,
        kinds=[k.value for k in FieldKind],
        visibilities=[v.value for v in Visibility],
        problem=problem,
        form=form or {},
        done=request.query_params.get("done") == "1",
    )


@router.get("/member-fields", response_class=HTMLResponse)
def fields_page(request: Request, current: SessionDep) -> Response:
    """The chain's custom member fields, and (for HQ admins) the forms that change them."""
    return _page(request, current)


def _options(lang: str, text: str) -> list[dict[str, str]]:
    """``code | 中文 | English`` lines as choice options (blank lines skipped)."""
    options = []
    lines = [x for x in text.splitlines() if x.strip()]
    for n, line in enumerate(lines, start=1):
        parts = [x.strip() for x in line.replace("｜", "|").split("|")]
        if len(parts) != 3 or not all(parts):
            raise ApiError(422, "invalid_option", t(lang, "fields.bad_option", n=n), "options")
        options.append({"code": parts[0], "label_zh": parts[1], "label_en": parts[2]})
    return options


def _definition(lang: str, form: dict[str, Any]) -> FieldDefinition:
    """The posted form as a definition; a refusal names the field."""
    try:
        return FieldDefinition.model_validate(
            {
                "key": form["key"],
                "label_zh": form["label_zh"],
                "label_en": form["label_en"],
                "kind": form["kind"],
                "options": _options(lang, form["options"]) if form["kind"] == "choice" else [],
                "required": form["required"],
                "visibility": form["visibility"],
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(x) for x in first["loc"]) or "definition"
        raise ApiError(422, "invalid_input", f"{field}: {first['msg']}", field) from exc


Short = Annotated[str, Form(max_length=60)]


def _save(
    request: Request,
    current: session.Session,
    csrf: str,
    form: dict[str, Any],
    key: str | None,
) -> Response:
    try:
        if csrf != current.csrf:
            raise ApiError(403, "csrf_failed", "reload the page and try again")
        body = _definition(lang_of(request), form)
        if key is None:
            member_fields.create_field(_coord(request), current.principal, body)
        else:
            member_fields.change_field(_coord(request), current.principal, key, body)
    except member_fields.FieldChangeRefused as exc:
        problem = exc.problem.message(lang_of(request))
        return _page(request, current, problem=problem, status=exc.status)
    except ApiError as exc:
        shown = {k: str(v) for k, v in form.items()} if key is None else {}
        return _page(request, current, problem=exc.message, form=shown, status=exc.status)
    return RedirectResponse(f"{PREFIX}/member-fields?done=1", status_code=303)


@router.post("/member-fields", response_class=HTMLResponse)
def add_field(
    request: Request,
    current: SessionDep,
    key: Annotated[str, Form(max_length=40)],
    label_zh: Short,
    label_en: Short,
    kind: Annotated[str, Form(max_length=20)],
    options: Annotated[str, Form(max_length=5000)] = "",
    required: Annotated[bool, Form()] = False,
    visibility: Annotated[str, Form(max_length=20)] = "staff",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Add a field (HQ admins); a refusal shows the reason with the typed form kept."""
    form = {"key": key.strip(), "label_zh": label_zh, "label_en": label_en, "kind": kind,
            "options": options, "required": required, "visibility": visibility}  # fmt: skip
    return _save(request, current, csrf, form, None)


KeyPath = Annotated[FieldKey, PathParam()]


@router.post("/member-fields/{key}", response_class=HTMLResponse)
def change_field(
    request: Request,
    current: SessionDep,
    key: KeyPath,
    label_zh: Short,
    label_en: Short,
    kind: Annotated[str, Form(max_length=20)],
    options: Annotated[str, Form(max_length=5000)] = "",
    required: Annotated[bool, Form()] = False,
    visibility: Annotated[str, Form(max_length=20)] = "staff",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Change a field; refused (nothing changed) when members' values would be lost."""
    form = {"key": key, "label_zh": label_zh, "label_en": label_en, "kind": kind,
            "options": options, "required": required, "visibility": visibility}  # fmt: skip
    return _save(request, current, csrf, form, key)


@router.post("/member-fields/{key}/removed", response_class=HTMLResponse)
def remove_or_restore(
    request: Request,
    current: SessionDep,
    key: KeyPath,
    removed: Annotated[bool, Form()] = False,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Remove a field (members keep its values) or restore it."""
    try:
        if csrf != current.csrf:
            raise ApiError(403, "csrf_failed", "reload the page and try again")
        member_fields.set_removed(_coord(request), current.principal, key, removed)
    except ApiError as exc:
        return _page(request, current, problem=exc.message, status=exc.status)
    return RedirectResponse(f"{PREFIX}/member-fields?done=1", status_code=303)
