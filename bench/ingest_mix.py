"""Ingest with the realistic event mix: ``bench.ingest`` with the fleet swarm's mix.

Tapfleet: as ``bench.ingest`` (real coordinator, SQLite, 20 simulated kiosks publishing
EventBatches of 50, the clock stopped at the last Ack), but the events are the mix of
``simulators.swarm.Mix`` (70 % check-ins earning 10 points, 20 % class sign-ins paying a
session of the seeded members' punch pass, 10 % redemptions of 20 points) and every kiosk
follows all the topics a kiosk does, so the coordinator's member pushes are delivered.

Baseline: raw QoS 1 as in ``bench.ingest``, messages the mean size of a one-event batch of
the mix.
"""

from __future__ import annotations

from bench.common import emit, parse_args
from bench.ingest import run


def main() -> None:
    """Entry point."""
    args = parse_args(__doc__ or "ingest_mix")
    kiosks, per_kiosk = (2, 50) if args.quick else (20, 1000)
    emit(run(kiosks, per_kiosk, args.keep, mix=True))


if __name__ == "__main__":
    main()
