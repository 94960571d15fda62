"""The demo seeds money and bookings through the real API: a top-up rule, opening balances
(one earning the rule's bonus), stored-value purchases at home and in another store, a
voucher purchase; and the reports show the liability and the cross-store settlement. The
studio's small-group class is booked full with a waitlist, and a cancellation promotes the
first waiting."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from coordinator.app import create_app
from coordinator.settings import CoordinatorSettings
from simulators.demo.api import CoordinatorClient
from simulators.demo.catalog import (
    SMALL_CLASS_CAPACITY,
    SMALL_CLASS_DAYS_AHEAD,
    build_catalog,
    small_class_session,
)
from simulators.demo.console import Console
from simulators.demo.seed import provision_chain, seed_chain


def test_the_demo_seeds_balances_top_ups_and_purchases(tmp_path: Path) -> None:
    settings = CoordinatorSettings(
        dev_mode=True, database_url=f"sqlite:///{tmp_path / 'demo.db'}", mqtt_enabled=False
    )
    with TestClient(create_app(settings)) as http:
        coord = http.app.state.coordinator  # type: ignore[attr-defined]
        now = coord.clock.wall_ms()
        catalog = build_catalog(now)
        client = CoordinatorClient("http://testserver")
        client._http = http  # the real app in-process: same API calls as over the network
        client.login("admin", "admin")
        out = io.StringIO()
        provision_chain(client, catalog, Console(out))
        result = seed_chain(client, catalog, Console(out))
        hands_on = client.get(f"/api/v1/members/{catalog.roles.hands_on_member}/stored-value")
        today = datetime.fromtimestamp(now / 1000, ZoneInfo("Asia/Shanghai")).date()
        report = coord.reports.build(store_id=None, first=today, last=today, lang="en")
        small = today + timedelta(days=SMALL_CLASS_DAYS_AHEAD)
        roster = client.get(
            f"/api/v1/stores/{catalog.class_store_id}/sessions/{small_class_session(now)}/roster"
        )
        classes = coord.reports.build(
            store_id=catalog.class_store_id, first=small, last=small, lang="en"
        )
    assert "stored value:" in out.getvalue(), out.getvalue()
    assert (hands_on["principal_fen"], hands_on["bonus_fen"]) == (100_000, 10_000)
    assert result.topped_up_fen >= 150_000 and result.purchases >= 4
    tables = {t.name: t for s in report.sections for t in s.tables}
    assert tables["stored_value_liability"].rows
    assert tables["money_settlement"].rows  # value spent away from the store that took it
    purchases = sum(int(row[6]) for row in tables["money_daily"].rows)
    assert purchases == result.purchases
    # The small-group class: full, a waitlist, and a cancellation that promoted its first.
    assert "full (6 booked, 2 waitlisted)" in out.getvalue(), out.getvalue()
    assert len(roster["booked"]) == SMALL_CLASS_CAPACITY and len(roster["waitlisted"]) == 1
    waitlist = classes.table("waitlist_conversions")
    assert waitlist is not None and waitlist.rows == [["yoga", "1", "2", "1", "50.0%", "0"]]
