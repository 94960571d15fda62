"""Backlog drain with the realistic event mix: ``bench.backlog_drain`` with the swarm's mix.

Tapfleet: as ``bench.backlog_drain`` (a real kiosk process reconnecting with 50,000
unacknowledged events, the real coordinator, a private Mosquitto; timed from the link's
connection to the Ack of the last seq), the backlog written with the bodies of
``simulators.swarm.Mix`` (70 % check-ins earning points, 20 % class sign-ins paying a
session of the seeded punch pass, 10 % points redemptions) instead of check-ins only. The
kiosk follows its pushes, as every kiosk does. Baselines as ``bench.backlog_drain``, from
the same run: the same events raw at QoS 1, one message each (judged) and as its batches.
"""

from __future__ import annotations

from bench.backlog_drain import run
from bench.common import emit, parse_args


def main() -> None:
    """Entry point."""
    args = parse_args(__doc__ or "backlog_drain_mix")
    emit(run((500, 2_000) if args.quick else (10_000, 50_000), args.keep, mix=True))


if __name__ == "__main__":
    main()
