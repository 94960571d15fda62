"""Ledger events for integrators: an endpoint subscribed to ``ledger.*`` gets every fact of
its scope (kiosk check-ins and sign-ins through the sequencer, passes sold at HQ), signed,
once per event id; an endpoint subscribed to nothing in particular gets notifications only."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from coordinator import schema
from coordinator.db import Database
from coordinator.outbound import webhooks
from coordinator.outbound.delivery import WebhookDispatcher
from coordinator.outbound.settings import WebhookSettings
from shared.events import CheckIn, PassIssue, Rejected
from shared.model import PassKind, PassState
from shared.webhook_signature import new_secret
from simulators.webhook_receiver import WebhookReceiver
from tests.coordinator.test_ledger_core import T0, Ledger, ev, make_ledger


@pytest.fixture
def ledger(database: Database) -> Iterator[Ledger]:
    yield make_ledger(database)


def _endpoint(db: Database, url: str, secret: str, patterns: list[str], store: str | None) -> str:
    endpoint_id = "ep_" + webhooks.new_token()[:24]
    with db.write() as conn:
        conn.execute(
            sa.insert(schema.webhook_endpoints).values(
                endpoint_id=endpoint_id,
                url=url,
                store_id=store,
                event_types=json.dumps(patterns),
                secrets=webhooks.dump_secrets([webhooks.Secret(secret)]),
                description="",
                enabled=True,
                disabled_reason="",
                created_ms=T0,
                updated_ms=T0,
            )
        )
    return endpoint_id


def test_integrators_get_the_ledger_facts_they_subscribe_to(ledger: Ledger) -> None:
    receiver = WebhookReceiver(new_secret(), now_s=lambda: ledger.clock.now // 1000).start()
    try:
        secret = receiver.secrets[0]
        everything = _endpoint(ledger.db, receiver.url, secret, ["ledger.*"], None)
        store2 = _endpoint(ledger.db, receiver.url, secret, ["ledger.checkin"], "s2")
        gateway = _endpoint(ledger.db, receiver.url, secret, [], None)  # notifications only
        sold = PassState(
            pass_id="p9",
            kind=PassKind.TIME,
            name="月卡",
            valid_from_ms=T0,
            valid_until_ms=T0 + 30 * 86_400_000,
            price_fen=29_900,
        )
        (pass_event,) = ledger.hq("m1", PassIssue(pass_state=sold))
        k1 = [ev("k1", 1, CheckIn(points=10)), ev("k1", 2, Rejected(reason="unknown_card"))]
        k3 = [ev("k3", 1, CheckIn(points=10), member_id="m2")]
        ledger.apply(*k1, *k3)
        ledger.apply(k1[0])  # a duplicate from the broker: nothing new to send
        d = schema.webhook_deliveries
        with ledger.db.read() as conn:
            queued = {
                (r.endpoint_id, r.event_type, r.message_id)
                for r in conn.execute(sa.select(d.c.endpoint_id, d.c.event_type, d.c.message_id))
            }
        assert queued == {
            (everything, "ledger.pass_issue", f"evt_{pass_event.event_id}"),
            (everything, "ledger.checkin", f"evt_{k1[0].event_id}"),
            (everything, "ledger.checkin", f"evt_{k3[0].event_id}"),
            (store2, "ledger.checkin", f"evt_{k3[0].event_id}"),
        }
        assert not any(endpoint == gateway for endpoint, _, _ in queued)
        sender = WebhookDispatcher(
            ledger.db,
            WebhookSettings(),
            allow_private=True,
            wall_ms=ledger.clock.wall_ms,
            rng=random.Random(1),
        )
        assert sender.run_once() == 4
        assert all(r.valid for r in receiver.received)
        sale = next(r for r in receiver.received if r.event_type == "ledger.pass_issue")
        assert sale.data["body"]["pass_state"]["price_fen"] == 29_900
        assert sale.data["source"] == "hq" and sale.data["member_id"] == "m1"
    finally:
        receiver.stop()
