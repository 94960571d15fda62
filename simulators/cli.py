"""``tapfleet sim ...``: drive a kiosk's inputs with simulated hardware; ``tapfleet demo``.

* ``sim tap``     - tap a virtual NFC card on a kiosk's udp reader.
* ``sim show-qr`` - hold a phone with a member QR code in front of a simulated camera.
* ``sim camera``  - run the simulated camera (the MJPEG stream a kiosk's scanner opens).

Each subcommand is added by one ``_add_*`` function listed in ``SIM_SUBCOMMANDS``; add new
simulators there. Heavy imports happen inside the command functions.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_READER = "udp:127.0.0.1:54321"
"""nfcpy's default udp address: what a kiosk configured with ``udp:`` listens on."""
DEFAULT_CAMERA = "http://127.0.0.1:8081"
"""Where ``sim camera`` serves by default; a kiosk's camera source is ``<this>/stream.mjpg``."""


def register(subparsers: Any) -> None:
    """Add the ``sim`` command group with every simulator subcommand."""
    sim = subparsers.add_parser("sim", help="simulated hardware: NFC cards, camera")
    sim_sub = sim.add_subparsers(dest="sim_command", metavar="SUBCOMMAND")
    for add in SIM_SUBCOMMANDS:
        add(sim_sub)
    sim.set_defaults(func=lambda args: _help(sim))

    from simulators.demo.cli import add_demo_command

    add_demo_command(subparsers)  # a top-level command: `tapfleet demo`


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


# -- sim tap ---------------------------------------------------------------------------


def _add_tap(sim_sub: Any) -> None:
    from simulators.nfc.profiles import PROFILES

    tap = sim_sub.add_parser(
        "tap",
        help="tap a virtual NFC card on a kiosk's reader",
        description="Present a virtual card on nfcpy's udp transport for --hold seconds, "
        "then lift it. The kiosk's reader must be configured with the same udp path. "
        "Exit status 1 if no reader talked to the card.",
    )
    tap.add_argument(
        "--card",
        required=True,
        metavar="UID",
        help="card UID in hex: 14 digits for NTAG, 16 for a FeliCa IDm",
    )
    tap.add_argument(
        "--type", default="ntag215", choices=sorted(PROFILES), help="card product (default ntag215)"
    )
    tap.add_argument(
        "--reader",
        default=DEFAULT_READER,
        metavar="udp:HOST:PORT",
        help=f"the kiosk reader's udp path (default {DEFAULT_READER})",
    )
    tap.add_argument(
        "--hold",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="how long the card stays on the reader (default 3: on udp a reader spends 1 s "
        "on each technology nobody answers, so hold at least 1 s per polled technology)",
    )
    tap.add_argument("--ndef-text", metavar="TEXT", help="an NDEF text record on the card")
    tap.add_argument("--ndef-uri", metavar="URI", help="an NDEF URI record on the card")
    tap.set_defaults(func=_tap)


def parse_udp_path(path: str) -> tuple[str, int]:
    """(host, port) from an nfcpy ``udp:HOST:PORT`` path; ValueError saying what is wrong."""
    parts = path.split(":")
    if parts[0] != "udp" or len(parts) != 3 or not parts[2].isdigit():
        raise ValueError(f"reader path {path!r} must look like udp:127.0.0.1:54321")
    return parts[1] or "127.0.0.1", int(parts[2])


def _tap(args: argparse.Namespace) -> int:
    from simulators.nfc.card import VirtualCard
    from simulators.nfc.link import CardLinkError

    try:
        host, port = parse_udp_path(args.reader)
        card = VirtualCard(args.card, args.type, ndef_text=args.ndef_text, ndef_uri=args.ndef_uri)
    except ValueError as exc:
        print(f"sim tap: {exc}", file=sys.stderr)
        return 2
    try:
        commands = card.hold(port, args.hold, host)
    except CardLinkError as exc:
        print(f"sim tap: {exc}", file=sys.stderr)
        return 1
    print(
        f"card {card.uid} ({args.type}) held on udp:{host}:{port} for {args.hold:g} s; "
        f"the reader sent {commands} commands"
    )
    if commands == 0:
        print(
            f"sim tap: no reader read the card; is a kiosk reader running on udp:{host}:{port}?",
            file=sys.stderr,
        )
        return 1
    return 0


# -- sim show-qr -----------------------------------------------------------------------


