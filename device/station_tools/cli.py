"""``tapfleet station``: build, check and enrol door stations (docs/station.md).

    tapfleet station build --out build/station        # mpy-cross: what mpremote copies
    tapfleet station check                            # build + mypy against the ESP32 stubs
    tapfleet station enroll --config /etc/tapfleet/kiosk.toml --station-id st-studio-a \\
        --room studio-a --kiosk-host 192.168.1.20 --wifi-ssid store --out station-config.json
"""

from __future__ import annotations

import argparse
import getpass
import sys
import tempfile
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``station`` subcommand."""
    parser = subparsers.add_parser(
        "station", help="door stations: build the firmware, check it, enrol a station"
    )
    actions = parser.add_subparsers(dest="station_action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="compile the firmware with mpy-cross")
    build.add_argument("--out", type=Path, required=True, help="folder to write the files to")
    build.set_defaults(func=_build)
    check = actions.add_parser("check", help="build and type-check the firmware")
    check.set_defaults(func=_check)
    enroll = actions.add_parser(
        "enroll", help="give a station its key: appended to the kiosk config, board config written"
    )
    enroll.add_argument("--config", type=Path, required=True, help="the kiosk's TOML config")
    enroll.add_argument("--station-id", required=True)
    enroll.add_argument("--room", help="the room its door leads to (ClassSession.room)")
    enroll.add_argument("--kiosk-host", required=True, help="the kiosk's IPv4 address on the LAN")
    enroll.add_argument("--kiosk-port", type=int, default=8470)
    enroll.add_argument("--wifi-ssid", required=True)
    enroll.add_argument(
        "--wifi-password", help="asked for on the terminal when not given (not echoed)"
    )
    enroll.add_argument("--out", type=Path, required=True, help="board config.json to write")
    enroll.set_defaults(func=_enroll)


def _build(args: argparse.Namespace) -> int:
    from device.station_tools.build import build
    from device.station_tools.errors import StationToolError

    try:
        made = build(args.out)
    except StationToolError as exc:
        print(f"tapfleet station build: {exc}", file=sys.stderr)
        return 1
    print(f"built {len(made)} files into {args.out}; copy them with:")
    print(f"  mpremote cp -r {args.out}/tapstation : && mpremote cp {args.out}/main.py :main.py")
    return 0


def _check(args: argparse.Namespace) -> int:
    from device.station_tools.build import build
    from device.station_tools.errors import StationToolError
    from device.station_tools.typecheck import typecheck

    try:
        with tempfile.TemporaryDirectory() as tmp:
            build(Path(tmp))
        problems = typecheck()
    except StationToolError as exc:
        print(f"tapfleet station check: {exc}", file=sys.stderr)
        return 1
    for line in problems:
        print(line)
    print("firmware builds and type-checks" if not problems else f"{len(problems)} type errors")
    return 1 if problems else 0


def _enroll(args: argparse.Namespace) -> int:
    from device.errors import DeviceError
    from device.station_tools.enroll import enroll

    password = args.wifi_password
    if password is None:
        password = getpass.getpass("Wi-Fi password for the station: ")
    try:
        enrollment = enroll(
            args.config,
            station_id=args.station_id,
            room=args.room,
            kiosk_host=args.kiosk_host,
            kiosk_port=args.kiosk_port,
            wifi_ssid=args.wifi_ssid,
            wifi_password=password,
            out=args.out,
        )
    except DeviceError as exc:
        print(f"tapfleet station enroll: {exc}", file=sys.stderr)
        return 2
    print(f"enrolled {enrollment.station_id} (room {enrollment.room or 'any'}) in {args.config}")
    print(f"next: mpremote cp {args.out} :config.json, then restart the kiosk")
    return 0
