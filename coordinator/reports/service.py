"""Building the store-owner reports: queries in, localized tables, charts and CSV out.

A :class:`Report` is a list of sections, each with its charts (inline SVG) and tables.
Table cells are final display strings in the report's language, so the page and the CSV
export show exactly the same values. Reports are cached per store, period and language
for ``report_cache_s`` (they read a lot; the ledger changes by the second, not the report).

Sums per store over the period (visits, sessions used, points earned and redeemed, money
per day) are read from the rollups (:mod:`coordinator.reports.rollups`, kept with the
events: a wide row per store and local day, with the visits per hour of the day; HQ's facts
per hour) when the period's local days are whole UTC hours, as in every zone a whole number
of hours off UTC; otherwise, or when asked (``from_events``), from the events.
Both give the same report (a test compares them). Settlement, attendance per class, the
ledger summaries and the member sections (lapsed, RFM) read what they need as before.

Scope: a report covers one store or all of them. Facts that happen in a store (visits,
sign-ins, redemptions) are counted by the store where they happened; facts about members
(passes, points held, lapsed members, RFM) by the member's home store.
"""

from __future__ import annotations

import csv
import io
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from coordinator.db import Database
from coordinator.downstream import rule_bundles
from coordinator.reports import queries, rollups
from coordinator.reports.charts import (
    Series,
    bar_chart,
    capacity_chart,
    heat_map,
    quadrant_chart,
)
from coordinator.reports.labels import label
from coordinator.reports.lapsed import DEFAULT_FACTOR, DEFAULT_MIN_VISITS, find_lapsed
from coordinator.reports.period import (
    DAY_MS,
    HOUR_MS,
    Period,
    bucket_ms,
    day_number,
    from_day_number,
    local,
    period,
    today_in,
    utc_offset_ms,
    zone,
)
from coordinator.reports.rfm import QUADRANTS, MemberActivity, rfm
from coordinator.reports.settlement import settle
from shared.events import Purchase, StoredValueRefund, StoredValueSpend, StoredValueTopUp
from shared.model import ClassSession, CouponKind, PassKind

LOOKBACK_DAYS = 365
ATTENTION_EXPIRY_DAYS = 14
ATTENTION_SESSIONS_LEFT = 2
MAX_STORE_SERIES = 6
"""Charts show a series per store up to this many stores, else the chain's total."""
PAGE_ROWS = 200
"""Rows a table shows on the page; its CSV export always has all of them."""


@dataclass(frozen=True)
class Column:
    """A table column: stable key, localized heading, right-aligned when numeric."""

    key: str
    label: str
    numeric: bool = False


