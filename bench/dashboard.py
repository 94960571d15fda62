"""Dashboard: the fleet API and pages with 1,000 kiosks and 1,000,000 events, under load.

Tapfleet: the real ``tapfleet coordinator`` process on a SQLite ledger seeded in bulk
(``bench.seed.seed_coordinator``: 100 stores, 1,000 kiosks each with a recent heartbeat,
an online status and 1,000 applied events, 10,000 members; the events are inserted
directly as rows of the ``events`` table, not sent through MQTT, which would take an hour
here). Each fleet endpoint the coordinator serves gets its own load phase: four clients, each on
its own keep-alive connection, request it back to back (25 times each, at most 60 s).
Endpoints: ``GET /api/v1/kiosks`` always, and the dashboard's fleet JSON routes and pages
found in its OpenAPI schema (``/api/v1/fleet...``, ``/dashboard...``; GET routes without
path parameters, event streams left out), pages with a dashboard session cookie. The
figure judged is the worst endpoint's p95.

Baseline: ``GET /healthz`` (the same server answering a trivial route that pings the
database) under the same four-client load, measured in its own phase first.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
import uuid
from collections.abc import Iterator

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
from bench.seed import card_uid, event_row, member_id, seed_coordinator
from simulators.services import CoordinatorProcess

NAME = "dashboard"
CLIENTS = 4
BASELINE = "/healthz"


def fleet(kiosks: int, stores: int) -> list[tuple[str, str]]:
    """(kiosk id, store id) of the fleet."""
    return [(f"k{i:04d}", f"s{i % stores:03d}") for i in range(kiosks)]


def health_rows(kiosks: list[tuple[str, str]], per_kiosk: int, now_ms: int) -> list[tuple]:  # type: ignore[type-arg]
    """A fresh heartbeat and an online status for every kiosk (rows of kiosk_health)."""
    from device.link.heartbeat import KioskHealth, build_heartbeat
    from device.ports import OutboxStats
    from shared.hlc import HLC
    from shared.protocol import Versions

    versions = Versions(rules=1, deny=0, members=1)
    rows = []
    for kiosk_id, store_id in kiosks:
        beat = build_heartbeat(
            kiosk_id=kiosk_id,
            store_id=store_id,
            now_ms=now_ms,
            hlc=HLC(now_ms, 0),
            interval_s=10,
            uptime_s=3600,
            stats=OutboxStats(per_kiosk, per_kiosk, 0, None),
            versions=versions,
            health=KioskHealth(last_good_tap_ms=now_ms - 60_000, taps_accepted=per_kiosk),
            disk_free_bytes=10 * 1024**3,
            clock_offset_ms=3,
        )
        rows.append(
            (
                kiosk_id,
                "online",
                now_ms - 3_600_000,
                now_ms - 3_600_000,
                beat.model_dump_json(),
                now_ms - 2_000,
                10,
                now_ms - 3_600_000,
                versions.model_dump_json(),
                per_kiosk,
                now_ms - 60_000,
            )
        )
    return rows


def events(
    kiosks: list[tuple[str, str]], per_kiosk: int, members: int, now_ms: int
) -> Iterator[tuple[object, ...]]:
    """``events`` rows: check-ins of random members, kiosk by kiosk, over the last 100 days."""
    from shared.events import CheckIn, CredentialKind, CredentialRef, Event

    template = Event(
        event_id=uuid.uuid4().hex,
        kiosk_id="k0",
        store_id="s0",
        seq=1,
        hlc_ms=now_ms,
        wall_ms=now_ms,
        member_id="m0",
        rules_version=1,
        credential=CredentialRef(kind=CredentialKind.CARD, uid=card_uid(0)),
        body=CheckIn(points=10, reward_day="2026-01-01"),
    )
    row = event_row(template, now_ms)
    body = json.loads(str(row[-1]))
    rng = random.Random(5)
    step = 100 * 86_400_000 // per_kiosk
    for kiosk_id, store_id in kiosks:
        for seq in range(1, per_kiosk + 1):
            n = rng.randrange(members)
            at = now_ms - (per_kiosk - seq) * step
            event_id = uuid.uuid4().hex
            body.update(
                event_id=event_id,
                kiosk_id=kiosk_id,
                store_id=store_id,
                seq=seq,
                hlc_ms=at,
                wall_ms=at,
                member_id=member_id(n),
                credential={"kind": "card", "uid": card_uid(n)},
            )
            yield (
                event_id,
                kiosk_id,
                seq,
                store_id,
                member_id(n),
                "checkin",
                at,
                0,
                at,
                at + 500,
                0,
                0,
                json.dumps(body, separators=(",", ":")),
            )


def endpoints(url: str, headers: dict[str, str]) -> list[str]:
    """Fleet GET routes (no path parameters) that answer 200 with the admin's token."""
    import httpx

    schema = httpx.get(f"{url}/openapi.json", timeout=60).json()
    found = ["/api/v1/kiosks"]
    for path, ops in sorted(schema.get("paths", {}).items()):
        if "get" not in ops or "{" in path or path in found:
            continue
        if path.startswith(("/api/v1/fleet", "/dashboard")):
            found.append(path)
    for page in ("/dashboard/fleet", "/dashboard/conflicts"):  # pages may be outside OpenAPI
        if page not in found:
            found.append(page)
    usable = []
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        for path in found:
            with client.stream("GET", path) as r:
                kind = r.headers.get("content-type", "")
                if r.status_code == 200 and "event-stream" not in kind:
                    r.read()
                    usable.append(path)
                else:
                    progress(NAME, f"not measured: GET {path} -> {r.status_code} {kind}")
    return usable


