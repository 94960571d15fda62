"""Webhooks: notifications delivered through the outbox vs raw signed POSTs of the same
bodies from one client.

Both sides send to the same local receiver (``simulators.webhook_receiver``: a real HTTP
server that verifies every signature over the raw body), in this process.

Tapfleet: N notifications recorded with ``notify.enqueue`` (fanned out to one endpoint in
the same transactions; not timed), then the coordinator's ``WebhookDispatcher`` drains the
outbox: it takes batches with row locks and leases, signs, POSTs with its bounded reader,
and records every attempt and delivery in SQLite (WAL, ``synchronous=FULL``, on the
repository's disk). Timed: from the first batch taken to the last recorded.

Baseline: the same N bodies signed with the same secret and POSTed by one ``httpx.Client``
in a loop (keep-alive), nothing recorded. Target: tapfleet at least 0.5x the baseline's rate.
``BENCH_WEBHOOKS_N`` overrides N (default 10,000; ``--quick``: 300).
"""

from __future__ import annotations

import os
import time

from bench.common import Result, emit, parse_args, progress, rate, work_dir

NAME = "webhooks"


def main() -> int:
    """Run the benchmark; prints one line."""
    args = parse_args(__doc__ or NAME)
    n = int(os.environ.get("BENCH_WEBHOOKS_N", 300 if args.quick else 10_000))

    import httpx
    import sqlalchemy as sa

    from coordinator import schema
    from coordinator.db import Database
    from coordinator.outbound import notify, webhooks
    from coordinator.outbound.delivery import WebhookDispatcher
    from coordinator.outbound.settings import WebhookSettings
    from shared.webhook_signature import new_secret, sign_headers
    from simulators.webhook_receiver import WebhookReceiver

    secret = new_secret()
    receiver = WebhookReceiver(secret).start()
    try:
        with work_dir(NAME, args.keep) as folder:
            db = Database(f"sqlite:///{folder / 'coordinator.db'}")
            db.migrate()
            now = time.time_ns() // 1_000_000
            with db.write() as conn:
                conn.execute(
                    sa.insert(schema.webhook_endpoints).values(
                        endpoint_id="ep_bench",
                        url=receiver.url,
                        store_id=None,
                        event_types="[]",
                        secrets=webhooks.dump_secrets([webhooks.Secret(secret)]),
                        description="",
                        enabled=True,
                        disabled_reason="",
                        created_ms=now,
                        updated_ms=now,
                    )
                )
            progress(NAME, f"recording {n} notifications")
            for start in range(0, n, 500):
                with db.write() as conn:
                    for i in range(start, min(n, start + 500)):
                        notify.enqueue(
                            conn,
                            kind="birthday",
                            dedupe_key=f"bench:{i}",
                            payload={"member": f"m{i:06d}", "text_zh": "生日快乐", "n": i},
                            now_ms=now,
                            member_id=f"m{i:06d}",
                        )
            with db.read() as conn:
                bodies = [
                    (r.message_id, r.body.encode())
                    for r in conn.execute(
                        sa.select(schema.webhook_deliveries).order_by(
                            schema.webhook_deliveries.c.id
                        )
                    )
                ]
            dispatcher = WebhookDispatcher(
                db,
                WebhookSettings(batch_size=200),
                allow_private=True,
                wall_ms=lambda: time.time_ns() // 1_000_000,
            )
            progress(NAME, "tapfleet: draining the outbox")
            started = time.perf_counter()
            while dispatcher.run_once():
                pass
            ours = time.perf_counter() - started
            dispatcher.sender.close()
            with db.read() as conn:
                delivered = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(schema.webhook_deliveries)
                    .where(schema.webhook_deliveries.c.status == "delivered")
                ).scalar_one()
            ok_ours = len(receiver.valid_ids())
            receiver.received.clear()

            progress(NAME, "baseline: raw signed POSTs")
            with httpx.Client(timeout=10) as client:
                started = time.perf_counter()
                for message_id, body in bodies:
                    headers = sign_headers([secret], message_id, int(time.time()), body)
                    headers["content-type"] = "application/json"
                    client.post(receiver.url, content=body, headers=headers).raise_for_status()
                raw = time.perf_counter() - started
            ok_raw = len(receiver.valid_ids())
            db.dispose()
    finally:
        receiver.stop()
    ours_rate, raw_rate = rate(n, ours), rate(n, raw)
    ratio = ours_rate / raw_rate if raw_rate else None
    complete = delivered == n and ok_ours == n and ok_raw == n
    emit(
        Result(
            name=NAME,
            tapfleet=(
                f"{n} notifications delivered in {ours:.2f} s ({ours_rate:.0f}/s), "
                f"{delivered} recorded delivered, {ok_ours} signatures verified"
            ),
            baseline=f"{n} raw signed POSTs in {raw:.2f} s ({raw_rate:.0f}/s), {ok_raw} verified",
            ratio=ratio,
            target=">= 0.5x the raw rate, every message delivered and verified",
            passed=complete and ratio is not None and ratio >= 0.5,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
