"""Two kiosks in two stores go offline; one member overuses a 10-session pass and redeems
one single-use coupon at both. After reconnecting, every event is recorded, two explained
conflicts appear, staff resolve them with audited adjustments, and both kiosks converge.
"""

from __future__ import annotations

from shared.decide import Accepted
from shared.model import ClassSession
from simulators.waiting import poll_until
from tests.coordinator.harness import Harness


def _class(store_id: str, n: int, now_ms: int) -> dict[str, object]:
    return ClassSession(
        class_session_id=f"{store_id}-c{n}",
        class_type="yoga",
        store_id=store_id,
        title_zh="瑜伽",
        title_en="Yoga",
        starts_ms=now_ms + 5 * 60_000,
        ends_ms=now_ms + 65 * 60_000,
    ).model_dump(mode="json")


def test_offline_double_spend_is_reconciled(harness: Harness) -> None:
    h = harness
    h.add_store("s1", "Downtown")
    h.add_store("s2", "Riverside")
    now = h.coord.clock.wall_ms()
    classes = [_class("s1", n, now) for n in range(10)] + [_class("s2", n, now) for n in range(3)]
    h.publish_rules(classes=classes)
    h.add_member("m1", name="李*华")
    h.sell_pass("m1", "p10", 10)
    # The coupon is valid in both stores. Neither shipped policy lets a kiosk redeem such a
    # coupon offline (online_only never; store_scoped only single-store coupons), so a
    # correct kiosk cannot double-spend it. The mini kiosks here are switched to a lenient
    # policy (allow_offline_coupons) to produce the double spend reconciliation must catch.
    h.issue_coupon("m1", "c1", ["s1", "s2"])
    h.call(
        "POST",
        "/api/v1/users",
        json={"username": "ops_anna", "password": "correct horse", "role": "hq_admin"},
        expect=201,
    )
    anna = h.login("ops_anna", "correct horse")

    ka = h.kiosk("kA", "s1", allow_offline_coupons=True)
    kb = h.kiosk("kB", "s2", allow_offline_coupons=True)
    for k in (ka, kb):
        assert k.wait_for(lambda k=k: (led := k.ledger("m1")) is not None and led.find_pass("p10"))

    # Online: 8 of the 10 sessions are used at store 1, confirmed by the coordinator.
    # (Each tap waits for its confirmation: unconfirmed sessions are capped online too.)
    for n in range(8):
        assert isinstance(ka.tap("m1", class_session_id=f"s1-c{n}"), Accepted)
        assert ka.wait_settled()
    h.wait_members_caught_up(ka, kb)
    assert kb.ledger("m1").find_pass("p10").sessions_left == 2  # type: ignore[union-attr]

    # Offline in both stores: store 1 uses one more session, store 2 uses two (each within
    # its offline limits), and both redeem the single-use coupon.
    ka.go_offline()
    kb.go_offline()
    assert isinstance(ka.tap("m1", class_session_id="s1-c8"), Accepted)
    assert isinstance(kb.tap("m1", class_session_id="s2-c0"), Accepted)
    assert isinstance(kb.tap("m1", class_session_id="s2-c1"), Accepted)
    assert isinstance(ka.redeem_coupon("m1", "c1"), Accepted)
    assert isinstance(kb.redeem_coupon("m1", "c1"), Accepted)
    assert all(e.offline for e in ka.journal[-2:] + kb.journal[-3:])

    ka.connect()
    kb.connect()
    assert ka.wait_settled() and kb.wait_settled()
    h.wait_members_caught_up(ka, kb)

    # Every event is recorded, exactly once.
    for k in (ka, kb):
        assert [e.event_id for e in h.events(source=k.kiosk_id)] == [e.event_id for e in k.journal]
    central = h.central("m1")
    assert central.find_pass("p10").sessions_used == 11  # type: ignore[union-attr]
    assert central.find_coupon("c1").redeem_count == 2  # type: ignore[union-attr]

    # Two conflicts, each explained: who, which pass/coupon, which stores and kiosks, order.
    assert poll_until(lambda: len(h.conflicts(status="open")) == 2)
    conflicts = {c["kind"]: c for c in h.conflicts(status="open")}
    assert set(conflicts) == {"pass_overdrawn", "coupon_reused"}
    overdrawn = conflicts["pass_overdrawn"]
    reused = conflicts["coupon_reused"]
    assert overdrawn["amount"] == 1 and overdrawn["subject_id"] == "p10"
    assert sorted(overdrawn["store_ids"]) == ["s1", "s2"] == sorted(reused["store_ids"])
    for text in (overdrawn["explanation"], reused["explanation"]):
        for needle in ("李*华", "m1", "Downtown (s1)", "Riverside (s2)", "kA", "kB", "offline"):
            assert needle in text, f"{needle!r} missing from:\n{text}"
        assert "<- this one went over" in text
    assert "p10" in overdrawn["explanation"] and "11 sessions" not in overdrawn["explanation"]
    assert "c1" in reused["explanation"] and "already redeemed" in reused["explanation"]
    # In ledger order: 8 online uses at kA, then the three offline ones.
    lines = [
        ln for ln in overdrawn["explanation"].splitlines() if ln.strip()[:2].rstrip(".").isdigit()
    ]
    assert len(lines) == 12  # the sale + 11 uses

    # Staff resolve both: give the overdrawn session back, forgive the second coupon use.
    pass_fix = h.call(
        "POST",
        f"/api/v1/conflicts/{overdrawn['conflict_id']}/resolve",
        json={"note": "member was told; session forgiven once", "sessions_delta": 1},
        headers=anna,
        expect=200,
    )
    coupon_fix = h.call(
        "POST",
        f"/api/v1/conflicts/{reused['conflict_id']}/resolve",
        json={"note": "double use accepted as goodwill", "coupon_uses_delta": -1},
        headers=anna,
        expect=200,
    )
    for fixed in (pass_fix, coupon_fix):
        assert fixed["status"] == "resolved" and fixed["resolved_by"] == "ops_anna"
        assert fixed["adjustment"]["body"]["staff_user"] == "ops_anna"
        assert fixed["adjustment"]["body"]["conflict_id"] == fixed["conflict_id"]
        assert fixed["explanation"]  # history kept
    again = h.client.post(
        f"/api/v1/conflicts/{overdrawn['conflict_id']}/resolve",
        json={"note": "twice?"},
        headers=anna,
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict_not_open"

    central = h.central("m1")
    assert central.find_pass("p10").sessions_left == 0  # type: ignore[union-attr]
    assert central.find_coupon("c1").redeem_count == 1  # type: ignore[union-attr]
    assert central == h.reference("m1")
    assert h.conflicts(status="open") == []

    # Both kiosks converge on the adjusted balances.
    h.wait_members_caught_up(ka, kb)
    assert ka.ledger("m1") == central == kb.ledger("m1")

    # The audit trail leads from the balance back to the adjustments and their conflicts.
    balance = h.call("GET", "/api/v1/members/m1/balance", expect=200)
    assert balance["trail_matches_ledger"] is True
    adjustments = [s for s in balance["trail"] if s["kind"] == "adjustment"]
    assert {a["body"]["conflict_id"] for a in adjustments} == {
        overdrawn["conflict_id"],
        reused["conflict_id"],
    }
    over_step = next(s for s in balance["trail"] if overdrawn["conflict_id"] in s["conflicts"])
    assert over_step["anomalies"] == ["pass_overdrawn"] and over_step["offline"] is True
