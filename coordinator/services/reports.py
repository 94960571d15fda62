"""Store-owner reports: one builder for the JSON API, the CSV downloads and the page.

Store managers get their own store whatever they ask for another (403); HQ admins and
viewers choose one store or all. Periods are store-local dates (default the last 30 days).
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from coordinator.errors import invalid, not_found
from coordinator.reports.service import TABLE_NAMES, Report, Table
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services.common import Out


class ColumnOut(Out):
    """A column of a report table."""

    key: str
    label: str


class TableOut(Out):
    """A report table: columns and rows of display strings."""

    name: str
    title: str
    columns: list[ColumnOut]
    rows: list[list[str]]


class SectionOut(Out):
    """A section of the report (charts are on the page)."""

    key: str
    title: str
    intro: str
    tables: list[TableOut]


class ReportOut(Out):
    """Every report table for one store or all, for a period, in one language."""

    store_id: str | None
    from_: str = Field(alias="from", serialization_alias="from")
    to: str
    lang: str
    generated_ms: int
    sections: list[SectionOut]

    model_config = Out.model_config | {"populate_by_name": True, "serialize_by_alias": True}


def build(
    coord: Coordinator,
    principal: Principal,
    *,
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
        return coord.reports.build(store_id=scope, first=first, last=last, lang=lang)
    except ValueError as exc:
        raise invalid("bad_period", str(exc), "from") from exc


def as_out(report: Report) -> ReportOut:
    """A built report as the API sends it."""
    return ReportOut(
        store_id=report.store_id,
        from_=report.period.first.isoformat(),
        to=report.period.last.isoformat(),
        lang=report.lang,
        generated_ms=report.generated_ms,
        sections=[
            SectionOut(
                key=s.key,
                title=s.title,
                intro=s.intro,
                tables=[
                    TableOut(
                        name=t.name,
                        title=t.title,
                        columns=[ColumnOut(key=c.key, label=c.label) for c in t.columns],
                        rows=t.rows,
                    )
                    for t in s.tables
                ],
            )
            for s in report.sections
        ],
    )


def table(report: Report, name: str) -> Table:
    """One table of a built report (404 for a name no report has)."""
    found = report.table(name) if name in TABLE_NAMES else None
    if found is None:
        raise not_found("report_table", name, "table")
    return found
