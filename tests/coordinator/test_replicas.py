"""Coordinator replicas on one database: housekeeping locks, shared login limits, and three
real coordinator processes on one PostgreSQL sharing the ingest through ``$share``.

The three-process test is the deployment the README describes: every replica subscribes in
one share group, HTTP requests are spread over the replicas (as a load balancer would), one
replica is SIGKILLed while kiosks are sending batches, and at the end every kiosk event is
stored exactly once, every member's central ledger equals the reference fold over the
stored events, and every replica's live fleet stream (SSE) shows every kiosk.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from coordinator import schema
from coordinator.db import Database, job_lock_key
from coordinator.errors import ApiError
from coordinator.ledger.housekeeping import JOB_POINTS_EXPIRY, JOBS, run_once
from coordinator.ledger.jsonrows import event_from_row, ledger_from_row
from coordinator.runtime import Coordinator
from coordinator.security.login_limit import FailureLimiter
from shared.events import Event
from shared.fold import fold_sorted
from shared.model import MemberLedger
from simulators.broker import Broker
from simulators.services import CoordinatorProcess
from simulators.waiting import poll_until
from tests.coordinator.conftest import make_settings
from tests.support.api import ApiCalls
from tests.support.databases import ledger_database, pg_reachable, pg_url
from tests.support.mini_kiosk import MiniKiosk

MEMBERS = [f"m{i}" for i in range(5)]
KIOSKS = {"k1": "s1", "k2": "s1", "k3": "s2"}


# -- housekeeping locks ------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_housekeeping_job_runs_on_one_replica_at_a_time(tmp_path: Path, broker: Broker) -> None:
    """While one replica's transaction holds a job's advisory lock, another replica skips
    that job (and runs the others); the lock goes with the transaction."""
    with ledger_database("postgres", tmp_path) as db:
        coord = Coordinator(
            make_settings(tmp_path, broker, database_url=str(db.url), mqtt_enabled=False),
            database=db,
        )
        db.migrate()
        coord.bootstrap()
        other = Database(str(db.url), schema_name=db.schema_name)
        try:
            now = coord.clock.wall_ms()
            with other.write() as holder:
                assert other.try_job_lock(holder, JOB_POINTS_EXPIRY)
                report = run_once(db, coord.recorder, coord.rules, now, "")
                assert report.skipped == [JOB_POINTS_EXPIRY]
            # Committed: the lock is gone with the transaction (no session lock lingers).
            report = run_once(db, coord.recorder, coord.rules, now, "")
            assert report.skipped == []
        finally:
            other.dispose()


def test_job_lock_keys_differ_by_job_and_schema() -> None:
    """Coordinators on other schemas of one server never block each other's jobs."""
    keys = {job_lock_key(job, s) for job in JOBS for s in (None, "tf_a", "tf_b")}
    assert len(keys) == len(JOBS) * 3
    assert all(-(2**63) <= k < 2**63 for k in keys)


# -- login limits --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_failed_logins_count_across_replicas(tmp_path: Path, kind: str) -> None:
    """Failures recorded by one replica block the next attempt on another; a success on
    any replica clears the user's count; the window lets the user in again."""
    with ledger_database(kind, tmp_path) as db:
        db.migrate()
        second = Database(str(db.url), schema_name=db.schema_name)
        try:
            limits = {"max_failures": 3, "max_per_address": 10, "window_ms": 60_000}
            a = FailureLimiter(db, scope="login", **limits)  # type: ignore[arg-type]
            b = FailureLimiter(second, scope="login", **limits)  # type: ignore[arg-type]
            enroll = FailureLimiter(second, scope="enroll", **limits)  # type: ignore[arg-type]
            t = 1_000_000
            for i in range(3):
                b.check("alice", "10.0.0.1", t + i)
                (a if i % 2 else b).failed("alice", "10.0.0.1", t + i)
            with pytest.raises(ApiError) as refused:
                a.check("Alice ", "10.0.0.1", t + 10)
            assert refused.value.status == 429
            assert refused.value.headers == {"Retry-After": "60"}
            b.check("bob", "10.0.0.1", t + 10)  # another user from that address: fine
            a.check("alice", "10.0.0.2", t + 10)  # the same user elsewhere: fine
            enroll.check(None, "10.0.0.1", t + 10)  # another limiter's scope: fine
            b.check("alice", "10.0.0.1", t + 60_000)  # the first failure left the window
            a.succeeded("alice", "10.0.0.1")
            b.check("alice", "10.0.0.1", t + 10)
        finally:
            second.dispose()


