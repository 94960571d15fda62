"""Store-owner reports as JSON and CSV (the dashboard's report page renders the same data).

Store managers get their own store whatever they ask for another (403); HQ admins and
viewers choose one store or all. Periods are store-local dates (``from``/``to``,
``YYYY-MM-DD``; default the last 30 days). CSV files are UTF-8 with a byte-order mark so
spreadsheet programs read the Chinese headings correctly.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.errors import not_found
from coordinator.reports.service import TABLE_NAMES
from coordinator.services import reports
from coordinator.services.reports import ReportOut
from shared.model import Id

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], responses=USER)

Lang = Literal["zh", "en"]


@router.get("")
def report(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    store_id: Annotated[Id | None, Query()] = None,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
    lang: Annotated[Lang, Query()] = "zh",
) -> ReportOut:
    """Every report table (charts are on the page) for one store or all, for a period."""
    built = reports.build(coord, principal, store_id=store_id, first=first, last=last, lang=lang)
    return reports.as_out(built)


@router.get(
    "/{table}.csv",
    response_class=Response,
    responses={
        200: {"description": "The table as CSV.", "content": {"text/csv": {}}},
        **answers(404),
    },
)
def report_csv(
    coord: CoordinatorDep,
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
    built = reports.build(coord, principal, store_id=store_id, first=first, last=last, lang=lang)
    found = reports.table(built, table)
    scope = built.store_id or "all"
    filename = f"{table}_{scope}_{built.period.first}_{built.period.last}.csv"
    return Response(
        ("\ufeff" + found.csv()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"; '
            f"filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "no-store",
        },
    )
