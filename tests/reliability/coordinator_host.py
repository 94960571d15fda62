"""The real coordinator as a process, with simulated time the test can move.

    python -m tests.reliability.coordinator_host --config C.toml --db URL --mqtt H:P \
        --http H:P [--advance-ms N]

It is ``tapfleet coordinator`` (``coordinator.cli``) with one difference, the test hook: the
clock handed to ``create_app`` is ``tests.reliability.sim_clock.WorldClock``. A line
``advance MS`` on stdin lets MS milliseconds pass at once and is answered with
``advanced OFFSET``, so the coordinator and the kiosk hosts can share hours of simulated
time (a partition, an outage) without anyone sleeping. ``--advance-ms`` restarts it where
the world's time already is (after a SIGKILL).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path
from typing import Any

from tests.reliability.sim_clock import WorldClock


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def _control(clock: WorldClock) -> None:
    for line in sys.stdin:
        parts = line.split()
        if len(parts) == 2 and parts[0] == "advance":
            offset = clock.advance(int(parts[1]))
            sys.stdout.write(f"advanced {offset}\n")
            sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """Run the coordinator until SIGTERM."""
    import uvicorn

    from coordinator.app import create_app
    from coordinator.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m tests.reliability.coordinator_host")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--mqtt", type=_host_port, required=True)
    parser.add_argument("--http", type=_host_port, required=True)
    parser.add_argument("--advance-ms", type=int, default=0)
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {"database_url": args.db}
    overrides["mqtt_host"], overrides["mqtt_port"] = args.mqtt
    overrides["http_host"], overrides["http_port"] = args.http
    settings = load_settings(args.config, **overrides)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    clock = WorldClock(args.advance_ms)
    app = create_app(settings, clock=clock)
    threading.Thread(target=_control, args=(clock,), name="clock-control", daemon=True).start()
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