@dataclass
class Table:
    """A named table of display strings."""

    name: str
    title: str
    columns: list[Column]
    rows: list[list[str]] = field(default_factory=list)

    @property
    def page_rows(self) -> list[list[str]]:
        """The rows shown on the page (the first :data:`PAGE_ROWS`)."""
        return self.rows[:PAGE_ROWS]

    def csv(self) -> str:
        """The whole table as CSV (UTF-8 text; the HTTP layer adds a BOM for Excel)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([c.label for c in self.columns])
        writer.writerows(self.rows)
        return out.getvalue()


@dataclass
class Section:
    """One topic of the report."""

    key: str
    title: str
    intro: str
    charts: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


@dataclass
class Report:
    """Every section for one scope, period and language."""

    lang: str
    store_id: str | None
    period: Period
    generated_ms: int
    sections: list[Section]

    def table(self, name: str) -> Table | None:
        """The table with this name, if any."""
        return next((t for s in self.sections for t in s.tables if t.name == name), None)


SECTION_KEYS = (
    "checkins", "classes", "passes", "points", "coupons", "money", "members", "staff",
)  # fmt: skip
"""What :meth:`Reports.build` can build, in the report's order (``members``: lapsed, RFM;
``staff``: the staff commission)."""

TABLE_NAMES = (
    "checkins_daily",
    "checkins_hourly",
    "class_attendance",
    "class_fill",
    "waitlist_conversions",
    "peak_hours",
    "pass_usage_daily",
    "pass_sales",
    "passes_attention",
    "points_flow",
    "points_liability",
    "coupons_by_campaign",
    "stored_value_liability",
    "money_daily",
    "money_settlement",
    "coupon_money",
    "lapsed_members",
    "rfm_quadrants",
    "rfm_members",
    "staff_commission",
    "classes_taught",
    "staff_redemptions",
)


def money(fen: int) -> str:
    """Fen as yuan with two decimals."""
    return f"{fen / 100:.2f}"


def pct(share: float) -> str:
    """A share as a percentage with one decimal."""
    return f"{share * 100:.1f}%"


@dataclass
class _Ctx:
    conn: Connection
    lang: str
    store_id: str | None
    period: Period
    now_ms: int
    stores: dict[str, tuple[str, str]]
    chain_tz: str
    from_events: bool = False
    _bucket_local: dict[tuple[int, str], datetime] = field(default_factory=dict)
    _labels: dict[str | None, str] = field(default_factory=dict)

    def t(self, key: str, **values: object) -> str:
        return label(self.lang, key, **values)

    @property
    def scope(self) -> list[str]:
        return [self.store_id] if self.store_id else sorted(self.stores)

    def store_label(self, store_id: str | None) -> str:
        """The store's name and id (remembered: a chain's daily tables repeat each store's
        label on every day)."""
        text = self._labels.get(store_id)
        if text is None:
            if store_id is None:
                text = self.t("hq")
            else:
                name = self.stores.get(store_id, (store_id, ""))[0]
                text = f"{name} ({store_id})" if name != store_id else store_id
            self._labels[store_id] = text
        return text

    def tz(self, store_id: str | None) -> str:
        if store_id and store_id in self.stores:
            return self.stores[store_id][1]
        return self.chain_tz

    @property
    def member_tz(self) -> str:
        return self.tz(self.store_id)

    def bounds(self) -> tuple[int, int]:
        return self.period.utc_bounds(self.tz(s) for s in self.scope)

    def bucket_local(self, ms: int, tz_name: str) -> datetime:
        """:func:`local` of a bucket's start, remembered: a 30-day chain report places some
        100,000 (store, bucket) counts on only 720 distinct hours."""
        key = (ms, tz_name)
        at = self._bucket_local.get(key)
        if at is None:
            at = self._bucket_local[key] = local(ms, tz_name)
        return at

    def rolled(self, start: int, end: int, bucket: int) -> bool:
        """Whether sums over [start, end) in ``bucket`` buckets can come from the hourly
        rollups: hour buckets and bounds on whole hours, unless events were asked for."""
        whole_hours = start % HOUR_MS == 0 and end % HOUR_MS == 0
        return not self.from_events and bucket == HOUR_MS and whole_hours

    def col(self, key: str, numeric: bool = False) -> Column:
        return Column(key, self.t(f"col.{key}"), numeric)

    def series(self, values_of: Callable[[str], list[int]]) -> list[Series]:
        """One chart series per store, or their sum when too many stores to tell apart."""
        if len(self.scope) <= MAX_STORE_SERIES:
            return [Series(self.store_label(s), values_of(s)) for s in self.scope]
        columns = zip(*(values_of(s) for s in self.scope), strict=True)
        return [Series(self.t("all_stores"), [sum(c) for c in columns])]


class Reports:
    """Builds and caches reports for one coordinator."""

    def __init__(self, db: Database, wall_ms: Callable[[], int], cache_s: float):
        self._db = db
        self._wall_ms = wall_ms
        self._cache_s = cache_s
        self._lock = threading.Lock()
        self._cache: dict[tuple[Any, ...], tuple[float, Report]] = {}

    def build(
        self,
        *,
        store_id: str | None,
        first: date | None,
        last: date | None,
        lang: str,
        from_events: bool = False,
        sections: Collection[str] = SECTION_KEYS,
    ) -> Report:
        """The report (from the cache when fresh). Raises ValueError for a bad period.

        ``from_events``: sum the period from the events even where rollups could serve it
        (the reference the rollups are tested and benchmarked against). ``sections``: the
        :data:`SECTION_KEYS` to build (``members`` is lapsed and RFM), in their order."""
        wanted = tuple(k for k in SECTION_KEYS if k in sections)
        now = self._wall_ms()
        with self._db.read() as conn:
            chain = rule_bundles.chain_bundle(conn)
            chain_tz = chain.rules.timezone if chain else "Asia/Shanghai"
            stores = queries.stores(conn)
            tz = stores[store_id][1] if store_id in stores else chain_tz
            span = period(first, last, today_in(tz, now))
            key = (store_id, span.first, span.last, lang, from_events, wanted)
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None and time.monotonic() - hit[0] < self._cache_s:
                return hit[1]
            ctx = _Ctx(conn, lang, store_id, span, now, stores, chain_tz, from_events)
            needs_summary = {"passes", "points", "coupons", "money"} & set(wanted)
            summary = _summarize_ledgers(ctx) if needs_summary else _LedgerSummary()
            built: list[Section] = []
            for k in wanted:
                if k == "checkins":
                    built.append(_checkins(ctx))
                elif k == "classes":
                    built.append(_classes(ctx))
                elif k == "passes":
                    built.append(_passes(ctx, summary))
                elif k == "points":
                    built.append(_points(ctx, summary))
                elif k == "coupons":
                    built.append(_coupons(ctx, summary))
                elif k == "money":
                    built.append(_money(ctx, summary))
                elif k == "members":
                    built.extend(_members(ctx))
                else:
                    built.append(_staff(ctx))
        report = Report(lang, store_id, span, now, built)
        with self._lock:
            self._cache[key] = (time.monotonic(), report)
            if len(self._cache) > 64:
                oldest = min(self._cache, key=lambda k: self._cache[k][0])
                del self._cache[oldest]
        return report


# -- check-ins -------------------------------------------------------------------------------


def _checkins(ctx: _Ctx) -> Section:
    start, end = ctx.bounds()
    bucket = bucket_ms([ctx.tz(s) for s in ctx.scope], start, end)
    daily: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    hourly: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    rolled = ctx.rolled(start, end, bucket)
    if rolled:
        first, last = ctx.period.first, ctx.period.last
        wanted = ("checkins", "class_signins")
        for store, day, sums in rollups.day_sums(ctx.conn, first, last, wanted, ctx.store_id):
            if store in ctx.stores:
                daily[(day, store)] = sums
        for store, sums in rollups.period_sums(
            ctx.conn, first, last, rollups.HOUR_OF_DAY, ctx.store_id
        ).items():
            for hour in range(24):
                if store in ctx.stores and (sums[hour] or sums[24 + hour]):
                    hourly[(store, hour)] = [sums[hour], sums[24 + hour]]
    counts = [] if rolled else queries.tap_buckets(ctx.conn, start, end, bucket, ctx.store_id)
    for store, kind, b, n in counts:
        if store not in ctx.stores or (ctx.store_id and store != ctx.store_id):
            continue
        at = ctx.bucket_local(b * bucket, ctx.tz(store))
        if not ctx.period.contains(at.date()):
            continue
        i = 0 if kind == "checkin" else 1
        daily[(at.date(), store)][i] += n
        hourly[(store, at.hour)][i] += n

    days = ctx.period.days
    daily_table = Table(
        "checkins_daily",
        ctx.t("table.checkins_daily"),
        [
            ctx.col("date"),
            ctx.col("store"),
            ctx.col("checkins", True),
            ctx.col("class_signins", True),
        ],
    )
    for day in days:
        iso = day.isoformat()
        for store in ctx.scope:
            c, s = daily.get((day, store), [0, 0])
            daily_table.rows.append([iso, ctx.store_label(store), str(c), str(s)])
    hourly_table = Table(
        "checkins_hourly",
        ctx.t("table.checkins_hourly"),
        [
            ctx.col("store"),
            ctx.col("hour"),
            ctx.col("checkins", True),
            ctx.col("class_signins", True),
        ],
    )
    for store in ctx.scope:
        for hour in range(24):
            c, s = hourly.get((store, hour), [0, 0])
            if c or s:
                hourly_table.rows.append([ctx.store_label(store), f"{hour:02d}:00", str(c), str(s)])

    charts = [
        bar_chart(
            [d.strftime("%m-%d") for d in days],
            ctx.series(lambda s: [daily.get((d, s), [0, 0])[0] for d in days]),
            title=ctx.t("chart.checkins_daily"),
        ),
        bar_chart(
            [f"{h}" for h in range(24)],
            ctx.series(lambda s: [hourly.get((s, h), [0, 0])[0] for h in range(24)]),
            title=ctx.t("chart.checkins_hourly"),
            label_every=1,
        ),
    ]
    return Section(
        "checkins",
        ctx.t("sec.checkins"),
        ctx.t("sec.checkins.intro"),
        charts,
        [daily_table, hourly_table],
    )


# -- classes ---------------------------------------------------------------------------------


def _classes(ctx: _Ctx) -> Section:
    start, end = ctx.bounds()
    sessions = [
        c
        for c in queries.published_classes(ctx.conn).values()
        if c.store_id in ctx.scope
        and c.store_id in ctx.stores
        and ctx.period.contains(local(c.starts_ms, ctx.tz(c.store_id)).date())
    ]
    sessions.sort(key=lambda c: (c.starts_ms, c.class_session_id))
    counts = queries.class_signins(ctx.conn, start - DAY_MS, end + DAY_MS)
    table = Table(
        "class_attendance",
        ctx.t("table.class_attendance"),
        [
            ctx.col("date"),
            ctx.col("time"),
            ctx.col("store"),
            ctx.col("class"),
            ctx.col("capacity", True),
            ctx.col("attended", True),
            ctx.col("fill", True),
        ],
    )
    bars: list[tuple[str, int, int]] = []
    for c in sessions:
        at = local(c.starts_ms, ctx.tz(c.store_id))
        title = c.title_zh if ctx.lang == "zh" else c.title_en
        attended = counts.get(c.class_session_id, 0)
        table.rows.append(
            [
                at.date().isoformat(),
                at.strftime("%H:%M"),
                ctx.store_label(c.store_id),
                title,
                str(c.capacity) if c.capacity else "—",
                str(attended),
                pct(attended / c.capacity) if c.capacity else "—",
            ]
        )
        bars.append((f"{at:%m-%d %H:%M} {title}", attended, c.capacity))
    charts = []
    if bars:
        charts.append(
            capacity_chart(
                bars[:40],
                title=ctx.t("chart.attendance"),
                attended_label=ctx.t("col.attended"),
                capacity_label=ctx.t("col.capacity"),
            )
        )
    fill = _class_fill(ctx, sessions, counts)
    waitlist = _waitlist_conversions(ctx, sessions)
    peak, peak_chart = _peak_hours(ctx, sessions, counts)
    if peak_chart:
        charts.append(peak_chart)
    return Section(
        "classes",
        ctx.t("sec.classes"),
        ctx.t("sec.classes.intro"),
        charts,
        [table, fill, waitlist, peak],
    )


def _waitlist_conversions(ctx: _Ctx, sessions: list[ClassSession]) -> Table:
    """Per class type: classes that had a waitlist, members who joined one, those promoted
    to a freed seat (the conversion rate), and the promoted who then signed in."""
    ids = [c.class_session_id for c in sessions]
    moves = queries.waitlist_moves(ctx.conn, ids)
    came = queries.signed_in_members(ctx.conn, ids)
    groups: dict[str, list[int]] = {}
    for c in sessions:
        joined, promoted = moves.get(c.class_session_id, (set(), set()))
        if not joined:
            continue
        row = groups.setdefault(c.class_type, [0, 0, 0, 0])
        row[0] += 1
        row[1] += len(joined)
        row[2] += len(promoted & joined)
        row[3] += sum(1 for m in promoted & joined if (c.class_session_id, m) in came)
    table = Table(
        "waitlist_conversions",
        ctx.t("table.waitlist_conversions"),
        [
            ctx.col("class_type"),
            ctx.col("sessions_waitlisted", True),
            ctx.col("waitlist_joined", True),
            ctx.col("waitlist_promoted", True),
            ctx.col("conversion", True),
            ctx.col("promoted_attended", True),
        ],
    )
    for class_type, (n, joined_n, promoted_n, attended_n) in sorted(groups.items()):
        table.rows.append(
            [
                class_type,
                str(n),
                str(joined_n),
                str(promoted_n),
                pct(promoted_n / joined_n),
                str(attended_n),
            ]
        )
    return table


def _peak_hours(
    ctx: _Ctx, sessions: list[ClassSession], counts: dict[str, int]
) -> tuple[Table, str | None]:
    """Attendance per store-local weekday (rows) and start hour (columns) of the classes in
    the period, as a table and a heat map (for scheduling)."""
    cells: dict[tuple[int, int], int] = defaultdict(int)
    for c in sessions:
        at = local(c.starts_ms, ctx.tz(c.store_id))
        cells[(at.weekday(), at.hour)] += max(0, counts.get(c.class_session_id, 0))
    hours = sorted({h for _, h in cells})
    table = Table(
        "peak_hours",
        ctx.t("table.peak_hours"),
        [ctx.col("day")] + [Column(f"h{h:02d}", f"{h:02d}:00", True) for h in hours],
    )
    days = [ctx.t(f"wd.{d}") for d in range(7)]
    grid = [[cells.get((d, h), 0) for h in hours] for d in range(7)]
    for d in range(7):
        table.rows.append([days[d]] + [str(v) for v in grid[d]])
    chart = (
        heat_map(days, [f"{h:02d}" for h in hours], grid, title=ctx.t("chart.peak_hours"))
        if hours
        else None
    )
    return table, chart


def _class_fill(ctx: _Ctx, sessions: list[ClassSession], counts: dict[str, int]) -> Table:
    """Fill rate per class type, coach and start hour, with booking and no-show rates (a
    no-show: booked, never signed in; counted once the session's sign-in has closed)."""
    outcomes = queries.booking_outcomes(ctx.conn, [c.class_session_id for c in sessions])
    groups: dict[tuple[str, str, str], list[int]] = {}
    for c in sessions:
        hour = f"{local(c.starts_ms, ctx.tz(c.store_id)):%H}:00"
        row = groups.setdefault((c.class_type, c.instructor or "—", hour), [0, 0, 0, 0, 0])
        booked, missed = outcomes.get(c.class_session_id, (0, 0))
        closed = ctx.now_ms > c.signin_closes_ms
        row[0] += 1
        row[1] += c.capacity
        row[2] += max(0, counts.get(c.class_session_id, 0))
        row[3] += booked if closed else 0
        row[4] += missed if closed else 0
    table = Table(
        "class_fill",
        ctx.t("table.class_fill"),
        [
            ctx.col("class_type"),
            ctx.col("coach"),
            ctx.col("hour"),
            ctx.col("classes_held", True),
            ctx.col("capacity", True),
            ctx.col("attended", True),
            ctx.col("fill", True),
            ctx.col("booked", True),
            ctx.col("no_shows", True),
            ctx.col("no_show_rate", True),
        ],
    )
    for (class_type, coach, hour), (n, capacity, attended, booked, missed) in sorted(
        groups.items()
    ):
        table.rows.append(
            [
                class_type,
                coach,
                hour,
                str(n),
                str(capacity),
                str(attended),
                pct(attended / capacity) if capacity else "—",
                str(booked),
                str(missed),
                pct(missed / booked) if booked else "—",
            ]
        )
    return table


# -- ledgers (passes, points held, coupon totals) --------------------------------------------


@dataclass
class _LedgerSummary:
    attention: list[list[str]] = field(default_factory=list)
    liability: dict[str | None, list[int]] = field(default_factory=dict)
    coupon_totals: dict[str, list[int]] = field(default_factory=dict)
    coupon_titles: dict[str, str] = field(default_factory=dict)
    stored_value: dict[str | None, list[int]] = field(default_factory=dict)
    """Per home store: members holding value, principal, live bonus, bonus expiring in 30
    days, owed (negative principal after an overdraw)."""
    voucher_liability: dict[str, int] = field(default_factory=dict)
    """Per campaign: face value (fen) of vouchers still usable."""
    coupon_campaigns: dict[str, str] = field(default_factory=dict)
    """coupon id -> campaign id."""


def _summarize_ledgers(ctx: _Ctx) -> _LedgerSummary:
    """Points held, passes needing attention and coupon use, read from every member's folded
    ledger through the ledger's own rules (nothing re-derived here)."""
    now = ctx.now_ms
    soon = now + ATTENTION_EXPIRY_DAYS * DAY_MS
    horizon = now + 30 * DAY_MS
    out = _LedgerSummary()
    attention: list[tuple[int, list[str]]] = []
    for row in queries.ledgers(ctx.conn, ctx.store_id):
        ledger = row.ledger
        available = ledger.points_available(now)
        debt = ledger.points_debt
        if available or debt:  # some points held, or owed
            acc = out.liability.setdefault(row.home_store_id, [0, 0, 0, 0])
            acc[0] += 1 if available > 0 else 0
            acc[1] += available
            acc[2] += ledger.points_expiring(now, horizon)
            acc[3] += debt
        for p in ledger.passes:
            if p.kind is not PassKind.PUNCH or not p.sessions_total:
                continue
            if p.problem_at(now, sessions=0) is not None:  # frozen, not yet active, expired
                continue
            left = p.sessions_left
            expiring = p.valid_until_ms <= soon and left > 0
            used_up = left <= ATTENTION_SESSIONS_LEFT
            if not (expiring or used_up):
                continue
            reason = (
                ctx.t("reason.both")
                if expiring and used_up
                else ctx.t("reason.expiring", days=ATTENTION_EXPIRY_DAYS)
                if expiring
                else ctx.t("reason.used_up")
            )
            until = local(p.valid_until_ms, ctx.tz(row.home_store_id)).date().isoformat()
            attention.append(
                (
                    p.valid_until_ms,
                    [
                        row.member_id,
                        row.display_name,
                        p.name,
                        f"{left}/{p.sessions_total}",
                        until,
                        reason,
                    ],
                )
            )
        value = ledger.stored_value
        if value.principal_fen or value.bonus_lots:
            held = out.stored_value.setdefault(row.home_store_id, [0, 0, 0, 0, 0])
            held[0] += 1 if value.available_fen(now) > 0 else 0
            held[1] += max(0, value.principal_fen)
            held[2] += value.bonus_available(now)
            held[3] += value.bonus_expiring(now, horizon)
            held[4] += max(0, -value.principal_fen)
        for c in ledger.coupons:
            out.coupon_campaigns[c.coupon_id] = c.campaign_id
            if c.kind is CouponKind.VOUCHER and c.validity_problem(now, None) is None:
                owed = 0 if c.is_used else c.value
                out.voucher_liability[c.campaign_id] = (
                    out.voucher_liability.get(c.campaign_id, 0) + owed
                )
            totals = out.coupon_totals.setdefault(c.campaign_id, [0, 0])
            totals[0] += 1
            totals[1] += 1 if c.is_used else 0
            out.coupon_titles.setdefault(c.campaign_id, c.title)
    attention.sort(key=lambda item: (item[0], item[1][0]))
    out.attention = [cells for _, cells in attention]
    return out


def _passes(ctx: _Ctx, summary: _LedgerSummary) -> Section:
    start, end = ctx.bounds()
    bucket = bucket_ms([ctx.tz(s) for s in ctx.scope], start, end)
    per_day: dict[tuple[date, str], int] = defaultdict(int)
    rolled = ctx.rolled(start, end, bucket)
    if rolled:
        for store, day, (n,) in rollups.day_sums(
            ctx.conn, ctx.period.first, ctx.period.last, ("sessions_used",), ctx.store_id
        ):
            if store in ctx.stores:
                per_day[(day, store)] += n
    used = [] if rolled else queries.sessions_used(ctx.conn, start, end, bucket, ctx.store_id)
    for store, b, n in used:
        if store not in ctx.stores:
            continue
        at = ctx.bucket_local(b * bucket, ctx.tz(store)).date()
        if ctx.period.contains(at):
            per_day[(at, store)] += n
    days = ctx.period.days
    usage = Table(
        "pass_usage_daily",
        ctx.t("table.pass_usage_daily"),
        [ctx.col("date"), ctx.col("store"), ctx.col("sessions", True)],
    )
    for day in days:
        iso = day.isoformat()
        for store in ctx.scope:
            usage.rows.append([iso, ctx.store_label(store), str(per_day.get((day, store), 0))])
    sales = Table(
        "pass_sales",
        ctx.t("table.pass_sales"),
        [ctx.col("home_store"), ctx.col("passes_sold", True), ctx.col("revenue", True)],
    )
    for home, (count, fen) in sorted(
        queries.pass_sales(ctx.conn, start, end, ctx.store_id).items(), key=lambda i: str(i[0])
    ):
        sales.rows.append([ctx.store_label(home), str(count), money(fen)])
    attention = Table(
        "passes_attention",
        ctx.t("table.passes_attention"),
        [
            ctx.col("member_id"),
            ctx.col("member"),
            ctx.col("pass"),
            ctx.col("sessions_left", True),
            ctx.col("valid_until"),
            ctx.col("reason"),
        ],
        summary.attention,
    )
    chart = bar_chart(
        [d.strftime("%m-%d") for d in days],
        ctx.series(lambda s: [per_day[(d, s)] for d in days]),
        title=ctx.t("chart.sessions_daily"),
    )
    return Section(
        "passes", ctx.t("sec.passes"), ctx.t("sec.passes.intro"), [chart], [usage, sales, attention]
    )


# -- staff ------------------------------------------------------------------------------------


def _staff(ctx: _Ctx) -> Section:
    """Catalogue sales and commission per staff member (who sold, where, how much)."""
    start, end = ctx.bounds()
    table = Table(
        "staff_commission",
        ctx.t("table.staff_commission"),
        [
            ctx.col("staff"),
            ctx.col("store"),
            ctx.col("passes_sold", True),
            ctx.col("revenue", True),
            ctx.col("commission", True),
        ],
    )
    per_staff: dict[str, int] = defaultdict(int)
    for staff, store, count, fen, paid in queries.staff_sales(ctx.conn, start, end, ctx.store_id):
        table.rows.append([staff, ctx.store_label(store), str(count), money(fen), money(paid)])
        per_staff[staff] += paid
    names = sorted(per_staff)
    charts = []
    if names:
        charts.append(
            bar_chart(
                names,
                [Series(ctx.t("col.commission"), [per_staff[n] // 100 for n in names])],
                title=ctx.t("chart.commission"),
                label_every=1,
            )
        )
    taught = Table(
        "classes_taught",
        ctx.t("table.classes_taught"),
        [
            ctx.col("coach"),
            ctx.col("store"),
            ctx.col("classes_taught", True),
            ctx.col("attendance", True),
        ],
    )
    for coach, store, classes, seen in queries.classes_taught(ctx.conn, start, end, ctx.store_id):
        taught.rows.append([coach, ctx.store_label(store), str(classes), str(seen)])
    redeemed = Table(
        "staff_redemptions",
        ctx.t("table.staff_redemptions"),
        [
            ctx.col("staff"),
            ctx.col("store"),
            ctx.col("points_redemptions", True),
            ctx.col("coupon_redemptions", True),
            ctx.col("sv_spends", True),
            ctx.col("sv_spent", True),
        ],
    )
    performed = queries.staff_redemptions(ctx.conn, start, end, ctx.store_id)
    for (staff, store), did in sorted(performed.items(), key=lambda i: (i[0][0], str(i[0][1]))):
        if not (did.points or did.coupons or did.spends):
            continue  # everything this person redeemed was undone
        redeemed.rows.append(
            [
                staff,
                ctx.store_label(store),
                str(did.points),
                str(did.coupons),
                str(did.spends),
                money(did.spent_fen),
            ]
        )
    tables = [table, taught, redeemed]
    return Section("staff", ctx.t("sec.staff"), ctx.t("sec.staff.intro"), charts, tables)


# -- points ----------------------------------------------------------------------------------


def _points(ctx: _Ctx, summary: _LedgerSummary) -> Section:
    start, end = ctx.bounds()
    bucket = bucket_ms([ctx.tz(s) for s in ctx.scope], start, end)
    if ctx.rolled(start, end, bucket):
        flows = queries.points_flows(ctx.conn, start, end, ctx.store_id, kiosk_facts=False)
        zones = {s: ctx.tz(s) for s in ctx.stores}
        for store, (earned, redeemed) in rollups.points_by_store(
            ctx.conn, start, end, zones, ctx.store_id
        ).items():
            flows.setdefault(store, queries.PointsFlow())
            flows[store].earned += earned
            flows[store].redeemed += redeemed
    else:
        flows = queries.points_flows(ctx.conn, start, end, ctx.store_id)
    keys = sorted(flows, key=lambda s: (s is None, s or ""))
    flow = Table(
        "points_flow",
        ctx.t("table.points_flow"),
        [
            ctx.col("store"),
            ctx.col("earned", True),
            ctx.col("redeemed", True),
            ctx.col("adjusted", True),
            ctx.col("expired", True),
        ],
    )
    for store in keys:
        f = flows[store]
        flow.rows.append(
            [
                ctx.store_label(store),
                str(f.earned),
                str(f.redeemed),
                str(f.adjusted),
                str(f.expired),
            ]
        )
    liability = Table(
        "points_liability",
        ctx.t("table.points_liability"),
        [
            ctx.col("home_store"),
            ctx.col("members_with_points", True),
            ctx.col("outstanding", True),
            ctx.col("expiring_30d", True),
            ctx.col("debt", True),
        ],
    )
    for store in sorted(summary.liability, key=lambda s: (s is None, s or "")):
        n, outstanding, expiring, debt = summary.liability[store]
        liability.rows.append(
            [ctx.store_label(store), str(n), str(outstanding), str(expiring), str(debt)]
        )
    chart = bar_chart(
        [ctx.store_label(s) for s in keys],
        [
            Series(ctx.t("col.earned"), [flows[s].earned for s in keys]),
            Series(ctx.t("col.redeemed"), [flows[s].redeemed for s in keys]),
            Series(ctx.t("col.expired"), [flows[s].expired for s in keys]),
        ],
        title=ctx.t("chart.points"),
        stacked=False,
        label_every=1,
    )
    return Section(
        "points", ctx.t("sec.points"), ctx.t("sec.points.intro"), [chart], [flow, liability]
    )


# -- coupons ---------------------------------------------------------------------------------


def _money(ctx: _Ctx, summary: _LedgerSummary) -> Section:
    """Stored value: the liability per home store (folded ledgers), top-ups, spend and
    purchases per store and day (the facts), and the cross-store settlement."""
    start, end = ctx.bounds()
    events = queries.money_events(ctx.conn, end)
    # date, store -> topped up, bonus, spent, refunded, purchases, purchase total
    daily: dict[tuple[date, str | None], list[int]] = defaultdict(lambda: [0] * 6)
    coupon_off: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    """campaign -> purchases that used one of its coupons, fen they took off."""
    zones = [ctx.tz(s) for s in ctx.scope] + ([] if ctx.store_id else [ctx.chain_tz])
    rolled = ctx.rolled(start, end, bucket_ms(zones, start, end))
    for store, day, sums in (
        rollups.money_days(
            ctx.conn, start, end, ctx.period.first, ctx.period.last, ctx.chain_tz, ctx.store_id
        )
        if rolled
        else ()
    ):
        if ctx.period.contains(day):
            acc = daily[(day, store)]
            for i, value in enumerate(sums):
                acc[i] += value
    # The events still give the coupon money (rollups keep no coupon per purchase); the
    # daily sums come from them only when the period is not on whole hours.
    for event in events:
        if event.hlc_ms < start or (ctx.store_id and event.store_id != ctx.store_id):
            continue
        day = local(event.hlc_ms, ctx.tz(event.store_id)).date()
        if not ctx.period.contains(day):
            continue
        b = event.body
        if isinstance(b, Purchase) and b.coupon_id is not None:
            used = coupon_off[summary.coupon_campaigns.get(b.coupon_id, b.coupon_id)]
            used[0] += 1
            used[1] += b.coupon_off_fen
        if rolled:
            continue
        acc = daily[(day, event.store_id)]
        if isinstance(b, StoredValueTopUp):
            acc[0] += b.paid_fen
            acc[1] += b.bonus_fen
        elif isinstance(b, StoredValueSpend):
            acc[2] += b.amount_fen
        elif isinstance(b, StoredValueRefund):
            acc[3] += b.amount_fen
        elif isinstance(b, Purchase):
            acc[4] += 1
            acc[5] += b.total_fen
    liability = Table(
        "stored_value_liability",
        ctx.t("table.stored_value_liability"),
        [
            ctx.col("home_store"),
            ctx.col("members_with_value", True),
            ctx.col("principal_yuan", True),
            ctx.col("bonus_yuan", True),
            ctx.col("bonus_expiring_30d_yuan", True),
            ctx.col("owed_yuan", True),
        ],
    )
    for store in sorted(summary.stored_value, key=lambda s: (s is None, s or "")):
        n, principal, bonus, expiring, owed = summary.stored_value[store]
        liability.rows.append(
            [ctx.store_label(store), str(n), money(principal), money(bonus), money(expiring),
             money(owed)]
        )  # fmt: skip
    flow = Table(
        "money_daily",
        ctx.t("table.money_daily"),
        [
            ctx.col("date"),
            ctx.col("store"),
            ctx.col("topped_up_yuan", True),
            ctx.col("bonus_yuan", True),
            ctx.col("spent_yuan", True),
            ctx.col("refunded_yuan", True),
            ctx.col("purchases", True),
            ctx.col("purchase_total_yuan", True),
            ctx.col("average_ticket_yuan", True),
        ],
    )
    for (day, store), acc in sorted(daily.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        average = money(acc[5] // acc[4]) if acc[4] else "-"
        flow.rows.append(
            [day.isoformat(), ctx.store_label(store), money(acc[0]), money(acc[1]),
             money(acc[2]), money(acc[3]), str(acc[4]), money(acc[5]), average]
        )  # fmt: skip
    settlement = Table(
        "money_settlement",
        ctx.t("table.money_settlement"),
        [ctx.col("collected_at"), ctx.col("spent_at"), ctx.col("amount_yuan", True)],
    )
    owed = settle(events, start, end)
    for (collected, spent), fen in sorted(
        owed.items(), key=lambda kv: ((kv[0][0] or ""), (kv[0][1] or ""))
    ):
        if collected == spent or not fen:
            continue
        if ctx.store_id and ctx.store_id not in (collected, spent):
            continue
        who = ctx.store_label(collected) if collected else ctx.t("overdrawn")
        settlement.rows.append([who, ctx.store_label(spent), money(fen)])
    coupons = Table(
        "coupon_money",
        ctx.t("table.coupon_money"),
        [
            ctx.col("campaign"),
            ctx.col("voucher_liability_yuan", True),
            ctx.col("coupon_purchases", True),
            ctx.col("coupon_off_yuan", True),
        ],
    )
    for campaign in sorted(set(summary.voucher_liability) | set(coupon_off)):
        used = coupon_off.get(campaign, [0, 0])
        coupons.rows.append(
            [campaign, money(summary.voucher_liability.get(campaign, 0)), str(used[0]),
             money(used[1])]
        )  # fmt: skip
    days = ctx.period.days
    per_day: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for (day, _store), acc in daily.items():
        per_day[day][0] += acc[0]
        per_day[day][1] += acc[2]
    chart = bar_chart(
        [d.strftime("%m-%d") for d in days],
        [
            Series(ctx.t("col.topped_up_yuan"), [per_day[d][0] // 100 for d in days]),
            Series(ctx.t("col.spent_yuan"), [per_day[d][1] // 100 for d in days]),
        ],
        title=ctx.t("chart.money_daily"),
        stacked=False,
    )
    return Section(
        "money",
        ctx.t("sec.money"),
        ctx.t("sec.money.intro"),
        [chart],
        [liability, flow, settlement, coupons],
    )


def _coupons(ctx: _Ctx, summary: _LedgerSummary) -> Section:
    start, end = ctx.bounds()
    issued = queries.coupon_issues(ctx.conn, start, end, ctx.store_id)
    by_coupon = queries.coupon_redeems(ctx.conn, start, end, ctx.store_id)
    campaign_of = queries.coupon_campaigns(ctx.conn, by_coupon)
    redeemed: dict[str, int] = defaultdict(int)
    for coupon_id, n in by_coupon.items():
        redeemed[campaign_of.get(coupon_id, "?")] += n
    titles = {**summary.coupon_titles, **queries.campaign_titles(ctx.conn)}
    campaigns = sorted(set(issued) | set(redeemed) | set(summary.coupon_totals))
    table = Table(
        "coupons_by_campaign",
        ctx.t("table.coupons_by_campaign"),
        [
            ctx.col("campaign"),
            ctx.col("title"),
            ctx.col("issued", True),
            ctx.col("redeemed_period", True),
            ctx.col("issued_total", True),
            ctx.col("redeemed_total", True),
            ctx.col("redemption_rate", True),
        ],
    )
    for camp in campaigns:
        total, used = summary.coupon_totals.get(camp, [0, 0])
        table.rows.append(
            [
                camp,
                titles.get(camp, ""),
                str(issued.get(camp, 0)),
                str(redeemed.get(camp, 0)),
                str(total),
                str(used),
                pct(used / total) if total else "—",
            ]
        )
    charts = []
    if campaigns:
        charts.append(
            bar_chart(
                [titles.get(c) or c for c in campaigns],
                [
                    Series(ctx.t("col.issued"), [issued.get(c, 0) for c in campaigns]),
                    Series(ctx.t("col.redeemed_period"), [redeemed.get(c, 0) for c in campaigns]),
                ],
                title=ctx.t("chart.coupons"),
                stacked=False,
                label_every=1,
            )
        )
    return Section("coupons", ctx.t("sec.coupons"), ctx.t("sec.coupons.intro"), charts, [table])


# -- members: lapsed and RFM -----------------------------------------------------------------


def _members(ctx: _Ctx) -> list[Section]:
    tz = ctx.member_tz
    as_of = ctx.period.last
    end_ms = int(
        datetime.combine(as_of + timedelta(days=1), datetime.min.time(), zone(tz)).timestamp()
        * 1000
    )
    since_ms = end_ms - LOOKBACK_DAYS * DAY_MS
    today = day_number(as_of)
    visits = queries.visit_days(
        ctx.conn, since_ms, utc_offset_ms(tz, end_ms), ctx.store_id, last_day=today
    )
    revenue = queries.pass_revenue(ctx.conn, since_ms, ctx.store_id)
    for member_id, fen in queries.money_revenue(ctx.conn, since_ms, ctx.store_id).items():
        revenue[member_id] = revenue.get(member_id, 0) + fen
    lapsed = find_lapsed(visits, today)
    names = queries.member_names(ctx.conn, sorted(set(visits) | set(revenue)))

    lapsed_table = Table(
        "lapsed_members",
        ctx.t("table.lapsed_members"),
        [
            ctx.col("member_id"),
            ctx.col("member"),
            ctx.col("home_store"),
            ctx.col("visits", True),
            ctx.col("cycle", True),
            ctx.col("last_visit"),
            ctx.col("days_since", True),
            ctx.col("overdue", True),
        ],
    )
    buckets = {"overdue.2_3": 0, "overdue.3_5": 0, "overdue.5_10": 0, "overdue.10": 0}
    for m in lapsed:
        name, home = names.get(m.member_id, ("", None))
        lapsed_table.rows.append(
            [
                m.member_id,
                name,
                ctx.store_label(home),
                str(m.visits),
                f"{m.usual_cycle_days:.1f}",
                from_day_number(m.last_visit_day).isoformat(),
                str(m.days_since),
                f"{m.overdue:.1f}",
            ]
        )
        key = (
            "overdue.2_3"
            if m.overdue < 3
            else "overdue.3_5"
            if m.overdue < 5
            else "overdue.5_10"
            if m.overdue < 10
            else "overdue.10"
        )
        buckets[key] += 1
    lapsed_section = Section(
        "lapsed",
        ctx.t("sec.lapsed"),
        ctx.t(
            "sec.lapsed.intro",
            factor=f"{DEFAULT_FACTOR:g}",
            min_visits=DEFAULT_MIN_VISITS,
            as_of=as_of.isoformat(),
        ),
        [
            bar_chart(
                [ctx.t(k) for k in buckets],
                [Series(ctx.t("lapsed_count"), list(buckets.values()))],
                title=ctx.t("chart.lapsed"),
                width=640,
                label_every=1,
            )
        ],
        [lapsed_table],
    )

    activities = [
        MemberActivity(
            member_id=m,
            last_visit_day=max(visits[m]) if m in visits else None,
            visits=len(set(visits.get(m, ()))),
            monetary_fen=revenue.get(m, 0),
        )
        for m in sorted(set(visits) | set(revenue))
    ]
    result = rfm(activities, today)
    quads = Table(
        "rfm_quadrants",
        ctx.t("table.rfm_quadrants"),
        [
            ctx.col("quadrant"),
            ctx.col("members", True),
            ctx.col("share", True),
            ctx.col("avg_frequency", True),
            ctx.col("avg_value", True),
        ],
    )
    total = len(result.rows)
    for q in QUADRANTS:
        rows = [r for r in result.rows if r.quadrant == q]
        quads.rows.append(
            [
                ctx.t(f"q.{q}"),
                str(len(rows)),
                pct(len(rows) / total) if total else "—",
                f"{statistics.fmean(r.frequency for r in rows):.1f}" if rows else "—",
                money(round(statistics.fmean(r.monetary_fen for r in rows))) if rows else "—",
            ]
        )
    members = Table(
        "rfm_members",
        ctx.t("table.rfm_members"),
        [
            ctx.col("member_id"),
            ctx.col("member"),
            ctx.col("recency", True),
            ctx.col("frequency", True),
            ctx.col("value", True),
            ctx.col("r", True),
            ctx.col("f", True),
            ctx.col("m", True),
            ctx.col("quadrant"),
        ],
    )
    points: list[tuple[float, float, str]] = []
    for r in result.rows:
        name = names.get(r.member_id, ("", None))[0]
        members.rows.append(
            [
                r.member_id,
                name,
                ctx.t("never") if r.recency_days is None else str(r.recency_days),
                str(r.frequency),
                money(r.monetary_fen),
                str(r.r_score),
                str(r.f_score),
                str(r.m_score),
                ctx.t(f"q.{r.quadrant}"),
            ]
        )
        points.append((r.frequency, r.monetary_fen / 100, f"{name} ({r.member_id})"))
    chart = quadrant_chart(
        points[:2000],
        x_split=result.frequency_split,
        y_split=None if result.monetary_split is None else result.monetary_split / 100,
        title=ctx.t("chart.rfm"),
        x_label=ctx.t("axis.frequency"),
        y_label=ctx.t("axis.value"),
        corner_labels=(
            ctx.t("q.champions"),
            ctx.t("q.loyal"),
            ctx.t("q.big_spenders"),
            ctx.t("q.occasional"),
        ),
    )
    rfm_section = Section(
        "rfm",
        ctx.t("sec.rfm"),
        ctx.t("sec.rfm.intro", as_of=as_of.isoformat(), days=LOOKBACK_DAYS),
        [chart],
        [quads, members],
    )
    return [lapsed_section, rfm_section]
