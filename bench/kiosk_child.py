"""A real kiosk (``device.app.KioskApp``) in its own process, timed from the inside.

    python -m bench.kiosk_child --mode drain|cold --ledger PATH --kiosk K --store S \
        --mqtt-port P [--expect N]

The whole kiosk runs: ledger, MQTT link, UI server (no readers: nothing to tap). Its own
process, so its resident memory is its own. Prints one JSON line when done:

* ``drain``: the ledger already holds an outbox backlog; ``seconds`` runs from the link's
  connection to the Ack of seq ``N`` (the last event).
* ``cold``: a fresh ledger; ``seconds`` runs from ``KioskApp.start()`` to ready to serve
  (rules and a member snapshot applied), ``from_connect_s`` from the link's connection.

Memory: ``rss_after`` (now), ``rss_peak_sampled`` (highest of 50 ms samples while
working) and ``maxrss`` (the kernel's peak for the process, start-up included).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from pathlib import Path


def main() -> int:
    """Run the kiosk until its job is done, print the figures, stop."""
    import psutil

    from device.app import KioskApp
    from device.kiosk_cli import tune_gc
    from device.link import LinkSettings
    from device.settings import KioskSettings

    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("drain", "cold"), required=True)
    parser.add_argument("--ledger", type=Path, required=True)
    parser.add_argument("--kiosk", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--mqtt-port", type=int, required=True)
    parser.add_argument("--expect", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    settings = KioskSettings(
        kiosk_id=args.kiosk,
        store_id=args.store,
        ledger_path=args.ledger,
        dev_mode=True,
        log_level="WARNING",
        nfc={"path": None},
        link=LinkSettings(host="127.0.0.1", port=args.mqtt_port, reconnect_min_s=0.2),
        ui={"port": 0},
    )
    process = psutil.Process()
    peak = 0
    working = threading.Event()
    working.set()

    def sample() -> None:
        nonlocal peak
        while working.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.05)

    app = KioskApp(settings)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    app.start()
    tune_gc()  # as ``tapfleet kiosk`` does once started
    try:
        assert app.link is not None and app.ledger is not None
        if app.link.wait_for(lambda s: s.connected, 60) is None:
            raise RuntimeError("the kiosk link did not connect")
        connected = time.monotonic()
        if args.mode == "drain":
            state = app.link.wait_for(lambda s: s.acked_seq >= args.expect, args.timeout)
            if state is None:
                raise RuntimeError(f"not all acked: {app.link.state()}")
            done = time.monotonic()
            seconds = done - connected
        else:
            ledger = app.ledger
            deadline = time.monotonic() + args.timeout
            while not (ledger.rule_bundle() is not None and ledger.versions().members > 0):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not ready: {ledger.sync_status()}")
                time.sleep(0.01)
            done = time.monotonic()
            seconds = done - started
        working.clear()
        sampler.join()
        figures = {
            "seconds": seconds,
            "from_connect_s": done - connected,
            "rss_after": process.memory_info().rss,
            "rss_peak_sampled": peak,
            "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "status": app.ledger.sync_status().__dict__ | {"versions": None},
        }
    finally:
        app.stop()
    print(json.dumps(figures, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