# -- three real replicas on one PostgreSQL -----------------------------------------------------


class _Spread(ApiCalls):
    """API calls spread round-robin over the replicas, as a load balancer would."""

    expect_by_default = None

    def __init__(self, replicas: list[CoordinatorProcess]):
        self.replicas = replicas
        self.clients = [httpx.Client(base_url=r.url, timeout=30) for r in replicas]
        self._next = itertools.cycle(range(len(replicas)))
        self.admin = {"Authorization": f"Bearer {replicas[0].token()}"}

    @property
    def api_client(self) -> httpx.Client:
        """The next live replica's client."""
        for _ in self.replicas:
            i = next(self._next)
            if self.replicas[i].running:
                return self.clients[i]
        raise AssertionError("no replica is running")

    def close(self) -> None:
        """Close the HTTP clients."""
        for client in self.clients:
            client.close()


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    """(url, schema) of a fresh PostgreSQL schema for coordinator processes; dropped after."""
    url = pg_url()
    if not url or not pg_reachable(url):
        pytest.skip(f"no PostgreSQL server at {url!r}")
    name = f"tf_rep_{uuid.uuid4().hex[:10]}"
    try:
        yield url, name
    finally:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        engine.dispose()


def _replicas(tmp_path: Path, broker: Broker, url: str, name: str) -> list[CoordinatorProcess]:
    return [
        CoordinatorProcess(
            tmp_path / f"replica{i}",
            mqtt_port=broker.port,
            db_url=url,
            settings={
                "database_schema": name,
                "mqtt_share_group": "coordinators",
                "mqtt_client_id": f"replica{i}-{uuid.uuid4().hex[:6]}",
                "member_push_interval_ms": 50,
                "login_max_failures": 3,
            },
        )
        for i in range(3)
    ]


def _stored(engine: sa.Engine, **where: str) -> list[Event]:
    ev = schema.events
    query = sa.select(ev.c.body).where(ev.c.quarantined.is_(False))
    for column, value in where.items():
        query = query.where(ev.c[column] == value)
    with engine.connect() as conn:
        return sorted(
            (event_from_row(b) for b in conn.execute(query).scalars()), key=Event.sort_key
        )


def _first_fleet_event(replica: CoordinatorProcess) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {replica.token()}"}
    with httpx.stream(
        "GET", f"{replica.url}/api/v1/fleet/stream", headers=headers, timeout=30
    ) as answer:
        assert answer.status_code == 200
        for line in answer.iter_lines():
            if line.startswith("data: "):
                return dict(json.loads(line[len("data: ") :]))
    raise AssertionError("the stream ended without a fleet event")