def _add_show_qr(sim_sub: Any) -> None:
    from simulators.camera.realism import REALISM

    show = sim_sub.add_parser(
        "show-qr",
        help="show a member QR code to a simulated camera",
        description="Render camera frames of a phone showing a member's token and play them "
        "on a simulated camera (see 'sim camera'), or write them as PNG files with --out.",
    )
    show.add_argument("--member", required=True, metavar="ID", help="member id")
    source = show.add_mutually_exclusive_group(required=True)
    source.add_argument("--token", help="a token issued elsewhere (e.g. the member page)")
    source.add_argument(
        "--key-file",
        type=Path,
        metavar="PATH",
        help="QR signing key: one line of urlsafe base64, or JSON "
        '{"key_id": ..., "private_key": ...}; a fresh token is issued',
    )
    show.add_argument("--key-id", help="key id to sign with (default: from the key file, else k1)")
    show.add_argument(
        "--ttl",
        type=int,
        default=60,
        metavar="SECONDS",
        help="lifetime of an issued token (default 60)",
    )
    show.add_argument(
        "--camera",
        default=DEFAULT_CAMERA,
        metavar="URL",
        help=f"the simulated camera (default {DEFAULT_CAMERA})",
    )
    show.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write the frames as PNG files here instead of showing them",
    )
    show.add_argument(
        "--realism", default="", metavar="LIST", help=f"comma-separated, from: {','.join(REALISM)}"
    )
    show.add_argument("--seconds", type=float, default=5.0, help="how long (default 5)")
    show.add_argument("--seed", type=int, default=0, help="seed for the realism")
    show.set_defaults(func=_show_qr)


def load_signing_key(path: Path, key_id: str | None) -> tuple[bytes, str]:
    """(raw private key, key id) from a key file; ValueError saying what is wrong."""
    from shared.qrtoken import decode_private_key

    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot read key file {path}: {exc.strerror}") from exc
    file_key_id = None
    if text.startswith("{"):
        try:
            data = json.loads(text)
            text, file_key_id = str(data["private_key"]), data.get("key_id")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"key file {path} is JSON without a private_key: {exc}") from exc
    return decode_private_key(text), key_id or file_key_id or "k1"


def _show_qr(args: argparse.Namespace) -> int:
    import time

    from shared.qrtoken import issue_token
    from simulators.camera.realism import REALISM

    realism = [r.strip() for r in args.realism.split(",") if r.strip()]
    unknown = [r for r in realism if r not in REALISM]
    if unknown:
        print(
            f"sim show-qr: unknown realism {','.join(unknown)}; choose from {','.join(REALISM)}",
            file=sys.stderr,
        )
        return 2
    try:
        if args.token:
            token = args.token
        else:
            private, key_id = load_signing_key(args.key_file, args.key_id)
            token = issue_token(private, key_id, args.member, time.time_ns() // 10**6, args.ttl)
        if args.out is not None:
            return _write_frames(args, token, realism)
        return _post_show(args, token, realism)
    except ValueError as exc:
        print(f"sim show-qr: {exc}", file=sys.stderr)
        return 2


def _write_frames(args: argparse.Namespace, token: str, realism: list[str]) -> int:
    import cv2

    from simulators.camera.render import render_sequence

    count = max(1, int(args.seconds * 15))
    frames = render_sequence(token, count, realism, seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(args.out / f"frame_{i:04d}.png"), frame)
    print(f"wrote {len(frames)} frames of member {args.member}'s code to {args.out}")
    return 0


def _post_show(args: argparse.Namespace, token: str, realism: list[str]) -> int:
    import urllib.error
    import urllib.request

    body = json.dumps(
        {"token": token, "realism": realism, "seconds": args.seconds, "seed": args.seed}
    ).encode()
    url = args.camera.rstrip("/") + "/show"
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            reply = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        print(f"sim show-qr: camera refused the show: {detail}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(
            f"sim show-qr: no simulated camera at {args.camera} ({exc}); start one with "
            "'tapfleet sim camera'",
            file=sys.stderr,
        )
        return 1
    print(
        f"showing member {args.member}'s code on {args.camera} for {args.seconds:g} s "
        f"({reply.get('frames')} frames, realism: {','.join(realism) or 'none'})"
    )
    return 0


# -- sim camera ------------------------------------------------------------------------


def _add_camera(sim_sub: Any) -> None:
    camera = sim_sub.add_parser(
        "camera",
        help="run a simulated kiosk camera (MJPEG over HTTP)",
        description="Serve an MJPEG stream for a kiosk's QR scanner until Ctrl-C. The kiosk's "
        "camera source is http://HOST:PORT/stream.mjpg; 'sim show-qr --camera "
        "http://HOST:PORT' puts a phone in front of it.",
    )
    camera.add_argument("--host", default="127.0.0.1")
    camera.add_argument("--port", type=int, default=8081)
    camera.add_argument("--fps", type=float, default=15.0)
    camera.add_argument("--seconds", type=float, default=0, help="stop after this long")
    camera.set_defaults(func=_camera)


def _camera(args: argparse.Namespace) -> int:
    import threading

    from simulators.camera.server import SimulatedCamera

    try:
        camera = SimulatedCamera(args.host, args.port, fps=args.fps).start()
    except OSError as exc:
        print(f"sim camera: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"simulated camera streaming at {camera.url}", flush=True)
    try:
        threading.Event().wait(args.seconds or None)
    except KeyboardInterrupt:
        pass
    finally:
        camera.stop()
    return 0


SIM_SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (_add_tap, _add_show_qr, _add_camera)
"""One function per ``sim`` subcommand, in help order."""
