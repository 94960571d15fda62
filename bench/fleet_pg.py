"""The fleet API on PostgreSQL with 10,000 kiosks.

Tapfleet and baseline as in the ``dashboard`` benchmark (every fleet GET route and page
under four keep-alive clients, one phase per endpoint; baseline ``GET /healthz`` under the
same load), with the seeded ledger copied to a fresh PostgreSQL database of the machine's
server (``bench.pg``) and the coordinator running on it: 10,000 kiosks in 1,000 stores,
each with a fresh heartbeat, an online status and 100 applied events (1,000,000 events),
100,000 members. Target: p95 < 200 ms for every fleet endpoint.
"""

from __future__ import annotations

from bench.common import emit, parse_args
from bench.dashboard import run

NAME = "fleet_pg"


def main() -> None:
    """Entry point."""
    args = parse_args(__doc__ or NAME)
    if args.quick:
        emit(run(kiosks_n=20, per_kiosk=20, rounds=2, keep=args.keep, name=NAME, on_pg=True))
    else:
        emit(run(kiosks_n=10_000, per_kiosk=100, rounds=25, keep=args.keep, name=NAME, on_pg=True))


if __name__ == "__main__":
    main()
