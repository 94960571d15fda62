"""``tapfleet kiosk``: run one kiosk from a settings file until SIGTERM/SIGINT.

When the kiosk is up it prints one line to stdout that parent processes can wait for::

    TAPFLEET_KIOSK_READY kiosk_id=<id> store_id=<id> ui=http://127.0.0.1:PORT

``tapfleet kiosk --hash-pin`` reads a staff PIN from stdin and prints the hash to put in
``staff.pin_hash``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

READY_MARKER = "TAPFLEET_KIOSK_READY"


def register(subparsers: Any) -> None:
    """Add the ``kiosk`` subcommand."""
    parser = subparsers.add_parser(
        "kiosk",
        help="run a kiosk: card reader, QR camera, ledger, MQTT link and touchscreen UI",
        description="Run one kiosk until SIGTERM or Ctrl-C. Settings come from --config "
        "(TOML or JSON) with TAPFLEET_KIOSK_* environment overrides.",
    )
    parser.add_argument("--config", type=Path, help="kiosk settings file (.toml or .json)")
    parser.add_argument(
        "--hash-pin",
        action="store_true",
        help="read a staff PIN (4-12 digits) from stdin, print its hash for staff.pin_hash",
    )
    parser.set_defaults(func=run)


def _hash_pin() -> int:
    from device.staff_pin import hash_pin

    pin = sys.stdin.readline().strip()
    try:
        print(hash_pin(pin))
    except ValueError as exc:
        print(f"tapfleet kiosk: {exc}", file=sys.stderr)
        return 2
    return 0


def run(args: argparse.Namespace) -> int:
    """Start the kiosk and block until a stop signal."""
    if args.hash_pin:
        return _hash_pin()
    if args.config is None:
        print("tapfleet kiosk: --config FILE is required", file=sys.stderr)
        return 2

    from device.app import KioskApp
    from device.errors import DeviceError
    from device.settings import load_settings

    try:
        settings = load_settings(args.config)
    except DeviceError as exc:
        print(f"tapfleet kiosk: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    app = KioskApp(settings)
    try:
        try:
            app.start()
        except DeviceError as exc:
            print(f"tapfleet kiosk: {exc}", file=sys.stderr)
            return 1
        print(
            f"{READY_MARKER} kiosk_id={settings.kiosk_id} store_id={settings.store_id} "
            f"ui={app.ui_url}",
            flush=True,
        )
        stop.wait()
    finally:
        app.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
