"""Run every benchmark, show progress, write the result lines to a file and print them.

    python bench/run_all.py                 # make bench: full sizes (about 15 minutes here)
    python bench/run_all.py --quick         # smoke run: small sizes, figures meaningless
    python bench/run_all.py --only qr,ingest
    python bench/run_all.py --scale         # make bench-scale: 10,000 kiosks, 10,000,000 events

Each benchmark runs as ``python -m bench.<name>`` in its own process from the repository
root; its progress (stderr) is shown as it goes and its stdout lines are collected (one,
or one per baseline for those in ``LINES``). ``--scale`` runs the fleet-scale set instead
(``make bench-scale``). The
results file (``bench/results-<date>.txt`` by default, gitignored) starts with the date,
the machine and the command. Exit status 1 if any benchmark crashed or printed no
well-formed line (a MISS is a result, not a failure).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = (
    "ingest",
    "ingest_mix",
    "tap_decision",
    "tap_e2e",
    "tap_e2e_online",
    "deny_e2e",
    "station_tap",
    "station_transport",
    "qr",
    "phone_code",
    "backlog_drain",
    "backlog_drain_mix",
    "cold_sync",
    "dashboard",
    "ingest_pg",
    "ingest_replicas",
    "webhooks",
    "automations",
)
SCALE_BENCHES = ("fleet_pg", "fleet_scale", "report_rollup")
"""``make bench-scale``: the runs at fleet scale (10,000 kiosks, 10,000,000 events), long on
this machine."""
LINES = {
    "ingest_pg": ("ingest_pg", "ingest_pg_raw_insert", "ingest_pg_broker"),
    "fleet_scale": ("fleet_scale_cost", "fleet_scale_reach", "fleet_scale_dashboard"),
    "cold_sync": ("cold_sync", "cold_sync_kiosk"),
}
"""Benchmarks that print more than one line (one per baseline), with the lines' names."""


def line_names(bench: str) -> tuple[str, ...]:
    """The names of the result lines ``bench`` prints, in order."""
    return LINES.get(bench, (bench,))


def main() -> int:
    """Run the selected benchmarks in order."""
    sys.path.insert(0, str(ROOT))
    from bench.common import LINE, machine

    parser = argparse.ArgumentParser(description="Run the Tapfleet benchmarks.")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--only", help="comma-separated benchmark names")
    parser.add_argument("--scale", action="store_true", help="the fleet-scale benchmarks")
    parser.add_argument("--out", type=Path, help="results file (default bench/results-<date>.txt)")
    args = parser.parse_args()
    names = list(SCALE_BENCHES if args.scale else BENCHES)
    if args.only:
        known = (*BENCHES, *SCALE_BENCHES)
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in known]
        if unknown:
            parser.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(known)}")
        names = wanted
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    out = args.out or ROOT / "bench" / f"results-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    info = machine()
    command = " ".join([Path(sys.executable).name, "bench/run_all.py", *sys.argv[1:]])
    header = [
        f"# date: {stamp}",
        f"# machine: nproc {info['nproc']}, {info['cpu']}, Python {info['python']}",
        f"# command: {command}",
    ]
    lines: list[str] = []
    failed = 0
    started = time.monotonic()
    for number, name in enumerate(names, 1):
        print(f"[run_all] ({number}/{len(names)}) {name} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        cmd = [sys.executable, "-m", f"bench.{name}"] + (["--quick"] if args.quick else [])
        proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
        matches = [m for m in map(LINE.match, proc.stdout.splitlines()) if m]
        found = [m.group(0) for m in matches]
        took = time.monotonic() - t0
        if proc.returncode != 0 or tuple(m.group("name") for m in matches) != line_names(name):
            failed += 1
            found = [f"{name}: FAILED (exit {proc.returncode}, {len(found)} result lines)"]
        lines.extend(found)
        shown = "\n".join(found)
        print(f"[run_all] {name} done in {took:.0f} s: {shown}", file=sys.stderr, flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join([*header, *lines]) + "\n", encoding="utf-8")
    total = time.monotonic() - started
    print(f"[run_all] {len(names)} benchmarks in {total:.0f} s; written to {out}", file=sys.stderr)
    print("\n".join([*header, *lines]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
