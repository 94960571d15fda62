"""``tapfleet kiosk``: run one kiosk from a settings file until SIGTERM/SIGINT.

When the kiosk is up it prints one line to stdout that parent processes can wait for::

    TAPFLEET_KIOSK_READY kiosk_id=<id> store_id=<id> ui=http://127.0.0.1:PORT [stations=URL]

``tapfleet kiosk --hash-pin`` reads a staff PIN from stdin and prints the hash to put in
``staff.pin_hash``. ``tapfleet kiosk enroll --coordinator URL --code CODE --out FILE`` joins
the fleet with a one-time enrollment code (:mod:`device.enroll`).
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

READY_MARKER = "TAPFLEET_KIOSK_READY"
GC_FIRST_THRESHOLD = 10_000
"""Allocations between young-generation collections (CPython's default is 700)."""


def tune_gc() -> None:
    """Garbage-collector settings for a process that runs one kiosk; call once, after start.

    Decoding one 2,000-member snapshot chunk creates ~25,000 objects. With CPython's default
    threshold that sets off dozens of collections per chunk, and every tenth of them walks
    every object the process holds (modules, pydantic schemas, the web app): about a quarter
    of a cold sync's decoding time. ``gc.freeze()`` takes what exists after start-up out of
    the collector's sight for good, and a higher first threshold lets a burst of short-lived
    objects die by reference counting before anything scans them. Cycles are still
    collected, only later; nothing else changes.
    """
    gc.freeze()
    gc.set_threshold(GC_FIRST_THRESHOLD, *gc.get_threshold()[1:])


def register(subparsers: Any) -> None:
    """Add the ``kiosk`` subcommand."""
    parser = subparsers.add_parser(
        "kiosk",
        help="run a kiosk: card reader, QR camera, ledger, MQTT link and touchscreen UI",
        description="Run one kiosk until SIGTERM or Ctrl-C. Settings, highest first: "
        "TAPFLEET_KIOSK_* environment variables, --config (TOML or JSON), the defaults. A bad "
        "setting is one line on stderr and exit status 2.",
    )
    parser.add_argument("--config", type=Path, help="kiosk settings file (.toml or .json)")
    parser.add_argument(
        "--hash-pin",
        action="store_true",
        help="read a staff PIN (4-12 digits) from stdin, print its scrypt hash for staff.pin_hash",
    )
    parser.set_defaults(func=run)
    actions = parser.add_subparsers(dest="kiosk_action", metavar="ACTION")
    enroll = actions.add_parser(
        "enroll",
        help="join the fleet with a one-time enrollment code; writes the kiosk config",
        description="Trade a one-time enrollment code (from the coordinator: POST "
        "/api/v1/enrollment-codes) for this kiosk's id, store and broker credentials, and "
        "write them into --out (other settings in the file are kept).",
    )
    enroll.add_argument("--coordinator", required=True, help="coordinator URL, e.g. https://hq")
    enroll.add_argument(
        "--code", required=True, help="the enrollment code; '-' reads it from stdin"
    )
    enroll.add_argument("--out", type=Path, required=True, help="kiosk config file to write")
    enroll.add_argument(
        "--ledger-path", help="ledger file to set (default: keep, or ledger.sqlite by the config)"
    )
    enroll.add_argument(
        "--coordinator-ca", type=Path, help="CA bundle of the coordinator's HTTPS certificate"
    )
    enroll.set_defaults(func=_enroll)


def _enroll(args: argparse.Namespace) -> int:
    from device.enroll import request_credentials, write_config
    from device.errors import DeviceError

    code = sys.stdin.readline().strip() if args.code == "-" else args.code
    try:
        answer = request_credentials(args.coordinator, code, ca_file=args.coordinator_ca)
        data = write_config(answer, args.out, ledger_path=args.ledger_path)
    except DeviceError as exc:
        print(f"tapfleet kiosk enroll: {exc}", file=sys.stderr)
        return 2
    print(
        f"enrolled kiosk_id={answer['kiosk_id']} store_id={answer['store_id']} "
        f"broker={answer['mqtt']['host']}:{answer['mqtt']['port']} config={args.out}",
        flush=True,
    )
    if "pin_hash" not in (data.get("staff") or {}):
        print(
            "next: set [staff] pin_hash in the config (tapfleet kiosk --hash-pin), then "
            "start the kiosk: tapfleet kiosk --config " + str(args.out),
            flush=True,
        )
    return 0


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
        tune_gc()
        print(
            f"{READY_MARKER} kiosk_id={settings.kiosk_id} store_id={settings.store_id} "
            f"ui={app.ui_url}" + (f" stations={app.stations_url}" if app.stations_url else ""),
            flush=True,
        )
        stop.wait()
    finally:
        app.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
