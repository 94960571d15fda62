"""``tapfleet ledger export``: a kiosk ledger's journal, outbox and tables as CSV or JSON.

For an engineer on site: safe while the kiosk runs (read-only, one consistent snapshot;
:mod:`device.ledger.export`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``ledger`` command group."""
    ledger = subparsers.add_parser(
        "ledger",
        help="support tools for a kiosk ledger: export its journal and outbox (read-only)",
    )
    actions = ledger.add_subparsers(dest="ledger_action", metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="write the ledger's journal, outbox and other tables to CSV or JSON files",
        description="Write one file per table of a kiosk ledger (journal, kiosk, members, "
        "cards, deny_list, rule_bundle ...) plus outbox.csv: the events the coordinator has "
        "not acknowledged yet. Opens the ledger read-only and reads one consistent snapshot, "
        "so it is safe while the kiosk runs. Prints one line per file written.",
    )
    export.add_argument(
        "--ledger", type=Path, required=True, help="the kiosk's ledger file (its ledger_path)"
    )
    export.add_argument("--out", type=Path, required=True, help="directory to write into")
    export.add_argument(
        "--format", choices=("csv", "json"), default="csv", help="file format (default csv)"
    )
    export.add_argument(
        "--table",
        action="append",
        default=[],
        metavar="NAME",
        help="export only this table (repeatable; 'outbox' is the unacknowledged journal)",
    )
    export.set_defaults(func=_export)
    ledger.set_defaults(func=lambda args: _group_help(ledger))


def _group_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _export(args: argparse.Namespace) -> int:
    from device.ledger.export import ExportError, export_ledger

    try:
        written = export_ledger(args.ledger, args.out, args.format, args.table)
    except ExportError as exc:
        print(f"tapfleet ledger export: {exc}", file=sys.stderr)
        return 2
    for item in written:
        print(f"{item.path}: {item.rows} rows", flush=True)
    return 0
