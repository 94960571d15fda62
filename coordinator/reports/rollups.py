"""Report rollups: per store and hour, the sums the reports need, kept in the transaction
that stores the events, so they always equal a recomputation from the events.

A chain-wide report over months reads a few rows per store and hour instead of every
event. The rollup is additive and keyed by the event's own facts only (its store, its
ledger time ``hlc_ms``, its kind and body), never by anything that changes later (a
member's home store): whatever order events arrive in — late, offline for days, a
reversal before or after its target's hour — the sum over a period is the same as
:func:`recompute` over the stored events of that period. Quarantined events (recorded,
never folded) count nowhere, as in the reports.

Metrics (a reversal subtracts from its target's metric in the hour it happened, as the
reports count it; an adjustment adds its deltas):

* ``checkins``, ``class_signins``, ``coupons_redeemed``: counts;
* ``sessions_used``: punch-pass sessions deducted by sign-ins;
* ``points_earned`` (check-ins), ``points_redeemed`` (redemptions);
* ``points_adjusted``, ``sessions_adjusted``: audited adjustments' deltas;
* ``points_facts``: check-ins, redemptions and reversals of either (never negative): the
  points report lists a store that had any, even when its sums net to zero;
* money, in fen, where it happened (``None`` store: HQ, rolled as ``""``):
  ``sv_topped_up_fen`` (paid) and ``sv_bonus_fen`` (the bonus a top-up gave),
  ``sv_spent_fen`` (kiosk, front desk or a purchase), ``sv_refunded_fen``; ``purchases``
  (count) and ``purchase_total_fen`` (what was charged). A bonus expiry is not rolled: it
  names a lot, not an amount (what remained needs the member's fold, as a points expiry),
  and no per-store report shows it; the liability reads the folded ledgers.

Days: the same sums per registered store and store-local day, one wide row each
(``report_rollup_days``: every :data:`DAY_METRICS` a column, and check-ins and class sign-ins
per local hour of the day), added with the hours in the same statement's transaction. A
store's zone never changes, so its local day of an hour is fixed when the hour is written;
a 30-day chain report reads a row per store and day (and sums the hour-of-day columns in
SQL) instead of every store-hour-metric. HQ's facts (no store, the chain's zone, which can
change) and stores not yet registered have hour rows only; registering a store derives its
days from its hours (:func:`derive_days`), as migration 0022 does for every store.

Writers: :func:`add_events` from the sequencer (once per ingest group, after every kiosk
row lock and before any member row lock) and the HQ recorder, in the transactions of their
``INSERT`` into ``events``. Keys are upserted in sorted order, so replicas writing the same
store-hours wait for each other instead of deadlocking (a deadlock PostgreSQL still finds is
retried by the ingest, as any other). A store-hour row is a hot spot only for the kiosks of
one store within one hour, which a single replica's group mostly holds anyway.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.reports.period import day_number, from_day_number, local, zone

HOUR_MS = 3_600_000
METRICS = (
    "checkins",
    "class_signins",
    "coupons_redeemed",
    "sessions_used",
    "points_earned",
    "points_redeemed",
    "points_adjusted",
    "sessions_adjusted",
    "points_facts",
    "sv_topped_up_fen",
    "sv_bonus_fen",
    "sv_spent_fen",
    "sv_refunded_fen",
    "purchases",
    "purchase_total_fen",
)
ROLLED_KINDS = (
    "checkin",
    "class_signin",
    "coupon_redeem",
    "points_redeem",
    "reversal",
    "adjustment",
    "sv_topup",
    "sv_spend",
    "sv_refund",
    "purchase",
)
_REVERSED = {
    "checkin": (("checkins", None), ("points_earned", "points")),
    "class_signin": (("class_signins", None), ("sessions_used", "sessions")),
    "points_redeem": (("points_redeemed", "points"),),
    "coupon_redeem": (("coupons_redeemed", None),),
}
"""What undoing each kind takes back: (metric, the reversal body's amount field or None
for a count of one)."""

Key = tuple[str, int, str]
"""(store id, hour number = hlc_ms // HOUR_MS, metric)."""


def deltas(rows: Iterable[Mapping[str, Any]]) -> dict[Key, int]:
    """What ``events`` rows (as inserted: kind, store_id, hlc_ms, quarantined, points,
    sessions, body JSON) add to the rollups; zero sums left out."""
    out: dict[Key, int] = defaultdict(int)
    for row in rows:
        kind = row["kind"]
        if kind not in ROLLED_KINDS or row.get("quarantined"):
            continue
        store = row["store_id"] or ""
        hour = int(row["hlc_ms"]) // HOUR_MS
        if kind == "checkin":
            out[(store, hour, "checkins")] += 1
            out[(store, hour, "points_earned")] += int(row.get("points") or 0)
            out[(store, hour, "points_facts")] += 1
        elif kind == "class_signin":
            out[(store, hour, "class_signins")] += 1
            out[(store, hour, "sessions_used")] += int(row.get("sessions") or 0)
        elif kind == "points_redeem":
            out[(store, hour, "points_redeemed")] += int(row.get("points") or 0)
            out[(store, hour, "points_facts")] += 1
        elif kind == "coupon_redeem":
            out[(store, hour, "coupons_redeemed")] += 1
        else:
            body = json.loads(row["body"])["body"]
            if kind == "sv_topup":
                out[(store, hour, "sv_topped_up_fen")] += int(body["paid_fen"])
                out[(store, hour, "sv_bonus_fen")] += int(body.get("bonus_fen", 0))
            elif kind == "sv_spend":
                out[(store, hour, "sv_spent_fen")] += int(body["amount_fen"])
            elif kind == "sv_refund":
                out[(store, hour, "sv_refunded_fen")] += int(body["amount_fen"])
            elif kind == "purchase":
                out[(store, hour, "purchases")] += 1
                out[(store, hour, "purchase_total_fen")] += int(body["total_fen"])
            elif kind == "reversal":
                for metric, field in _REVERSED.get(body["target_kind"], ()):
                    out[(store, hour, metric)] -= 1 if field is None else int(body.get(field, 0))
                if body["target_kind"] in ("checkin", "points_redeem"):
                    out[(store, hour, "points_facts")] += 1
            else:
                out[(store, hour, "points_adjusted")] += int(body.get("points_delta", 0))
                out[(store, hour, "sessions_adjusted")] += int(body.get("sessions_delta", 0))
    return {key: value for key, value in out.items() if value}


def add_events(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Add inserted ``events`` rows to the rollups (hours and days), inside the caller's
    transaction."""
    changes = deltas(rows)
    if not changes:
        return
    insert = _insert(conn)
    table = schema.report_rollups
    statement = insert(table)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["store_id", "hour", "metric"],
            set_={"value": table.c.value + statement.excluded.value},
        ),
        [
            {"store_id": store, "hour": hour, "metric": metric, "value": value}
            for (store, hour, metric), value in sorted(changes.items())
        ],
    )
    days = day_deltas(changes, _zones(conn, {store for store, _h, _m in changes}))
    if days:
        days_table = schema.report_rollup_days
        statement = insert(days_table)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["store_id", "day"],
                set_={name: days_table.c[name] + statement.excluded[name] for name in DAY_COLUMNS},
            ),
            _day_values(days),
        )


DAY_METRICS = schema.ROLLUP_DAY_METRICS
"""The metrics a store-day row sums (what the reports read from the rollups)."""
HOUR_OF_DAY = schema.ROLLUP_DAY_HOURS
"""Check-ins then class sign-ins per local hour of the day: ``checkins_h00`` ..."""
DAY_COLUMNS = DAY_METRICS + HOUR_OF_DAY
DayKey = tuple[str, int]
"""(store id, store-local day number: days since 1970-01-01)."""


def day_deltas(changes: Mapping[Key, int], zones: Mapping[str, str]) -> dict[DayKey, list[int]]:
    """What hourly changes add to the store-day rows (:data:`DAY_COLUMNS` order), for the
    stores in ``zones`` (store -> its zone); all-zero rows left out."""
    index = {name: i for i, name in enumerate(DAY_COLUMNS)}
    placed: dict[tuple[int, str], tuple[int, int]] = {}
    out: dict[DayKey, list[int]] = {}
    for (store, hour, metric), value in changes.items():
        zone = zones.get(store)
        if zone is None or metric not in index or not value:
            continue
        at = placed.get((hour, zone))
        if at is None:
            when = local(hour * HOUR_MS, zone)
            at = placed[(hour, zone)] = (day_number(when.date()), when.hour)
        row = out.setdefault((store, at[0]), [0] * len(DAY_COLUMNS))
        row[index[metric]] += value
        if metric in ("checkins", "class_signins"):
            row[index[f"{metric}_h{at[1]:02d}"]] += value
    return {key: row for key, row in out.items() if any(row)}


def derive_days(conn: Connection, store_ids: Iterable[str] | None = None) -> int:
    """Recompute the store-day rows of ``store_ids`` (None: every registered store) from
    their hour rows (a store just registered, migration 0022); returns the rows written."""
    table, days = schema.report_rollups, schema.report_rollup_days
    wanted = None if store_ids is None else sorted(set(store_ids))
    zones = _zones(conn, wanted)
    if wanted is None:
        conn.execute(sa.delete(days))
    else:
        conn.execute(sa.delete(days).where(days.c.store_id.in_(wanted)))
    query = sa.select(table.c.store_id, table.c.hour, table.c.metric, table.c.value).where(
        table.c.metric.in_(DAY_METRICS), table.c.value != 0
    )
    if wanted is not None:
        query = query.where(table.c.store_id.in_(wanted))
    result = conn.execute(query, execution_options={"stream_results": True})
    acc: dict[DayKey, list[int]] = {}
    while rows := result.fetchmany(10_000):
        part = day_deltas({(s, int(h), m): int(v) for s, h, m, v in rows}, zones)
        for key, row in part.items():
            into = acc.setdefault(key, [0] * len(DAY_COLUMNS))
            for i, value in enumerate(row):
                into[i] += value
    return _write_days(conn, acc)


def _write_days(conn: Connection, days: Mapping[DayKey, list[int]]) -> int:
    values = _day_values({key: row for key, row in days.items() if any(row)})
    for i in range(0, len(values), 2_000):
        conn.execute(sa.insert(schema.report_rollup_days), values[i : i + 2_000])
    return len(values)


def _day_values(days: Mapping[DayKey, list[int]]) -> list[dict[str, Any]]:
    return [
        {"store_id": store, "day": day, **dict(zip(DAY_COLUMNS, row, strict=True))}
        for (store, day), row in sorted(days.items())
    ]


def _zones(conn: Connection, store_ids: Iterable[str] | None) -> dict[str, str]:
    """store -> zone of the registered ones among ``store_ids`` (None: every store)."""
    stores = schema.stores
    query = sa.select(stores.c.store_id, stores.c.timezone)
    if store_ids is not None:
        wanted = sorted({s for s in store_ids if s})
        if not wanted:
            return {}
        query = query.where(stores.c.store_id.in_(wanted))
    return {store: zone for store, zone in conn.execute(query)}


def _insert(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def day_sums(
    conn: Connection, first: date, last: date, columns: Sequence[str], store_id: str | None
) -> list[tuple[str, date, list[int]]]:
    """(store, local date, sums of ``columns``) of every store-day of [first, last] with
    one of them non-zero, from the store-day rows (registered stores only)."""
    days = schema.report_rollup_days
    cols = [days.c[name] for name in columns]
    query = sa.select(days.c.store_id, days.c.day, *cols).where(
        days.c.day >= day_number(first),
        days.c.day <= day_number(last),
        sa.or_(*(c != 0 for c in cols)),
    )
    if store_id is not None:
        query = query.where(days.c.store_id == store_id)
    dates = {n: from_day_number(n) for n in range(day_number(first), day_number(last) + 1)}
    return [(row[0], dates[row[1]], [int(v) for v in row[2:]]) for row in conn.execute(query)]


def period_sums(
    conn: Connection, first: date, last: date, columns: Sequence[str], store_id: str | None
) -> dict[str, list[int]]:
    """store -> sums of ``columns`` over its local days [first, last] (summed in SQL), for
    every store with a store-day row in them."""
    days = schema.report_rollup_days
    query = (
        sa.select(days.c.store_id, *(sa.func.sum(days.c[name]) for name in columns))
        .where(days.c.day >= day_number(first), days.c.day <= day_number(last))
        .group_by(days.c.store_id)
    )
    if store_id is not None:
        query = query.where(days.c.store_id == store_id)
    return {row[0]: [int(v or 0) for v in row[1:]] for row in conn.execute(query)}


def totals(
    conn: Connection, start_ms: int, end_ms: int, store_id: str | None = None
) -> dict[tuple[str, str], int]:
    """(store, metric) -> sum over the hours that start in [start_ms, end_ms), from the
    rollups (a report period in whole hours, as every store-local day is)."""
    table = schema.report_rollups
    query = (
        sa.select(table.c.store_id, table.c.metric, sa.func.sum(table.c.value))
        .where(
            table.c.hour >= _hour_at_or_after(start_ms), table.c.hour < _hour_at_or_after(end_ms)
        )
        .group_by(table.c.store_id, table.c.metric)
    )
    if store_id is not None:
        query = query.where(table.c.store_id == store_id)
    return {(s, m): int(v) for s, m, v in conn.execute(query) if int(v)}


def hourly(
    conn: Connection,
    start_ms: int,
    end_ms: int,
    metrics: Iterable[str],
    store_id: str | None = None,
) -> dict[tuple[str | None, int, str], int]:
    """(store, hour number, metric) -> value for the hours that start in [start_ms, end_ms),
    non-zero values only; the store is ``None`` for HQ's facts, as in ``events``."""
    table = schema.report_rollups
    query = sa.select(table.c.store_id, table.c.hour, table.c.metric, table.c.value).where(
        table.c.hour >= _hour_at_or_after(start_ms),
        table.c.hour < _hour_at_or_after(end_ms),
        table.c.metric.in_(sorted(set(metrics))),
        table.c.value != 0,
    )
    if store_id is not None:
        query = query.where(table.c.store_id == store_id)
    return {(s or None, int(h), m): int(v) for s, h, m, v in conn.execute(query)}


def points_by_store(
    conn: Connection,
    start_ms: int,
    end_ms: int,
    zones: Mapping[str, str],
    store_id: str | None,
) -> dict[str | None, tuple[int, int]]:
    """store -> (points earned, points redeemed) over [start_ms, end_ms), undone ones taken
    back, for every store with a points fact in it (the kiosk part of
    ``queries.points_flows``); HQ's as ``None``. ``zones``: the registered stores' zones.
    A store's local days wholly inside come from its store-day rows, the hours left at
    either end (a chain across zones) and HQ's from the hour rows."""
    metrics = ("points_facts", "points_earned", "points_redeemed")
    sums: dict[str | None, list[int]] = {}

    def add(store: str | None, values: Iterable[int]) -> None:
        acc = sums.setdefault(store, [0, 0, 0])
        for i, value in enumerate(values):
            acc[i] += value

    def add_hours(start: int, end: int, stores: Collection[str] | None) -> None:
        """Add the hour rows of [start, end) of ``stores`` (None: HQ's)."""
        if start >= end:
            return
        only = "" if stores is None else store_id
        for (store, _h, metric), value in hourly(conn, start, end, metrics, only).items():
            if (store is None) if stores is None else store in stores:
                add(store, [value if metric == m else 0 for m in metrics])

    by_zone: dict[str, set[str]] = defaultdict(set)
    for store, zone_name in zones.items():
        if store_id is None or store == store_id:
            by_zone[zone_name].add(store)
    for zone_name, stores in sorted(by_zone.items()):
        first, last = whole_days(start_ms, end_ms, zone_name)
        if first > last:
            add_hours(start_ms, end_ms, stores)
            continue
        for store, values in period_sums(conn, first, last, metrics, store_id).items():
            if store in stores:
                add(store, values)
        add_hours(start_ms, day_start(first, zone_name), stores)
        add_hours(day_start(last + timedelta(days=1), zone_name), end_ms, stores)
    if store_id is None:
        add_hours(start_ms, end_ms, None)
    return {store: (acc[1], acc[2]) for store, acc in sums.items() if acc[0]}


MONEY_DAILY = (
    "sv_topped_up_fen",
    "sv_bonus_fen",
    "sv_spent_fen",
    "sv_refunded_fen",
    "purchases",
    "purchase_total_fen",
)
"""The money metrics in the order of the report's daily money table."""


def money_days(
    conn: Connection,
    start_ms: int,
    end_ms: int,
    first: date,
    last: date,
    hq_zone: str,
    store_id: str | None,
) -> list[tuple[str | None, date, list[int]]]:
    """(store, local date, :data:`MONEY_DAILY` sums) of every store-day of [first, last]
    with a money fact: the stores' from their store-day rows, HQ's (``None``, days in
    ``hq_zone``) from its hour rows in [start_ms, end_ms)."""
    out: list[tuple[str | None, date, list[int]]] = list(
        day_sums(conn, first, last, MONEY_DAILY, store_id)
    )
    if store_id is None:
        hq: dict[date, list[int]] = {}
        for (_s, hour, metric), value in hourly(conn, start_ms, end_ms, MONEY_DAILY, "").items():
            day = local(hour * HOUR_MS, hq_zone).date()
            hq.setdefault(day, [0] * len(MONEY_DAILY))[MONEY_DAILY.index(metric)] += value
        out.extend((None, day, sums) for day, sums in sorted(hq.items()))
    return out


def whole_days(start_ms: int, end_ms: int, zone_name: str) -> tuple[date, date]:
    """The first and last local dates in ``zone_name`` lying wholly in [start_ms, end_ms)
    (first after last: none)."""
    first = local(start_ms, zone_name).date()
    if day_start(first, zone_name) < start_ms:
        first += timedelta(days=1)
    return first, local(end_ms, zone_name).date() - timedelta(days=1)


def day_start(day: date, zone_name: str) -> int:
    """Epoch ms of local midnight starting ``day`` in ``zone_name``."""
    return int(datetime.combine(day, time(), zone(zone_name)).timestamp() * 1000)


def recompute(
    conn: Connection, start_ms: int, end_ms: int, store_id: str | None = None
) -> dict[tuple[str, str], int]:
    """The same sums as :func:`totals`, recomputed from the stored events (the reference)."""
    ev = schema.events
    start, end = _hour_at_or_after(start_ms) * HOUR_MS, _hour_at_or_after(end_ms) * HOUR_MS
    query = sa.select(
        ev.c.kind,
        ev.c.store_id,
        ev.c.hlc_ms,
        ev.c.quarantined,
        ev.c.points,
        ev.c.sessions,
        _body_if_read(),
    ).where(
        ev.c.kind.in_(ROLLED_KINDS),
        ev.c.quarantined == sa.false(),
        ev.c.hlc_ms >= start,
        ev.c.hlc_ms < end,
    )
    if store_id is not None:
        query = query.where(ev.c.store_id == store_id)
    out: dict[tuple[str, str], int] = defaultdict(int)
    for (store, _hour, metric), value in deltas(r._mapping for r in conn.execute(query)).items():
        out[(store, metric)] += value
    return {key: value for key, value in out.items() if value}


def rebuild(conn: Connection) -> int:
    """Recompute every rollup, hours and days, from the stored events (a migration, a
    bulk-seeded ledger, a repair); returns the number of hour rows."""
    ev = schema.events
    # Migrations 0013 and 0017 run this before 0022 creates the store-day table.
    days = sa.inspect(conn).has_table(schema.report_rollup_days.name)
    conn.execute(sa.delete(schema.report_rollups))
    if days:
        conn.execute(sa.delete(schema.report_rollup_days))
    query = sa.select(
        ev.c.kind,
        ev.c.store_id,
        ev.c.hlc_ms,
        ev.c.quarantined,
        ev.c.points,
        ev.c.sessions,
        _body_if_read(),
    ).where(ev.c.kind.in_(ROLLED_KINDS), ev.c.quarantined == sa.false())
    result = conn.execute(query, execution_options={"stream_results": True})
    acc: dict[Key, int] = defaultdict(int)
    while rows := result.fetchmany(10_000):
        for key, value in deltas(r._mapping for r in rows).items():
            acc[key] += value
    values = [
        {"store_id": s, "hour": h, "metric": m, "value": v}
        for (s, h, m), v in sorted(acc.items())
        if v
    ]
    for i in range(0, len(values), 5_000):
        conn.execute(sa.insert(schema.report_rollups), values[i : i + 5_000])
    if days:
        _write_days(conn, day_deltas(acc, _zones(conn, None)))
    return len(values)


def _body_if_read() -> Any:
    """The ``body`` column for the kinds :func:`deltas` reads it of (NULL for the check-ins,
    sign-ins and redemptions it sums from their columns: most rows, not sent at all)."""
    ev = schema.events
    plain = ("checkin", "class_signin", "points_redeem", "coupon_redeem")
    return sa.case((ev.c.kind.in_(plain), sa.null()), else_=ev.c.body).label("body")


def _hour_at_or_after(ms: int) -> int:
    return -(-ms // HOUR_MS)
