"""The ``tapfleet`` command: one entry point that hands each subcommand to its package, lazily.

``tapfleet kiosk`` imports only ``device`` code and ``tapfleet coordinator`` only
``coordinator`` code: this module knows every subcommand by name from :data:`COMMANDS`
and imports nothing but the one package that runs it. A Raspberry Pi kiosk installed with
``pip install 'tapfleet[kiosk]'`` therefore never needs SQLAlchemy or Jinja, and a
coordinator never needs OpenCV or nfcpy. A subcommand whose extra is not installed answers
with one line and exit status 2::

    tapfleet coordinator needs the coordinator extra: pip install 'tapfleet[coordinator]'

Why here, in ``shared/``: the umbrella command belongs to neither deployable, and the
layout has exactly one package that both install, whatever the extra: ``shared/`` (the
base dependencies are what it needs). It keeps ``shared/``'s promise in spirit: it touches
no database, socket or device, imports no third-party package, and has no effect at import
time; its only IO is the command line itself (argv and stderr).

Each package exposes ``register(subparsers)``, which adds its subcommands and sets ``func``
on them; heavy imports happen inside the command functions. Run it as ``tapfleet ...`` (the
console script) or ``python -m shared.cli ...`` (what tests and the demo do).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

DISTRIBUTION = "tapfleet"
OUR_PACKAGES = frozenset({"device", "coordinator", "shared", "simulators"})


@dataclass(frozen=True)
class Command:
    """A top-level subcommand: the module that registers it and the extra it needs."""

    module: str
    extra: str
    summary: str


COMMANDS: dict[str, Command] = {
    "kiosk": Command(
        "device.kiosk_cli",
        "kiosk",
        "run a kiosk: card reader, QR camera, ledger, MQTT link and touchscreen UI",
    ),
    "ledger": Command(
        "device.ledger_cli",
        "kiosk",
        "support tools for a kiosk ledger: export its journal and outbox (read-only)",
    ),
    "qr": Command("device.readers.cli", "kiosk", "QR code tools"),
    "station": Command(
        "device.station_tools.cli",
        "kiosk",
        "door stations: build the firmware, check it, enrol a station",
    ),
    "nfc": Command("device.readers.cli", "kiosk", "NFC card reader tools"),
    "coordinator": Command(
        "coordinator.cli", "coordinator", "run the coordinator (HTTP API + MQTT ingest)"
    ),
    "broker-config": Command(
        "coordinator.cli",
        "coordinator",
        "render the Mosquitto config (and kiosk passwords/ACL) from the ledger",
    ),
    "report": Command(
        "coordinator.cli",
        "coordinator",
        "print a store-owner report table as CSV, from the coordinator's database",
    ),
    "sim": Command("simulators.cli", "sim", "simulated hardware: NFC cards, camera"),
    "demo": Command(
        "simulators.cli",
        "sim",
        "run a demo chain: broker, coordinator, kiosks, seeded data and traffic",
    ),
}
"""Every subcommand, in help order. The registering module must add exactly these
(``tests/shared/test_cli_dispatch.py`` checks names and help texts)."""

DESCRIPTION = "Tapfleet: offline-first membership kiosks and their fleet coordinator."

_REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[(?P<extras>[^\]]*)\])?")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["'](?P<extra>[^"']+)["']""")


def _extra_distributions(requirements: Sequence[str], extra: str, seen: set[str]) -> list[str]:
    """The distributions ``extra`` adds (following ``tapfleet[other]`` references)."""
    seen.add(extra)
    names: list[str] = []
    for requirement in requirements:
        _, _, marker = requirement.partition(";")
        wanted = _EXTRA_MARKER.search(marker)
        match = _REQUIREMENT.match(requirement)
        if wanted is None or wanted["extra"] != extra or match is None:
            continue
        if match["name"].lower() == DISTRIBUTION:
            for inner in (match["extras"] or "").split(","):
                if inner.strip() and inner.strip() not in seen:
                    names += _extra_distributions(requirements, inner.strip(), seen)
        else:
            names.append(match["name"])
    return names


def missing_distributions(extra: str) -> list[str]:
    """Distributions of ``extra`` that are not installed.

    Read from the installed ``tapfleet`` metadata (pyproject's extras); empty when Tapfleet
    runs from a source tree without metadata: a missing module is then caught on import.
    """
    try:
        requirements = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return []
    missing = []
    for name in _extra_distributions(requirements, extra, set()):
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    return sorted(set(missing))


def needs_extra(command: str, extra: str, missing: str) -> str:
    """The one line a subcommand answers with when its extra is not installed."""
    return (
        f"tapfleet {command} needs the {extra} extra: pip install 'tapfleet[{extra}]' "
        f"(missing: {missing})"
    )


def overview_parser() -> argparse.ArgumentParser:
    """The top-level parser: every subcommand listed, none imported."""
    parser = argparse.ArgumentParser(prog="tapfleet", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub.add_parser(name, help=f"{command.summary} [{command.extra}]", add_help=False)
    return parser


def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of one subcommand, registered by its own module (imported here)."""
    parser = argparse.ArgumentParser(prog="tapfleet", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    importlib.import_module(COMMANDS[name].module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tapfleet`` command line."""
    args = list(sys.argv[1:] if argv is None else argv)
    name = args[0] if args and not args[0].startswith("-") else None
    if name is None or name not in COMMANDS:
        overview = overview_parser()
        overview.parse_args(args)  # --help exits 0; an unknown command exits 2, named
        overview.print_help(sys.stderr)
        return 2
    extra = COMMANDS[name].extra
    missing = missing_distributions(extra)
    if missing:
        print(needs_extra(name, extra, ", ".join(missing)), file=sys.stderr)
        return 2
    try:
        parsed = command_parser(name).parse_args(args)
        func = getattr(parsed, "func", None)
        if func is None:
            command_parser(name).print_help(sys.stderr)
            return 2
        return int(func(parsed) or 0)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] in OUR_PACKAGES:
            raise
        print(needs_extra(name, extra, exc.name), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
