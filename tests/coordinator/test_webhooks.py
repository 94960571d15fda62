"""Webhook delivery (Standard Webhooks 1.0) against a real HTTP receiver the test starts:
it fails, hangs, recovers; every message arrives at least once with a valid signature and
the delivery log says what happened, attempt by attempt."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from coordinator import schema
from coordinator.db import Database
from coordinator.outbound import notify, webhooks
from coordinator.outbound.delivery import WebhookDispatcher
from coordinator.outbound.settings import WebhookSettings
from coordinator.outbound.targets import TargetRefused, check_target
from shared.webhook_signature import (
    WebhookVerificationError,
    new_secret,
    sign_headers,
    signature,
    verify,
)
from simulators.broker import Broker
from simulators.waiting import poll_until
from simulators.webhook_receiver import WebhookReceiver
from tests.coordinator.conftest import running_harness

T0 = 1_795_000_000_000
DAY_MS = 86_400_000


class FakeClock:
    """A clock the test moves."""

    def __init__(self, now: int = T0):
        self.now = now

    def wall_ms(self) -> int:
        return self.now

    def seconds(self) -> int:
        return self.now // 1000


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    database.migrate()
    yield database


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def receiver(clock: FakeClock) -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(new_secret(), now_s=clock.seconds, slow_s=1.5).start()
    yield r
    r.stop()


def add_endpoint(
    db: Database,
    url: str,
    secrets: list[str],
    *,
    store_id: str | None = None,
    event_types: list[str] | None = None,
    now_ms: int = T0,
) -> str:
    endpoint_id = "ep_" + webhooks.new_token()[:24]
    with db.write() as conn:
        conn.execute(
            sa.insert(schema.webhook_endpoints).values(
                endpoint_id=endpoint_id,
                url=url,
                store_id=store_id,
                event_types=json.dumps(event_types or []),
                secrets=webhooks.dump_secrets(webhooks.Secret(s) for s in secrets),
                description="",
                enabled=True,
                disabled_reason="",
                failing_since_ms=None,
                created_ms=now_ms,
                updated_ms=now_ms,
            )
        )
    return endpoint_id


def dispatcher(db: Database, clock: FakeClock, **settings: Any) -> WebhookDispatcher:
    values: dict[str, Any] = {"timeout_s": 0.5, "connect_timeout_s": 0.5, "batch_size": 50}
    values.update(settings)
    return WebhookDispatcher(
        db,
        WebhookSettings(**values),
        allow_private=True,
        wall_ms=clock.wall_ms,
        rng=random.Random(7),
    )


def enqueue(db: Database, n: int, now_ms: int, kind: str = "birthday") -> list[str]:
    ids = []
    with db.write() as conn:
        for i in range(n):
            nid = notify.enqueue(
                conn,
                kind=kind,
                dedupe_key=f"{kind}:{i}:{now_ms}",
                payload={"member": f"m{i}", "greeting": "生日快乐"},
                now_ms=now_ms,
                member_id=f"m{i}",
                store_id="s1",
            )
            ids.append(f"msg_{nid}")
    return ids


def deliveries(db: Database) -> dict[str, Any]:
    d = schema.webhook_deliveries
    with db.read() as conn:
        return {r.message_id: r for r in conn.execute(sa.select(d))}


def attempt_log(db: Database) -> dict[int, list[tuple[str, int | None]]]:
    a = schema.webhook_attempts
    out: dict[int, list[tuple[str, int | None]]] = {}
    with db.read() as conn:
        for r in conn.execute(sa.select(a).order_by(a.c.delivery_id, a.c.attempt_no)):
            out.setdefault(r.delivery_id, []).append((r.outcome, r.status_code))
    return out


def advance_to_next_attempt(db: Database, clock: FakeClock) -> None:
    d = schema.webhook_deliveries
    with db.read() as conn:
        due = conn.execute(
            sa.select(sa.func.max(d.c.next_attempt_ms)).where(d.c.status == webhooks.PENDING)
        ).scalar()
    assert due is not None
    clock.now = max(clock.now, int(due))


# -- the signature --------------------------------------------------------------------------


def test_the_signature_is_the_specs_and_rotation_signs_with_both_secrets() -> None:
    # The Standard Webhooks reference vector (svix's test suite).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert (
        signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )
    old, new = new_secret(), new_secret()
    headers = sign_headers([old, new], "msg_1", 1000, b"{}")
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verify(old, headers, b"{}", 1000) == verify(new, headers, b"{}", 1010) == "msg_1"
    with pytest.raises(WebhookVerificationError, match="no signature"):
        verify(new_secret(), headers, b"{}", 1000)
    with pytest.raises(WebhookVerificationError, match="no signature"):
        verify(old, headers, b"{ }", 1000)  # the raw body, byte for byte
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(old, headers, b"{}", 1000 + 301)


# -- delivery against a receiver that fails, hangs and recovers -----------------------------


def test_every_message_arrives_signed_through_failures_and_timeouts(
    db: Database, clock: FakeClock, receiver: WebhookReceiver
) -> None:
    add_endpoint(db, receiver.url, receiver.secrets)
    ids = enqueue(db, 6, clock.now)
    sender = dispatcher(db, clock)

    receiver.mode = "fail"
    assert sender.run_once() == 6
    assert receiver.valid_ids() == set(ids)  # they arrived, but the receiver said 500
    assert sender.run_once() == 0  # nothing is due before its retry time

    advance_to_next_attempt(db, clock)
    receiver.mode = "slow"  # answers after 1.5 s; the sender gives up after 0.5 s
    assert sender.run_once() == 6

    advance_to_next_attempt(db, clock)
    receiver.mode = "ok"
    assert sender.run_once() == 6

    rows = deliveries(db)
    assert {m: r.status for m, r in rows.items()} == dict.fromkeys(ids, "delivered")
    log = attempt_log(db)
    for message_id in ids:
        assert log[rows[message_id].id] == [("http_error", 500), ("timeout", None), ("ok", 204)]
        assert rows[message_id].attempts == 3
    assert all(r.valid for r in receiver.received), [r.problem for r in receiver.received]
    assert {r.mode for r in receiver.received if r.message_id == ids[0]} == {"fail", "slow", "ok"}
    assert receiver.received[0].event_type == "notification.birthday"
    assert receiver.received[0].data["payload"]["greeting"] == "生日快乐"


def test_a_delivery_survives_a_replica_dying_mid_batch(
    db: Database, clock: FakeClock, receiver: WebhookReceiver
) -> None:
    add_endpoint(db, receiver.url, receiver.secrets)
    ids = enqueue(db, 3, clock.now)
    with db.write() as conn:  # a replica took the batch, then died before recording
        taken = webhooks.take_due(conn, now_ms=clock.now, limit=10, lease_ms=60_000, token="dead")
    assert len(taken) == 3
    sender = dispatcher(db, clock)
    assert sender.run_once() == 0  # leased to the dead replica
    clock.now += 60_000
    assert sender.run_once() == 3
    assert receiver.valid_ids() == set(ids)
    assert {r.status for r in deliveries(db).values()} == {"delivered"}


def test_two_replicas_never_send_a_message_twice(
    db: Database, clock: FakeClock, receiver: WebhookReceiver
) -> None:
    add_endpoint(db, receiver.url, receiver.secrets)
    ids = enqueue(db, 60, clock.now)
    replicas = [dispatcher(db, clock, batch_size=5) for _ in range(2)]
    counts = [0, 0]

    def drain(i: int) -> None:
        while (n := replicas[i].run_once()) > 0:
            counts[i] += n

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    got = [r.message_id for r in receiver.received]
    assert sorted(got) == sorted(ids)  # each exactly once
    assert sum(counts) == 60
    assert {r.status for r in deliveries(db).values()} == {"delivered"}


def test_a_410_disables_the_endpoint_and_others_carry_on(
    db: Database, clock: FakeClock, receiver: WebhookReceiver
) -> None:
    other = WebhookReceiver(new_secret(), now_s=clock.seconds).start()
    try:
        gone = add_endpoint(db, receiver.url, receiver.secrets)
        add_endpoint(db, other.url, other.secrets)
        receiver.mode = "gone"
        ids = enqueue(db, 2, clock.now)
        sender = dispatcher(db, clock)
        assert sender.run_once() == 4
        with db.read() as conn:
            row = conn.execute(
                sa.select(schema.webhook_endpoints).where(
                    schema.webhook_endpoints.c.endpoint_id == gone
                )
            ).one()
        assert not row.enabled and "410" in row.disabled_reason
        assert other.valid_ids() == set(ids)
        clock.now += 30 * DAY_MS
        assert sender.run_once() == 0  # nothing goes to a disabled endpoint
        # New messages are not even queued for it.
        enqueue(db, 1, clock.now, kind="points_expiring")
        d = schema.webhook_deliveries
        with db.read() as conn:
            assert (
                conn.execute(
                    sa.select(sa.func.count()).select_from(d).where(d.c.endpoint_id == gone)
                ).scalar()
                == 2
            )
    finally:
        other.stop()


def test_redirects_are_not_followed_and_a_huge_answer_is_read_bounded(
    db: Database, clock: FakeClock, receiver: WebhookReceiver
) -> None:
    add_endpoint(db, receiver.url, receiver.secrets)
    (first,) = enqueue(db, 1, clock.now)
    sender = dispatcher(db, clock, max_response_bytes=1000)
    receiver.mode = "redirect"
    assert sender.run_once() == 1
    assert len(receiver.received) == 1  # the redirect's target was never asked
    advance_to_next_attempt(db, clock)
    receiver.mode = "huge"
    assert sender.run_once() == 1
    delivery = deliveries(db)[first]
    a = schema.webhook_attempts
    with db.read() as conn:
        rows = list(conn.execute(sa.select(a).where(a.c.delivery_id == delivery.id)))
    assert [(r.outcome, r.status_code) for r in rows] == [("http_error", 302), ("ok", 200)]
    assert "not followed" in rows[0].detail and "169.254.169.254" in rows[0].detail
    assert len(rows[1].detail) <= 500
    assert delivery.status == "delivered"


def test_retries_back_off_for_about_three_days_then_the_delivery_fails(
    db: Database, clock: FakeClock, receiver: WebhookReceiver
) -> None:
    add_endpoint(db, receiver.url, receiver.secrets)
    (message,) = enqueue(db, 1, clock.now)
    receiver.mode = "fail"
    sender = dispatcher(db, clock)
    gaps = []
    while deliveries(db)[message].status == "pending":
        before = clock.now
        assert sender.run_once() == 1
        if deliveries(db)[message].status == "pending":
            advance_to_next_attempt(db, clock)
            gaps.append(clock.now - before)
    row = deliveries(db)[message]
    assert row.status == "failed"
    assert 2 * DAY_MS <= clock.now - T0 <= 3 * DAY_MS
    assert gaps[0] < 10_000 and max(gaps) <= 36_000_000  # from seconds to the 10 h cap
    assert gaps[-1] > 100 * gaps[0]
    assert len(attempt_log(db)[row.id]) == row.attempts == len(receiver.received)


def test_an_endpoint_failing_for_days_is_disabled(
    db: Database, clock: FakeClock, receiver: WebhookReceiver
) -> None:
    endpoint = add_endpoint(db, receiver.url, receiver.secrets)
    receiver.mode = "fail"
    sender = dispatcher(db, clock, disable_after_failing_s=DAY_MS // 1000)
    for _ in range(6):  # a new message every 6 hours, every attempt fails
        enqueue(db, 1, clock.now)
        sender.run_once()
        clock.now += DAY_MS // 4
    e = schema.webhook_endpoints
    with db.read() as conn:
        row = conn.execute(sa.select(e).where(e.c.endpoint_id == endpoint)).one()
    assert not row.enabled and "failed for" in row.disabled_reason


def test_a_manual_resend_sends_the_same_message_again(
    db: Database, clock: FakeClock, receiver: WebhookReceiver
) -> None:
    add_endpoint(db, receiver.url, receiver.secrets)
    (message,) = enqueue(db, 1, clock.now)
    sender = dispatcher(db, clock)
    sender.run_once()
    row = deliveries(db)[message]
    with db.write() as conn:
        assert webhooks.resend(conn, row.id, clock.now)
        assert not webhooks.resend(conn, 10**9, clock.now)
    sender.run_once()
    assert [r.message_id for r in receiver.received] == [message, message]
    assert attempt_log(db)[row.id] == [("ok", 204), ("ok", 204)]


def test_store_endpoints_get_their_stores_messages_and_subscriptions_filter(
    db: Database, clock: FakeClock, receiver: WebhookReceiver
) -> None:
    add_endpoint(db, receiver.url, receiver.secrets, store_id="s1", event_types=["notification.*"])
    add_endpoint(db, receiver.url, receiver.secrets, store_id="s2")
    add_endpoint(db, receiver.url, receiver.secrets, event_types=["notification.waitlist_seat"])
    with db.write() as conn:
        added = webhooks.publish(
            conn,
            event_type="notification.birthday",
            message_id="m1",
            data={},
            store_id="s1",
            now_ms=clock.now,
        )
        again = webhooks.publish(
            conn,
            event_type="notification.birthday",
            message_id="m1",
            data={},
            store_id="s1",
            now_ms=clock.now,
        )
        seat = webhooks.publish(
            conn,
            event_type="notification.waitlist_seat",
            message_id="m2",
            data={},
            store_id=None,
            now_ms=clock.now,
        )
    assert (added, again, seat) == (1, 0, 1)


# -- the SSRF guard -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/x", "webhook_url_scheme"),
        ("file:///etc/passwd", "webhook_url_scheme"),
        ("http://127.0.0.1:8080/x", "webhook_url_private"),
        ("http://localhost/x", "webhook_url_private"),
        ("http://10.1.2.3/x", "webhook_url_private"),
        ("http://192.168.1.10/x", "webhook_url_private"),
        ("http://169.254.169.254/latest/meta-data", "webhook_url_private"),
        ("http://[::1]/x", "webhook_url_private"),
        ("http://[::ffff:127.0.0.1]/x", "webhook_url_private"),
        ("http://0.0.0.0/x", "webhook_url_private"),
        ("http://user:pw@93.184.216.34/x", "webhook_url_invalid"),
        ("http:///x", "webhook_url_invalid"),
    ],
)
def test_private_and_odd_urls_are_refused(url: str, code: str) -> None:
    with pytest.raises(TargetRefused) as info:
        check_target(url, allow_private=False)
    assert info.value.code == code


def test_public_addresses_pass_and_dev_mode_allows_loopback() -> None:
    check_target("https://93.184.216.34/hook", allow_private=False)
    check_target("http://127.0.0.1:9/x", allow_private=True)
    with pytest.raises(TargetRefused):
        check_target("gopher://127.0.0.1/x", allow_private=True)


def test_the_sender_refuses_a_private_target_at_send_time(
    db: Database, clock: FakeClock, receiver: WebhookReceiver
) -> None:
    add_endpoint(db, receiver.url, receiver.secrets)
    enqueue(db, 1, clock.now)
    sender = WebhookDispatcher(db, WebhookSettings(), allow_private=False, wall_ms=clock.wall_ms)
    assert sender.run_once() == 1
    assert receiver.received == []
    assert list(attempt_log(db).values()) == [[("refused_target", None)]]


# -- the API --------------------------------------------------------------------------------


def test_the_api_registers_rotates_lists_and_resends(tmp_path: Path, broker: Broker) -> None:
    with running_harness(tmp_path, broker) as h:
        receiver = WebhookReceiver(now_s=lambda: h.coord.clock.wall_ms() // 1000).start()
        try:
            bad = h.call(
                "POST", "/api/v1/webhooks/endpoints", json={"url": "ftp://x.example/"}, expect=422
            )
            assert bad["error"]["code"] == "webhook_url_scheme"
            bad = h.call(
                "POST",
                "/api/v1/webhooks/endpoints",
                json={"url": receiver.url, "event_types": ["Not A Type"]},
                expect=422,
            )
            assert bad["error"]["field"] == "event_types.0"
            created = h.call(
                "POST",
                "/api/v1/webhooks/endpoints",
                json={"url": receiver.url, "event_types": ["notification.*"]},
                expect=201,
            )
            endpoint_id = created["endpoint"]["endpoint_id"]
            with h.coord.db.read() as conn:  # sealed at rest: a database dump cannot sign
                stored = conn.execute(sa.select(schema.webhook_endpoints.c.secrets)).scalar_one()
            assert created["secret"] not in stored
            assert created["secret"].removeprefix("whsec_") not in stored
            rotated = h.call(
                "POST",
                f"/api/v1/webhooks/endpoints/{endpoint_id}/rotate",
                json={"grace_s": 3600},
                expect=200,
            )
            assert rotated["endpoint"]["live_secrets"] == 2
            receiver.secrets = [created["secret"]]  # a receiver not yet switched over
            with h.coord.db.write() as conn:
                notify.enqueue(
                    conn,
                    kind="birthday",
                    dedupe_key="b:1",
                    payload={"n": 1},
                    now_ms=h.coord.clock.wall_ms(),
                    member_id="m1",
                )
            h.coord.webhooks.wake()
            assert poll_until(lambda: len(receiver.received) >= 1)
            assert receiver.received[0].valid
            listed = h.call(
                "GET", f"/api/v1/webhooks/endpoints/{endpoint_id}/deliveries", expect=200
            )
            delivery_id = listed[0]["delivery_id"]
            assert poll_until(
                lambda: (
                    h.call("GET", f"/api/v1/webhooks/deliveries/{delivery_id}", expect=200)[
                        "status"
                    ]
                    == "delivered"
                )
            )
            receiver.secrets = [rotated["secret"]]  # switched: the new secret verifies too
            h.call("POST", f"/api/v1/webhooks/deliveries/{delivery_id}/resend", expect=200)
            assert poll_until(lambda: len(receiver.received) >= 2)
            assert receiver.received[1].valid
            detail = h.call("GET", f"/api/v1/webhooks/deliveries/{delivery_id}", expect=200)
            assert detail["attempt_log"][0]["outcome"] == "ok"
            off = h.call(
                "PATCH",
                f"/api/v1/webhooks/endpoints/{endpoint_id}",
                json={"enabled": False},
                expect=200,
            )
            assert off["enabled"] is False and off["disabled_reason"]
            h.call("GET", "/api/v1/webhooks/endpoints/ep_nope", expect=404)
        finally:
            receiver.stop()


def test_endpoints_are_sent_to_side_by_side_and_each_is_recorded(
    db: Database, clock: FakeClock, receiver: WebhookReceiver
) -> None:
    fast = WebhookReceiver(new_secret(), now_s=clock.seconds).start()
    try:
        slow_ep = add_endpoint(db, receiver.url, receiver.secrets)
        fast_ep = add_endpoint(db, fast.url, fast.secrets)
        receiver.mode = "slow"  # hangs past the sender's timeout
        ids = enqueue(db, 3, clock.now)
        sender = dispatcher(db, clock, parallel_endpoints=2)
        assert sender.run_once() == 6
        assert fast.valid_ids() == set(ids)
        d = schema.webhook_deliveries
        with db.read() as conn:
            states = {
                (r.endpoint_id, r.status)
                for r in conn.execute(sa.select(d.c.endpoint_id, d.c.status))
            }
        assert states == {(fast_ep, "delivered"), (slow_ep, "pending")}
        outcomes = {o for log in attempt_log(db).values() for o, _ in log}
        assert outcomes == {"ok", "timeout"}
    finally:
        fast.stop()