def login_headers(url: str, token: str) -> dict[str, str]:
    """Bearer token for the API plus the dashboard's session cookie for its pages.

    The cookie is sent as a plain header: it is ``Secure`` (HTTPS only) by default, and
    the benchmark talks plain HTTP on the loopback.
    """
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    r = httpx.post(
        f"{url}/dashboard/login",
        data={"username": "admin", "password": "admin", "next": "/dashboard/fleet"},
        timeout=60,
        follow_redirects=False,
    )
    cookie = r.cookies.get("tapfleet_session")
    if cookie:
        headers["Cookie"] = f"tapfleet_session={cookie}"
    else:
        progress(NAME, f"no dashboard session (login answered {r.status_code}); API only")
    return headers


def load(
    url: str, headers: dict[str, str], paths: list[str], rounds: int, cap_s: float
) -> dict[str, list[float]]:
    """One phase per path (the baseline first): ``CLIENTS`` threads, each requesting that
    path ``rounds`` times back to back (or until the phase's ``cap_s`` is used up).

    Separate phases keep one slow endpoint from inflating the others' figures."""
    import httpx

    times: dict[str, list[float]] = {p: [] for p in [BASELINE, *paths]}
    lock = threading.Lock()
    errors: list[str] = []

    def client_loop(path: str, deadline: float) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=300) as client:
            for _ in range(rounds):
                if time.monotonic() > deadline:
                    return
                t0 = time.perf_counter()
                response = client.get(path)
                elapsed = time.perf_counter() - t0
                if response.status_code != 200:
                    errors.append(f"{path}: {response.status_code}")
                    continue
                with lock:
                    times[path].append(elapsed)

    for path in times:
        deadline = time.monotonic() + cap_s
        threads = [
            threading.Thread(target=client_loop, args=(path, deadline)) for _ in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        progress(NAME, f"GET {path}: {len(times[path])} requests")
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, first: {errors[0]}")
    return times


def run(
    kiosks_n: int, per_kiosk: int, rounds: int, keep: bool, *, name: str = NAME, on_pg: bool = False
) -> Result:
    """Seed, start, discover, load (``on_pg``: the seeded ledger copied to a fresh
    PostgreSQL database, ``bench.pg``, and the coordinator on it)."""
    now = time.time_ns() // 1_000_000
    kiosks = fleet(kiosks_n, max(1, kiosks_n // 10))
    members = max(100, kiosks_n * 10)
    with work_dir(NAME, keep) as folder, running_broker(folder) as broker:
        db_path = folder / "coordinator.db"
        progress(NAME, f"seeding {kiosks_n:,} kiosks and {kiosks_n * per_kiosk:,} events")
        started = time.monotonic()
        seed_coordinator(
            db_path,
            stores=sorted({s for _, s in kiosks}),
            kiosks=kiosks,
            members=members,
            now_ms=now,
            events=events(kiosks, per_kiosk, members, now),
            applied_seq={k: per_kiosk for k, _ in kiosks},
            kiosk_health_rows=health_rows(kiosks, per_kiosk, now),
        )
        progress(NAME, f"seeded in {time.monotonic() - started:.0f} s; starting the coordinator")
        with contextlib.ExitStack() as stack:
            db_url = f"sqlite:///{db_path}"
            if on_pg:
                from bench.pg import copy_ledger, scratch_database

                db_url = stack.enter_context(scratch_database("fleet"))
                progress(name, f"copied {copy_ledger(db_path, db_url):,} rows to PostgreSQL")
            coordinator = CoordinatorProcess(
                folder, mqtt_port=broker.port, db_url=db_url, settings=BENCH_COORDINATOR
            )
            try:
                coordinator.start(timeout_s=300)
                headers = login_headers(coordinator.url, coordinator.token())
                paths = endpoints(coordinator.url, headers)
                progress(name, f"{CLIENTS} clients x {rounds} rounds over {', '.join(paths)}")
                times = load(coordinator.url, headers, paths, rounds, cap_s=60)
            finally:
                coordinator.stop()

    p95 = {p: percentile(v, 95) for p, v in times.items() if v}
    measured = [p for p in paths if p in p95]
    worst = max(measured, key=lambda p: p95[p])
    base = p95[BASELINE]
    shown = ", ".join(f"{p} {ms(p95[p])}" for p in measured)
    count = sum(len(times[p]) for p in measured)
    engine = "PostgreSQL" if on_pg else "SQLite"
    return Result(
        name=name,
        tapfleet=(
            f"worst p95 {ms(p95[worst])} ({worst}); p95 {shown} ({count} requests, {CLIENTS} "
            f"clients, {kiosks_n:,} kiosks, {kiosks_n * per_kiosk:,} events, {engine})"
        ),
        baseline=f"p95 {ms(base)} GET {BASELINE} under the same load ({CLIENTS} clients)",
        ratio=p95[worst] / base,
        target="p95 < 200 ms for every fleet endpoint",
        passed=p95[worst] < 0.200,
    )


def main() -> None:
    """Entry point."""
    args = parse_args(__doc__ or NAME)
    if args.quick:
        emit(run(kiosks_n=20, per_kiosk=50, rounds=2, keep=args.keep))
    else:
        emit(run(kiosks_n=1_000, per_kiosk=1_000, rounds=25, keep=args.keep))


if __name__ == "__main__":
    main()
