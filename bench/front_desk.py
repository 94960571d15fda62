"""Front desk: member search and the member page with many members and events, under load.

Tapfleet: the real ``tapfleet coordinator`` process on a SQLite ledger seeded in bulk like
the dashboard benchmark's (``bench.seed.seed_coordinator``: kiosks with their events as rows
of ``events``, members each with a card and a folded ledger). Each page gets its own load
phase (four clients on keep-alive connections, back to back, with the dashboard session):
``/dashboard/members`` searching by a member-id fragment, by a card UID, by a name every
member shares (the first page fills at once) and by a name nobody has (the whole table is
read: the worst case), and ``/dashboard/members/<id>`` (profile, passes, points, coupons,
the timeline of the member's events, and the audited view).

Baseline: ``GET /healthz`` under the same four-client load, in its own phase first.
Target (issue 13): every page's p95 <= 10x the baseline's p95.
"""

from __future__ import annotations

import time

from bench.common import (
    BENCH_COORDINATOR,
    Result,
    emit,
    ms,
    parse_args,
    percentile,
    progress,
    running_broker,
    work_dir,
)
from bench.dashboard import BASELINE, CLIENTS, events, fleet, load, login_headers
from bench.seed import card_uid, member_id, seed_coordinator
from simulators.services import CoordinatorProcess

NAME = "front_desk"
TARGET_RATIO = 10.0


def pages(members: int) -> list[str]:
    """The pages measured (the member numbers are spread over the table)."""
    some = members // 3
    return [
        f"/dashboard/members?q={member_id(some)[:-2]}",
        f"/dashboard/members?q={card_uid(some)}",
        "/dashboard/members?q=%E6%9D%8E",  # 李: every seeded member's display name
        "/dashboard/members?q=nobody-has-this-name",
        f"/dashboard/members/{member_id(some)}",
    ]


def run(members: int, kiosks_n: int, per_kiosk: int, rounds: int, keep: bool) -> Result:
    """Seed, start, log in, load."""
    now = time.time_ns() // 1_000_000
    kiosks = fleet(kiosks_n, max(1, kiosks_n // 10))
    with work_dir(NAME, keep) as folder, running_broker(folder) as broker:
        db_path = folder / "coordinator.db"
        progress(NAME, f"seeding {members:,} members and {kiosks_n * per_kiosk:,} events")
        seed_coordinator(
            db_path,
            stores=sorted({s for _, s in kiosks}),
            kiosks=kiosks,
            members=members,
            now_ms=now,
            events=events(kiosks, per_kiosk, members, now),
            applied_seq={k: per_kiosk for k, _ in kiosks},
        )
        coordinator = CoordinatorProcess(
            folder, mqtt_port=broker.port, db_url=f"sqlite:///{db_path}", settings=BENCH_COORDINATOR
        )
        try:
            coordinator.start(timeout_s=120)
            headers = login_headers(coordinator.url, coordinator.token())
            paths = pages(members)
            times = load(coordinator.url, headers, paths, rounds, cap_s=60)
        finally:
            coordinator.stop()
    p95 = {p: percentile(v, 95) for p, v in times.items() if v}
    worst = max(paths, key=lambda p: p95[p])
    base = p95[BASELINE]
    shown = ", ".join(f"{p} {ms(p95[p])}" for p in paths)
    return Result(
        name=NAME,
        tapfleet=(
            f"worst p95 {ms(p95[worst])} ({worst}); p95 {shown} ({CLIENTS} clients, "
            f"{members:,} members, {kiosks_n * per_kiosk:,} events)"
        ),
        baseline=f"p95 {ms(base)} GET {BASELINE} under the same load ({CLIENTS} clients)",
        ratio=p95[worst] / base,
        target=f"every page's p95 <= {TARGET_RATIO:.0f}x the baseline's",
        passed=p95[worst] <= TARGET_RATIO * base,
    )


def main() -> None:
    """Entry point: ``--quick`` for a smoke run; the issue's size otherwise."""
    args = parse_args(__doc__ or NAME)
    if args.quick:
        emit(run(members=1_000, kiosks_n=10, per_kiosk=100, rounds=2, keep=args.keep))
    else:
        emit(run(members=100_000, kiosks_n=1_000, per_kiosk=1_000, rounds=25, keep=args.keep))


if __name__ == "__main__":
    main()
