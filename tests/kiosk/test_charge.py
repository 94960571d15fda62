"""The staff charge route of the kiosk UI: stored value spent through the ledger's one
decision, offline within the limits, every refusal a clear answer in zh-CN and en."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.kiosk.conftest import STAFF_PIN, KioskFactory, RunningKiosk
from tests.kiosk.seed import ANNA, ANNA_STORED_VALUE, BOB


@pytest.fixture
def kiosk(kiosk_factory: KioskFactory) -> RunningKiosk:
    """An offline kiosk (nobody listens where its link points)."""
    return kiosk_factory()


@pytest.fixture
def http(kiosk: RunningKiosk) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=kiosk.url, timeout=10) as client:
        yield client


def test_staff_charge_offline_within_the_limits(kiosk: RunningKiosk, http: httpx.Client) -> None:
    def charge(amount: object, member: str = ANNA.member_id, **heads: str) -> httpx.Response:
        return http.post(
            "/api/staff/charge",
            json={"member_id": member, "amount_fen": amount, "purpose": "drink"},
            headers=heads or staff,
        )

    assert charge(100, **{"X-Staff-Session": "nope"}).status_code == 401
    login = http.post("/api/staff/login", json={"pin": STAFF_PIN})
    staff = {"X-Staff-Session": login.json()["token"]}
    detail = http.get(f"/api/staff/member/{ANNA.member_id}", headers=staff).json()
    assert detail["member"]["stored_value_fen"] == ANNA_STORED_VALUE

    for bad in (0, -1, 10.5, "100"):
        assert charge(bad).status_code == 422
    paid = charge(2_500).json()
    assert paid["outcome"] == "accepted" and paid["action"] == "sv_spend"
    assert paid["sv_charged_fen"] == 2_500
    assert paid["member"]["stored_value_fen"] == ANNA_STORED_VALUE - 2_500
    # Offline, one charge may take at most ¥200 (the rules' default).
    over = charge(20_001).json()
    assert over["outcome"] == "refused" and over["reason"] == "offline_limit_reached"
    assert over["message_zh"] and over["message_en"]
    broke = charge(100, member=BOB.member_id).json()
    assert broke["reason"] == "insufficient_balance"
    assert "储值余额不足" in broke["message_zh"]

    ledger = kiosk.app.ledger
    assert ledger is not None
    spends = [e for e in ledger.journal_events() if e.kind == "sv_spend"]
    assert len(spends) == 1 and spends[0].offline
    assert spends[0].credential is not None and spends[0].credential.staff_id
