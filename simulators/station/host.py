"""A door station as a process of its own: ``python -m simulators.station.host CONFIG``.

It builds the firmware, opens a PN532 simulator on a pty, runs the firmware under the
MicroPython unix port (``StationBoard``) and takes cards over a small HTTP control port on
127.0.0.1, so a supervisor (the demo) can run it like any other child and stop its whole
process group. CONFIG (JSON)::

    {"workdir": "...", "control_port": 8471, "board": { ...the board's config.json... }}

Control: ``GET /ready`` is 200 once the station has reached its kiosk; ``POST /tap`` with
``{"uid": "04A1B2C3D4E5F6"}`` holds the card at the reader until the station shows its
answer and returns ``{"signal": ..., "result": ..., "reason": ...}`` (504 without one).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REARM_S = 0.6
"""A card away from the reader longer than the firmware's rearm window (0.5 s)."""


class _Station:
    def __init__(self, workdir: Path, board_config: dict[str, Any]) -> None:
        from device.station_tools.build import build
        from simulators.pn532 import PtyChip
        from simulators.station.board import StationBoard

        firmware = workdir / "firmware"
        build(firmware)
        self.chip = PtyChip()
        self.board = StationBoard(
            workdir / "board", board_config, chip_path=self.chip.path, firmware=firmware
        ).start()
        self.lock = threading.Lock()
        self.log = (workdir / "board.log").open("a", encoding="utf-8")

    def ready(self) -> bool:
        return bool(self.board.find("kiosk_reachable"))

    def tap(self, uid: str, timeout_s: float = 15.0) -> dict[str, str] | None:
        with self.lock:
            mark = self.board.mark()
            self.chip.place_uid(uid)
            try:
                found = self.board.wait_for("signal", after=mark, timeout=timeout_s)
            except AssertionError:
                return None
            finally:
                self.chip.lift()
                self.log.write("\n".join(self.board.lines[mark:]) + "\n")
                self.log.flush()
            answers = self.board.find("answer", after=mark)
            time.sleep(REARM_S)
        fields = dict(answers[0].fields) if answers else {}
        fields["signal"] = found[0].fields.get("name", "")
        return fields

    def close(self) -> None:
        self.board.stop()
        self.chip.close()


def main() -> int:
    """Run one door station until SIGTERM."""
    config = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    station = _Station(Path(config["workdir"]), config["board"])

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            ok = station.ready()
            self._send(200 if ok else 503, {"ready": ok})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = json.loads(self.rfile.read(length) or b"{}")
            answer = station.tap(str(request.get("uid", "")))
            self._send(200 if answer else 504, answer or {"error": "no answer"})

    server = ThreadingHTTPServer(("127.0.0.1", int(config["control_port"])), Handler)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(f"door station {config['board']['station_id']} on {station.chip.path}", flush=True)
    try:
        stop.wait()
    finally:
        server.shutdown()
        station.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
