"""The ``tapfleet`` command: one entry point, subcommands contributed by each package.

Each package exposes ``register(subparsers)`` which adds its subcommands and sets
``func`` on them; heavy imports happen inside the command functions, never here.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that contribute subcommands, in help order. A module is skipped (with a note on
# stderr) only if it does not exist yet; any other import error is a bug and is raised.
_CONTRIBUTORS = (
    "device.kiosk_cli",
    "device.readers.cli",
    "coordinator.cli",
    "simulators.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every contributed subcommand."""
    parser = argparse.ArgumentParser(
        prog="tapfleet",
        description="Tapfleet: offline-first membership kiosks and their fleet coordinator.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _CONTRIBUTORS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tapfleet`` command line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    result = func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
