"""Driving a real coordinator (in-process app, real broker, real database) from tests."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from coordinator import schema
from coordinator.ledger.jsonrows import event_from_row, ledger_from_row
from coordinator.runtime import Coordinator
from shared.events import Event
from shared.fold import fold_sorted
from shared.model import MemberLedger
from simulators.broker import Broker
from simulators.waiting import poll_until
from tests.support.api import ApiCalls
from tests.support.mini_kiosk import MiniKiosk


class Harness(ApiCalls):
    """API calls, fleet setup and ledger inspection for one coordinator under test."""

    expect_by_default = None  # call() asserts a status only when asked

    def __init__(self, client: TestClient, broker: Broker):
        self.client = client
        self.broker = broker
        self.coord: Coordinator = client.app.state.coordinator  # type: ignore[attr-defined]
        assert self.coord.link is not None and self.coord.link.wait_ready(10)
        self.admin = self.login("admin", "admin")
        self.kiosks: list[MiniKiosk] = []

    # -- HTTP -------------------------------------------------------------------------------

    @property
    def api_client(self) -> Any:
        """Requests of :class:`~tests.support.api.ApiCalls` go through this client."""
        return self.client

    def add_store(self, store_id: str, name: str | None = None) -> None:
        """Register a store."""
        self.call(
            "POST",
            "/api/v1/stores",
            json={"store_id": store_id, "name": name or store_id},
            expect=201,
        )

    def add_kiosk(self, kiosk_id: str, store_id: str) -> dict[str, Any]:
        """Provision a kiosk; returns the provisioning answer (credentials, topics)."""
        return self.call(
            "POST", "/api/v1/kiosks", json={"kiosk_id": kiosk_id, "store_id": store_id}, expect=201
        )

    def add_member(self, member_id: str, name: str = "李*华", **extra: Any) -> dict[str, Any]:
        """Register a member."""
        body = {"member_id": member_id, "display_name": name, **extra}
        return self.call("POST", "/api/v1/members", json=body, expect=201)

    def sell_pass(
        self, member_id: str, pass_id: str, sessions: int, **extra: Any
    ) -> dict[str, Any]:
        """Sell a punch pass valid from a day ago for 60 days."""
        now = self.coord.clock.wall_ms()
        body = {
            "pass_id": pass_id,
            "kind": "punch",
            "name": f"{sessions}-session pass",
            "class_types": ["yoga"],
            "valid_from_ms": now - 86_400_000,
            "valid_until_ms": now + 60 * 86_400_000,
            "sessions_total": sessions,
            **extra,
        }
        return self.call("POST", f"/api/v1/members/{member_id}/passes", json=body, expect=201)

    def issue_coupon(self, member_id: str, coupon_id: str, store_ids: list[str]) -> dict[str, Any]:
        """Issue a ¥20 voucher valid for 30 days in ``store_ids``."""
        now = self.coord.clock.wall_ms()
        body = {
            "coupon_id": coupon_id,
            "title": "¥20 voucher",
            "kind": "voucher",
            "value": 2000,
            "store_ids": store_ids,
            "valid_from_ms": now - 86_400_000,
            "valid_until_ms": now + 30 * 86_400_000,
        }
        return self.call("POST", f"/api/v1/members/{member_id}/coupons", json=body, expect=201)

    def publish_rules(self, *, store_ids: list[str] | None = None, **draft: Any) -> dict[str, Any]:
        """Draft and publish a rule bundle; returns the published bundle row."""
        row = self.call("POST", "/api/v1/rule-bundles", json=draft, expect=201)
        body = {"store_ids": store_ids} if store_ids is not None else {}
        return self.call(
            "POST", f"/api/v1/rule-bundles/{row['bundle_id']}/publish", json=body, expect=200
        )

    # -- kiosks ------------------------------------------------------------------------------

    def kiosk(self, kiosk_id: str, store_id: str, *, register: bool = True, **kw: Any) -> MiniKiosk:
        """A connected mini kiosk that has received rules and members."""
        if register:
            self.add_kiosk(kiosk_id, store_id)
        kiosk = MiniKiosk(
            kiosk_id,
            store_id,
            self.broker.host,
            self.broker.port,
            clock=self.coord.clock.wall_ms,
            **kw,
        )
        self.kiosks.append(kiosk)
        kiosk.connect()
        assert kiosk.wait_for(lambda: kiosk.bundle is not None and kiosk.versions.members > 0), (
            f"kiosk {kiosk_id} did not receive its rules and members"
        )
        return kiosk

    def close_kiosks(self) -> None:
        """Disconnect every mini kiosk (teardown)."""
        for kiosk in self.kiosks:
            kiosk.close()

    def members_version(self) -> int:
        """The coordinator's current members version."""
        with self.coord.db.read() as conn:
            return int(
                conn.execute(
                    sa.select(schema.counters.c.value).where(
                        schema.counters.c.name == "members_version"
                    )
                ).scalar_one()
            )

    def wait_members_caught_up(self, *kiosks: MiniKiosk, timeout: float = 15.0) -> None:
        """Wait until nothing is dirty and every kiosk holds the current members version."""

        def done() -> bool:
            with self.coord.db.read() as conn:
                dirty = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(schema.member_states)
                    .where(schema.member_states.c.dirty.is_(True))
                ).scalar_one()
            version = self.members_version()
            return dirty == 0 and all(k.versions.members >= version for k in kiosks)

        assert poll_until(done, timeout), "member pushes did not reach every kiosk"

    # -- ledger ------------------------------------------------------------------------------

    def central(self, member_id: str) -> MemberLedger:
        """The coordinator's folded ledger of a member."""
        with self.coord.db.read() as conn:
            text = conn.execute(
                sa.select(schema.member_states.c.ledger).where(
                    schema.member_states.c.member_id == member_id
                )
            ).scalar_one()
        return ledger_from_row(text)

    def events(self, *, member_id: str | None = None, source: str | None = None) -> list[Event]:
        """Stored (folded) events, in ledger order."""
        ev = schema.events
        query = sa.select(ev.c.body).where(ev.c.quarantined.is_(False))
        if member_id is not None:
            query = query.where(ev.c.member_id == member_id)
        if source is not None:
            query = query.where(ev.c.source == source)
        with self.coord.db.read() as conn:
            return sorted(
                (event_from_row(b) for b in conn.execute(query).scalars()), key=Event.sort_key
            )

    def reference(self, member_id: str) -> MemberLedger:
        """The sequential reference fold over every stored event of the member."""
        ledger, _ = fold_sorted(MemberLedger(), self.events(member_id=member_id))
        return ledger

    def applied_seq(self, kiosk_id: str) -> int:
        """The kiosk's highest contiguous applied seq."""
        with self.coord.db.read() as conn:
            return int(
                conn.execute(
                    sa.select(schema.kiosks.c.applied_seq).where(
                        schema.kiosks.c.kiosk_id == kiosk_id
                    )
                ).scalar_one()
            )

    def conflicts(self, **filters: Any) -> list[dict[str, Any]]:
        """Conflicts via the API."""
        return self.call("GET", "/api/v1/conflicts", expect=200, **filters)["items"]

    def rejections(self) -> dict[str, int]:
        """Rejection totals by reason via the API."""
        return self.call("GET", "/api/v1/ops/rejections", expect=200)["totals_by_reason"]
