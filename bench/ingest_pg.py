"""Ingest on PostgreSQL, judged three ways in the same run (three result lines).

Tapfleet: the ``ingest`` benchmark's workload (simulated kiosks publishing check-ins as
EventBatches of 50 through a private Mosquitto; the clock runs until every kiosk holds the
Ack of its last seq) against one ``tapfleet coordinator`` process on a fresh PostgreSQL
database of the machine's server (``bench.pg``), seeded with the same rows as the SQLite
ledger it is compared with.

Baselines, each measured in this run:

* ``ingest_pg``: the same workload on the SQLite ledger (the issue's target: PostgreSQL
  >= 0.7x the SQLite figure);
* ``ingest_pg_raw_insert``: the same event rows inserted by a plain psycopg client into a
  copy of the ``events`` table (same columns and indexes), one transaction per 50 rows,
  the size of a kiosk batch: what the server gives for these rows without the ledger's
  reads, folds and acks;
* ``ingest_pg_broker``: raw QoS 1 publish -> subscribe of as many one-event messages
  through the same broker (the ``ingest`` benchmark's baseline; target >= 1.0x).
"""

from __future__ import annotations

import time

from bench.common import Result, emit, parse_args, progress, rate, running_broker, work_dir
from bench.ingest import (
    BATCH,
    fleet_of,
    one_event_size,
    outgoing,
    raw_broker,
    seed,
    stored_events,
    tapfleet_ingest,
)
from bench.pg import copy_ledger, libpq_dsn, scratch_database
from bench.seed import EVENT_COLUMNS, event_row

NAME = "ingest_pg"
LINES = ("ingest_pg", "ingest_pg_raw_insert", "ingest_pg_broker")
EVENT_FLAG_COLUMNS = ("offline", "quarantined")


def raw_insert(pg_url: str, payloads: list[list[bytes]]) -> tuple[float, int]:
    """Insert the events of ``payloads`` with plain psycopg into ``raw_events`` (a copy of
    ``events``), one transaction per batch; returns (seconds, rows)."""
    import psycopg

    from shared.protocol import EventBatch, decode

    received = time.time_ns() // 1_000_000
    transactions = []
    for kiosk_payloads in payloads:
        for payload in kiosk_payloads:
            batch = decode(payload)
            assert isinstance(batch, EventBatch)
            transactions.append([_pg_row(event_row(e, received), e) for e in batch.events])
    columns = ", ".join([*EVENT_COLUMNS, "points"])
    marks = ", ".join(["%s"] * (len(EVENT_COLUMNS) + 1))
    insert = f"INSERT INTO raw_events ({columns}) VALUES ({marks})"  # noqa: S608 (constants)
    with psycopg.connect(libpq_dsn(pg_url)) as conn:
        conn.execute("CREATE TABLE raw_events (LIKE events INCLUDING ALL)")
        conn.commit()
        start = time.monotonic()
        for rows in transactions:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(insert, rows)
        seconds = time.monotonic() - start
        count = conn.execute("SELECT count(*) FROM raw_events").fetchone()
    return seconds, int(count[0]) if count else 0


def _pg_row(row: tuple[object, ...], event: object) -> tuple[object, ...]:
    """A seed ``events`` row for psycopg: booleans as booleans, plus the points column."""
    values = [
        bool(v) if c in EVENT_FLAG_COLUMNS else v for c, v in zip(EVENT_COLUMNS, row, strict=True)
    ]
    return (*values, getattr(getattr(event, "body", None), "points", None))


def run(kiosks: int, events_per_kiosk: int, keep: bool) -> list[Result]:
    """Measure SQLite, PostgreSQL, the raw insert and the raw broker; three lines."""
    total = kiosks * events_per_kiosk
    fleet = fleet_of(kiosks)
    ids = [k for k, _ in fleet]
    now = time.time_ns() // 1_000_000
    with (
        work_dir(NAME, keep) as folder,
        running_broker(folder) as broker,
        scratch_database("ingest") as pg_url,
    ):
        db_path = folder / "coordinator.db"
        seed(db_path, fleet, now)
        progress(
            NAME, f"copying the seeded ledger to PostgreSQL ({copy_ledger(db_path, pg_url)} rows)"
        )
        payloads = outgoing(fleet, events_per_kiosk)
        size = one_event_size(fleet, now)
        sqlite_url = f"sqlite:///{db_path}"
        sqlite_s, sqlite_acked = tapfleet_ingest(
            folder / "sqlite", broker.port, fleet, payloads, events_per_kiosk, sqlite_url
        )
        sqlite_lost = total - stored_events(sqlite_url, ids)
        progress(NAME, f"SQLite: {total} events in {sqlite_s:.2f} s")
        pg_s, pg_acked = tapfleet_ingest(
            folder / "pg", broker.port, fleet, payloads, events_per_kiosk, pg_url
        )
        pg_lost = total - stored_events(pg_url, ids)
        progress(NAME, f"PostgreSQL: {total} events in {pg_s:.2f} s")
        raw_s, raw_rows = raw_insert(pg_url, payloads)
        progress(NAME, f"raw psycopg insert: {raw_rows} rows in {raw_s:.2f} s")
        broker_s, received, distinct = raw_broker(
            broker.port, folder, kiosks, events_per_kiosk, size
        )

    pg_rate = rate(total, pg_s)
    ours = (
        f"{pg_rate:,.0f} events/s on PostgreSQL ({total:,} events from {kiosks} kiosks in "
        f"{pg_s:.2f} s, batches of {BATCH}, {pg_acked:,} acked, {pg_lost} lost)"
    )
    pg_ok = pg_lost == 0 and pg_acked == total
    sqlite_rate = rate(total, sqlite_s)
    raw_rate = rate(raw_rows, raw_s)
    broker_rate = rate(total, broker_s)
    return [
        Result(
            name="ingest_pg",
            tapfleet=ours,
            baseline=(
                f"{sqlite_rate:,.0f} events/s on SQLite, same run ({sqlite_s:.2f} s, "
                f"{sqlite_acked:,} acked, {sqlite_lost} lost)"
            ),
            ratio=pg_rate / sqlite_rate,
            target="ratio >= 0.7, no loss",
            passed=pg_ok and sqlite_lost == 0 and pg_rate / sqlite_rate >= 0.7,
        ),
        Result(
            name="ingest_pg_raw_insert",
            tapfleet=ours,
            baseline=(
                f"{raw_rate:,.0f} rows/s plain psycopg INSERT of the same {raw_rows:,} event "
                f"rows into a copy of events, {BATCH} rows per transaction, one connection"
            ),
            ratio=pg_rate / raw_rate,
            target="ratio >= 0.25 (the ledger's reads, folds and acks on top of the rows)",
            passed=pg_ok and raw_rows == total and pg_rate / raw_rate >= 0.25,
        ),
        Result(
            name="ingest_pg_broker",
            tapfleet=ours,
            baseline=(
                f"{broker_rate:,.0f} msgs/s ({total:,} QoS1 msgs of {size} B from {kiosks} "
                f"clients in {broker_s:.2f} s, {received:,} received, {total - distinct} lost)"
            ),
            ratio=pg_rate / broker_rate,
            target="ratio >= 1.0, no loss",
            passed=pg_ok and distinct == total and pg_rate / broker_rate >= 1.0,
        ),
    ]


def main() -> None:
    """Entry point."""
    args = parse_args(__doc__ or NAME)
    kiosks, per_kiosk = (2, 50) if args.quick else (20, 1000)
    for result in run(kiosks, per_kiosk, args.keep):
        emit(result)


if __name__ == "__main__":
    main()
