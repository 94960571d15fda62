"""Store-owner reports as JSON and CSV (the dashboard's report page renders the same data).

Store managers get their own store whatever they ask for another (403); HQ admins and
viewers choose one store or all. Periods are store-local dates (``from``/``to``,
``YYYY-MM-DD``; default the last 30 days). CSV files are UTF-8 with a byte-order mark so
spreadsheet programs read the Chinese headings correctly.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response

from coordinator.api.deps import PrincipalDep
from coordinator.errors import invalid, not_found
from coordinator.reports.service import TABLE_NAMES, Report
from coordinator.security.auth import Principal
from shared.model import Id

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

Lang = Literal["zh", "en"]


def build_report(
    request: Request,
    principal: Principal,
    store_id: str | None,
    first: date | None,
    last: date | None,
    lang: str,
) -> Report:
    """The report the caller may see (a store manager's own store), or a 4xx."""
    if store_id is not None:
        principal.require_store(store_id)
    scope = store_id or principal.store_filter()
    try:
        report: Report = request.app.state.dashboard.reports.build(
            store_id=scope, first=first, last=last, lang=lang
        )
    except ValueError as exc:
        raise invalid("bad_period", str(exc), "from") from exc
    return report


@router.get("")
def report(
    request: Request,
    principal: PrincipalDep,
    store_id: Annotated[Id | None, Query()] = None,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
    lang: Annotated[Lang, Query()] = "zh",
) -> dict[str, Any]:
    """Every report table (charts are on the page) for one store or all, for a period."""
    r = build_report(request, principal, store_id, first, last, lang)
    return {
        "store_id": r.store_id,
        "from": r.period.first.isoformat(),
        "to": r.period.last.isoformat(),
        "lang": r.lang,
        "generated_ms": r.generated_ms,
        "sections": [
            {
                "key": s.key,
                "title": s.title,
                "intro": s.intro,
                "tables": [
                    {
                        "name": t.name,
                        "title": t.title,
                        "columns": [{"key": c.key, "label": c.label} for c in t.columns],
                        "rows": t.rows,
                    }
                    for t in s.tables
                ],
            }
            for s in r.sections
        ],
    }


@router.get("/{table}.csv")
def report_csv(
    request: Request,
    principal: PrincipalDep,
    table: Annotated[str, Path(pattern="^[a-z_]{1,40}$")],
    store_id: Annotated[Id | None, Query()] = None,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
    lang: Annotated[Lang, Query()] = "zh",
) -> Response:
    """One report table as a CSV download (every row, headings in ``lang``)."""
    if table not in TABLE_NAMES:
        raise not_found("report_table", table, "table")
    r = build_report(request, principal, store_id, first, last, lang)
    found = r.table(table)
    if found is None:
        raise not_found("report_table", table, "table")
    scope = r.store_id or "all"
    filename = f"{table}_{scope}_{r.period.first}_{r.period.last}.csv"
    return Response(
        ("\ufeff" + found.csv()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"; '
            f"filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "no-store",
        },
    )
