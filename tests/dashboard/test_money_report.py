"""The money section of the reports: stored-value liability per home store, top-ups, spend
and purchases per store and day, and the cross-store settlement, in zh-CN and en, from
facts recorded through the real API."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from coordinator.reports.settlement import settle
from shared.events import StoredValueSpend, StoredValueTopUp
from shared.money import PaymentMethod
from tests.dashboard.ingest_feed import api_without_broker
from tests.support.factories import T0, hq_event, kiosk_event


def test_money_tables_in_both_languages(tmp_path: Path) -> None:
    with api_without_broker(tmp_path) as api:
        for store, name in (("s1", "上海店"), ("s2", "杭州店")):
            api.call("POST", "/api/v1/stores", json={"store_id": store, "name": name}, expect=201)
        for member, home in (("m1", "s1"), ("m2", "s2")):
            body = {"member_id": member, "display_name": "A*", "home_store_id": home}
            api.call("POST", "/api/v1/members", json=body, expect=201)
        for member, store, fen in (("m1", "s1", 10_000), ("m2", "s2", 5_000)):
            api.call(
                "POST",
                f"/api/v1/members/{member}/stored-value/top-ups",
                json={"amount_fen": fen, "method": "wechat", "store_id": store},
                expect=201,
            )
        for key, store, method, fen in (
            ("a", "s2", "stored_value", 3_000),
            ("b", "s1", "cash", 2_000),
        ):
            api.client.post(
                "/api/v1/purchases",
                json={"member_id": "m1", "store_id": store, "total_fen": fen, "method": method},
                headers={**api.headers, "Idempotency-Key": key},
            ).raise_for_status()
        now = api.coord.clock.wall_ms()
        today = datetime.fromtimestamp(now / 1000, ZoneInfo("Asia/Shanghai")).date()
        tables = {}
        for lang in ("zh", "en"):
            report = api.coord.reports.build(store_id=None, first=today, last=today, lang=lang)
            tables[lang] = {t.name: t for s in report.sections for t in s.tables}
    zh, en = tables["zh"], tables["en"]
    assert zh["stored_value_liability"].rows == [
        ["上海店 (s1)", "1", "70.00", "0.00", "0.00", "0.00"],
        ["杭州店 (s2)", "1", "50.00", "0.00", "0.00", "0.00"],
    ]
    assert zh["money_daily"].rows == [
        [today.isoformat(), "上海店 (s1)", "100.00", "0.00", "0.00", "0.00", "1", "20.00", "20.00"],
        [today.isoformat(), "杭州店 (s2)", "50.00", "0.00", "30.00", "0.00", "1", "30.00", "30.00"],
    ]
    assert zh["money_settlement"].rows == [["上海店 (s1)", "杭州店 (s2)", "30.00"]]
    assert [c.label for c in zh["money_settlement"].columns] == [
        "收款门店",
        "消费门店",
        "金额（元）",
    ]
    assert [c.label for c in en["money_settlement"].columns] == [
        "Collected at",
        "Spent at",
        "Amount (¥)",
    ]
    assert en["money_daily"].rows == zh["money_daily"].rows
    assert "Collected at" in en["money_settlement"].csv()


def test_settlement_is_first_in_first_out_and_overdraws_are_nobodys() -> None:
    def topup(seq: int, store: str, fen: int, at: int) -> object:
        body = StoredValueTopUp(paid_fen=fen, method=PaymentMethod.CASH, staff_user="hq")
        event = hq_event(seq, "m1", body, at_ms=at)
        return event.model_copy(update={"store_id": store})

    events = [
        topup(1, "A", 1_000, T0),
        topup(2, "B", 1_000, T0 + 1),
        kiosk_event("kC", 1, "m1", StoredValueSpend(amount_fen=1_500), at_ms=T0 + 2, store_id="C"),
        kiosk_event("kA", 1, "m1", StoredValueSpend(amount_fen=800), at_ms=T0 + 3, store_id="A"),
    ]
    owed = settle(events, T0, T0 + 10)  # type: ignore[arg-type]
    assert owed == {("A", "C"): 1_000, ("B", "C"): 500, ("B", "A"): 500, (None, "A"): 300}
    # Only spends inside the period count, but earlier top-ups still fund them.
    assert settle(events, T0 + 3, T0 + 10) == {("B", "A"): 500, (None, "A"): 300}  # type: ignore[arg-type]