@pytest.mark.postgres
@pytest.mark.slow
def test_three_replicas_share_the_ingest_and_survive_a_kill(
    tmp_path: Path, broker: Broker, pg_schema: tuple[str, str]
) -> None:
    url, name = pg_schema
    replicas = _replicas(tmp_path, broker, url, name)
    kiosks: list[MiniKiosk] = []
    api: _Spread | None = None
    engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={name}"})
    try:
        for replica in replicas:  # one by one: the first migrates the schema
            replica.start()
        api = _Spread(replicas)
        for store in ("s1", "s2"):
            api.call("POST", "/api/v1/stores", json={"store_id": store, "name": store}, expect=201)
        api.call(
            "POST",
            "/api/v1/rule-bundles/"
            + str(
                api.call(
                    "POST",
                    "/api/v1/rule-bundles",
                    json={
                        "rules": {
                            "double_tap_window_s": 0,
                            "checkin_reward_once_per_day": False,
                            "points_per_checkin": 10,
                        }
                    },
                    expect=201,
                )["bundle_id"]
            )
            + "/publish",
            json={},
            expect=200,
        )
        for member in MEMBERS:
            api.call(
                "POST",
                "/api/v1/members",
                json={"member_id": member, "display_name": member},
                expect=201,
            )
        for kiosk_id, store in KIOSKS.items():
            api.call(
                "POST",
                "/api/v1/kiosks",
                json={"kiosk_id": kiosk_id, "store_id": store},
                expect=201,
            )
            kiosk = MiniKiosk(kiosk_id, store, broker.host, broker.port, batch_size=4)
            kiosks.append(kiosk)
            kiosk.connect()
        for kiosk in kiosks:
            assert kiosk.wait_for(
                lambda k=kiosk: k.bundle is not None and all(k.ledger(m) for m in MEMBERS)
            ), f"{kiosk.kiosk_id} did not receive its rules and members"

        # Login limits hold across replicas: 3 failures spread over them, then 429 anywhere.
        for _ in range(3):
            answer = api.api_client.post(
                "/api/v1/auth/token", data={"username": "guesser", "password": "wrong"}
            )
            assert answer.status_code == 401
        for client in api.clients:
            answer = client.post(
                "/api/v1/auth/token", data={"username": "guesser", "password": "wrong"}
            )
            assert answer.status_code == 429, answer.text

        # Taps on every kiosk; replica 1 is killed while batches are in flight.
        for step in range(60):
            for kiosk in kiosks:
                kiosk.tap(MEMBERS[(step + len(kiosk.journal)) % len(MEMBERS)])
            if step == 25:
                replicas[1].kill()
        for kiosk in kiosks:
            assert poll_until(lambda k=kiosk: k.flush() >= 0 and k.wait_acked(0.5), 60), (
                f"{kiosk.kiosk_id}: acked {kiosk.acked_seq} of {len(kiosk.journal)}"
            )
        # The killed replica comes back and gets whatever its session still held: no-ops.
        replicas[1].start()
        for kiosk in kiosks:
            kiosk.flush()
            assert kiosk.wait_acked(30)

        for kiosk in kiosks:
            stored = sorted(_stored(engine, source=kiosk.kiosk_id), key=lambda e: e.seq)
            assert [e.event_id for e in stored] == [e.event_id for e in kiosk.journal], (
                f"{kiosk.kiosk_id}: stored events differ from the journal"
            )
        with engine.connect() as conn:
            for member in MEMBERS:
                central = ledger_from_row(
                    conn.execute(
                        sa.select(schema.member_states.c.ledger).where(
                            schema.member_states.c.member_id == member
                        )
                    ).scalar_one()
                )
                reference, _ = fold_sorted(MemberLedger(), _stored(engine, member_id=member))
                assert central == reference, f"{member}: central != reference fold"

        # Every replica took part in the ingest.
        for replica in (replicas[0], replicas[2]):
            metrics = httpx.get(f"{replica.url}/metrics", timeout=10).text
            applied = [
                float(line.split()[1])
                for line in metrics.splitlines()
                if line.startswith("tapfleet_events_applied_total")
            ]
            assert applied and applied[0] > 0, f"{replica.url} applied no events"

        # The live view works whichever replica the browser reaches.
        deadline = time.monotonic() + 30
        for replica in replicas:
            while True:
                snap = _first_fleet_event(replica)
                seen = {k["kiosk_id"] for k in snap.get("kiosks", [])}
                if seen >= set(KIOSKS) or time.monotonic() > deadline:
                    break
            assert seen >= set(KIOSKS), f"{replica.url} streams {sorted(seen)}"
    finally:
        for kiosk in kiosks:
            kiosk.close()
        if api is not None:
            api.close()
        for replica in replicas:
            replica.stop()
        engine.dispose()
