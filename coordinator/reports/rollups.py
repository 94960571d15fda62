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
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema

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
    """Add inserted ``events`` rows to the rollups, inside the caller's transaction."""
    changes = deltas(rows)
    if not changes:
        return
    table = schema.report_rollups
    insert: Any
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
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


def tap_buckets(
    conn: Connection, start_ms: int, end_ms: int, store_id: str | None
) -> list[tuple[str | None, str, int, int]]:
    """:func:`coordinator.reports.queries.tap_buckets` with hour buckets, from the rollups."""
    kinds = {"checkins": "checkin", "class_signins": "class_signin"}
    rows = hourly(conn, start_ms, end_ms, kinds, store_id)
    return sorted(
        ((s, kinds[m], h, n) for (s, h, m), n in rows.items()), key=lambda r: (r[0] or "", r[1:])
    )


def sessions_used(
    conn: Connection, start_ms: int, end_ms: int, store_id: str | None
) -> list[tuple[str | None, int, int]]:
    """:func:`coordinator.reports.queries.sessions_used` with hour buckets, from the rollups."""
    rows = hourly(conn, start_ms, end_ms, ("sessions_used",), store_id)
    return sorted(((s, h, n) for (s, h, _m), n in rows.items()), key=lambda r: (r[0] or "", r[1:]))


def points_by_store(
    conn: Connection, start_ms: int, end_ms: int, store_id: str | None
) -> dict[str | None, tuple[int, int]]:
    """store -> (points earned, points redeemed) in the period, undone ones taken back, for
    every store with a points fact in it (the kiosk part of ``queries.points_flows``)."""
    metrics = ("points_facts", "points_earned", "points_redeemed")
    out: dict[str | None, list[int]] = {}
    for (store, _hour, metric), value in hourly(conn, start_ms, end_ms, metrics, store_id).items():
        acc = out.setdefault(store, [0, 0])
        if metric != "points_facts":
            acc[0 if metric == "points_earned" else 1] += value
    return {store: (earned, redeemed) for store, (earned, redeemed) in out.items()}


MONEY_DAILY = (
    "sv_topped_up_fen",
    "sv_bonus_fen",
    "sv_spent_fen",
    "sv_refunded_fen",
    "purchases",
    "purchase_total_fen",
)
"""The money metrics in the order of the report's daily money table."""


def money_hours(
    conn: Connection, start_ms: int, end_ms: int, store_id: str | None
) -> dict[tuple[str | None, int], list[int]]:
    """(store, hour) -> the :data:`MONEY_DAILY` sums of every store-hour with a money fact."""
    out: dict[tuple[str | None, int], list[int]] = {}
    for (store, hour, metric), value in hourly(
        conn, start_ms, end_ms, MONEY_DAILY, store_id
    ).items():
        out.setdefault((store, hour), [0] * len(MONEY_DAILY))[MONEY_DAILY.index(metric)] = value
    return out


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
        ev.c.body,
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
    """Recompute every rollup from the stored events (a migration, a bulk-seeded ledger);
    returns the number of rollup rows."""
    ev = schema.events
    conn.execute(sa.delete(schema.report_rollups))
    query = sa.select(
        ev.c.kind,
        ev.c.store_id,
        ev.c.hlc_ms,
        ev.c.quarantined,
        ev.c.points,
        ev.c.sessions,
        ev.c.body,
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
    return len(values)


def _hour_at_or_after(ms: int) -> int:
    return -(-ms // HOUR_MS)
