"""Field technician commands for the kiosk's inputs.

* ``tapfleet qr decode FILE...`` - what QR code each image file holds.
* ``tapfleet nfc watch [--path PATH]`` - print every card tap the reader sees.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``qr`` and ``nfc`` command groups."""
    qr = subparsers.add_parser("qr", help="QR code tools")
    qr_sub = qr.add_subparsers(dest="qr_command", metavar="SUBCOMMAND")
    decode = qr_sub.add_parser(
        "decode",
        help="print the QR code text in each image file",
        description="Decode QR codes in image files. One line per file: 'FILE: TEXT', "
        "'FILE: no code found' or 'FILE: error: ...'. Exit status 0 when every file "
        "held a code, 1 otherwise.",
    )
    decode.add_argument("files", nargs="+", metavar="FILE", help="image files (PNG, JPEG ...)")
    decode.add_argument(
        "--backend", choices=("zxing", "pyzbar"), default="zxing", help="decoder (default zxing)"
    )
    decode.set_defaults(func=_qr_decode)
    qr.set_defaults(func=lambda args: _group_help(qr))

    nfc = subparsers.add_parser("nfc", help="NFC card reader tools")
    nfc_sub = nfc.add_subparsers(dest="nfc_command", metavar="SUBCOMMAND")
    watch = nfc_sub.add_parser(
        "watch",
        help="print each card tap the reader sees",
        description="Open the NFC reader and print one line per tap (UID, card type, NDEF) "
        "and every health change, until Ctrl-C, --count taps or --seconds.",
    )
    watch.add_argument(
        "--path",
        default="usb",
        help="nfcpy path: usb, usb:054c:06c1, tty:USB0:pn532, udp:127.0.0.1:PORT (default usb)",
    )
    watch.add_argument(
        "--targets",
        default="106A,212F",
        help="technologies to poll, comma-separated (default 106A,212F)",
    )
    watch.add_argument("--count", type=int, default=0, help="stop after this many taps")
    watch.add_argument("--seconds", type=float, default=0, help="stop after this long")
    watch.set_defaults(func=_nfc_watch)
    nfc.set_defaults(func=lambda args: _group_help(nfc))


def _group_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _qr_decode(args: argparse.Namespace) -> int:
    import cv2

    from device.readers.errors import DecodeError
    from device.readers.qr import decode_frame

    all_found = True
    for name in args.files:
        image = cv2.imread(name, cv2.IMREAD_COLOR)
        if image is None:
            print(f"{name}: error: cannot read image (missing, unreadable or not an image)")
            all_found = False
            continue
        try:
            texts = decode_frame(image, args.backend)
        except DecodeError as exc:
            print(f"{name}: error: {exc}")
            all_found = False
            continue
        if not texts:
            print(f"{name}: no code found")
            all_found = False
        else:
            print(f"{name}: {' | '.join(texts)}")
    return 0 if all_found else 1


def _nfc_watch(args: argparse.Namespace) -> int:
    import threading

    from device.readers.base import CardRead
    from device.readers.nfc_reader import NfcReader, NfcReaderConfig

    targets = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    reader = NfcReader(NfcReaderConfig(path=args.path, targets=targets))
    done = threading.Event()
    taps = 0

    def on_card(read: CardRead) -> None:
        nonlocal taps
        taps += 1
        ndef = "; ".join(f"{r.kind}:{r.value}" for r in read.ndef) or "-"
        print(f"tap {taps}: uid={read.uid} {read.family} ({read.product}) ndef={ndef}", flush=True)
        if args.count and taps >= args.count:
            done.set()

    reader.start(on_card)
    last = None
    try:
        deadline = args.seconds or None
        waited = 0.0
        while not done.is_set():
            health = reader.health
            if (health.state, health.detail) != last:
                last = (health.state, health.detail)
                detail = f": {health.detail}" if health.detail else ""
                print(f"reader {health.state.value}{detail}", file=sys.stderr, flush=True)
            done.wait(0.2)
            waited += 0.2
            if deadline is not None and waited >= deadline:
                break
    except KeyboardInterrupt:
        pass
    finally:
        reader.stop()
    return 1 if args.count and taps < args.count else 0
