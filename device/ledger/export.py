"""Dump a kiosk ledger to CSV or JSON for an engineer on site, without touching it.

``tapfleet ledger export --ledger /var/lib/tapfleet/ledger.sqlite --out DIR`` writes one file
per table (``journal``, ``kiosk``, ``members``, ``cards``, ``deny_list``, ``rule_bundle`` ...)
plus ``outbox``: the journal rows the coordinator has not acknowledged yet (the journal is
the outbox; see :mod:`device.ledger.schema`).

Read-only by construction: the file is opened with SQLite's ``mode=ro`` URI, so nothing can
be written to it, and every table is read inside one read transaction, so the files agree
with each other even while the kiosk keeps recording taps (WAL lets a reader and the
writer work at once). sqlite-utils does the inspection (table names, columns, rows).
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlite_utils

from device.ledger.database import BUSY_TIMEOUT_MS
from device.ledger.errors import LedgerError

Format = Literal["csv", "json"]
FORMATS: tuple[Format, ...] = ("csv", "json")

OUTBOX = "outbox"
OUTBOX_QUERY = "SELECT * FROM journal WHERE acked = 0 ORDER BY seq"
"""The outbox is a view of the journal: what the coordinator has not acknowledged yet."""


class ExportError(LedgerError):
    """The ledger cannot be exported as asked (missing file, not a ledger, unknown table)."""

    code = "ledger_export_error"


@dataclass(frozen=True)
class Exported:
    """One written file."""

    name: str
    path: Path
    rows: int


@contextmanager
def open_read_only(path: Path) -> Iterator[sqlite_utils.Database]:
    """The ledger at ``path`` through sqlite-utils on a ``mode=ro`` connection."""
    if not path.is_file():
        raise ExportError(f"no ledger at {path} (check --ledger: the kiosk's ledger_path)")
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000
        )
    except sqlite3.Error as exc:
        raise ExportError(f"cannot open {path} read-only: {exc}") from exc
    try:
        conn.execute("PRAGMA query_only = ON")  # belt and braces on top of mode=ro
        yield sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
    finally:
        conn.close()


def _plain(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else value


def _write(rows: Iterable[dict[str, Any]], columns: Sequence[str], path: Path, fmt: Format) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            writer = csv.DictWriter(handle, fieldnames=list(columns))
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _plain(v) for k, v in row.items()})
                count += 1
        else:
            handle.write("[")
            for row in rows:
                handle.write(",\n " if count else "\n ")
                json.dump({k: _plain(v) for k, v in row.items()}, handle, ensure_ascii=False)
                count += 1
            handle.write("\n]\n" if count else "]\n")
    return count


def export_ledger(
    ledger: Path, out: Path, fmt: Format = "csv", tables: Sequence[str] = ()
) -> list[Exported]:
    """Write every table of ``ledger`` (or just ``tables``) and the outbox into ``out``."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    with open_read_only(ledger) as db:
        try:
            db.conn.execute("BEGIN")  # one read snapshot for every file
            names = db.table_names()
        except sqlite3.DatabaseError as exc:
            raise ExportError(f"{ledger} is not a readable SQLite ledger: {exc}") from exc
        if "journal" not in names:
            raise ExportError(f"{ledger} is not a kiosk ledger (it has no journal table)")
        available = [*names, OUTBOX]
        wanted = list(tables) or available
        unknown = sorted(set(wanted) - set(available))
        if unknown:
            raise ExportError(
                f"no table {', '.join(unknown)} in the ledger; choose from {', '.join(available)}"
            )
        out.mkdir(parents=True, exist_ok=True)
        done = []
        for name in wanted:
            path = out / f"{name}.{fmt}"
            if name == OUTBOX:
                columns = [c.name for c in db["journal"].columns]
                rows = _write(db.query(OUTBOX_QUERY), columns, path, fmt)
            else:
                table = db.table(name)
                columns = [c.name for c in table.columns]
                rows = _write(table.rows, columns, path, fmt)
            done.append(Exported(name, path, rows))
        db.conn.execute("ROLLBACK")
    return done
