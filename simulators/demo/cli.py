"""``tapfleet demo``: the command line of the demo (added by ``simulators.cli.register``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_demo_command(subparsers: Any) -> None:
    """Add the top-level ``demo`` subcommand."""
    demo = subparsers.add_parser(
        "demo",
        help="run a demo chain: broker, coordinator, kiosks, seeded data and traffic",
        description="Start a private Mosquitto, the coordinator (SQLite) and simulated kiosks "
        "of a small chain (3 stores), seed members, cards, passes, coupons and today's "
        "classes through the coordinator's API, then run traffic: card taps and phone QR "
        "codes, a class burst, redemptions, and one kiosk going offline and coming back. "
        "Prints the dashboard and kiosk URLs and the logins. Runs until Ctrl-C or --duration.",
    )
    demo.add_argument(
        "--duration",
        type=float,
        metavar="SECONDS",
        help="stop cleanly this long after the fleet is up (default: run until Ctrl-C)",
    )
    demo.add_argument(
        "--coordinator-port",
        type=int,
        default=8000,
        metavar="PORT",
        help="HTTP port of the coordinator (default 8000; another free port is used if taken, "
        "0 picks one); kiosk UIs take the next free ports",
    )
    demo.add_argument(
        "--kiosks", type=int, default=4, metavar="N", help="kiosks in the chain (2-12, default 4)"
    )
    demo.add_argument(
        "--workdir",
        type=Path,
        metavar="DIR",
        help="keep everything here (ledgers, configs, logs); default: a temporary folder "
        "removed after a clean run",
    )
    demo.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from simulators.demo.runner import DemoOptions, run_demo

    return run_demo(
        DemoOptions(
            duration_s=args.duration,
            coordinator_port=args.coordinator_port,
            kiosks=args.kiosks,
            workdir=args.workdir,
        )
    )
