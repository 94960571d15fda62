"""A stored-value overdraw found at reconciliation is a conflict with its story.

Two kiosks spend offline on the same stale balance; the fold flags the second spend, the
narrator tells the money steps in ledger order in both languages, and the suggested
resolution forgives exactly the shortfall with an audited principal adjustment.
"""

from __future__ import annotations

from coordinator.ledger.explain import explain_anomaly
from coordinator.ledger.narrator import Place, narrate_anomaly, resolutions, say
from shared.events import Adjustment, Event, StoredValueSpend, StoredValueTopUp
from shared.fold import AnomalyKind, fold_sorted
from shared.model import MemberLedger
from shared.money import PaymentMethod
from tests.support.factories import T0, hq_event, kiosk_event

PLACE = Place(
    store_names={"s1": "Downtown", "s2": "Riverside"},
    kiosk_stores={"kA": "s1", "kB": "s2"},
)


def overdraw() -> list[Event]:
    topup = StoredValueTopUp(
        paid_fen=10_000, bonus_fen=1_000, method=PaymentMethod.WECHAT, staff_user="anna"
    )
    return [
        hq_event(1, "m1", topup, at_ms=T0 - 1000),
        kiosk_event("kA", 1, "m1", StoredValueSpend(amount_fen=8_000), at_ms=T0, offline=True),
        kiosk_event(
            "kB",
            1,
            "m1",
            StoredValueSpend(amount_fen=6_000),
            at_ms=T0 + 1000,
            store_id="s2",
            offline=True,
        ),
    ]


def test_an_offline_overdraw_is_told_with_money_steps() -> None:
    events = overdraw()
    ledger, found = fold_sorted(MemberLedger(), events)
    assert [(a.kind, a.amount) for a in found] == [(AnomalyKind.STORED_VALUE_OVERDRAWN, 3_000)]
    story = narrate_anomaly(found[0], display_name="李*华", events=events, place=PLACE)
    assert [say(s.what, "en") for s in story.steps] == [
        "topped up 10000 fen (wechat), 1000 fen bonus",
        "8000 fen spent from stored value",
        "6000 fen spent from stored value",
    ]
    assert [say(s.after, "en") for s in story.steps if s.after] == [
        "11000 fen available (10000 principal, 1000 bonus)",
        "3000 fen available (3000 principal, 0 bonus)",
        "-3000 fen available (-3000 principal, 0 bonus)",
    ]
    assert story.steps[-1].target and story.stores == ("s1", "s2")
    assert story.offline_kiosks == ("kA", "kB")
    assert say(story.headline, "zh").startswith("储值透支：李*华 (m1) 比可用储值多花了 3000 分")
    kept, stores = explain_anomaly(found[0], display_name="李*华", events=events, place=PLACE)
    assert "6000 fen spent from stored value" in kept and stores == ["s1", "s2"]

    options = resolutions(
        found[0].kind.value,
        member_id="m1",
        subject_id="stored_value",
        amount=3_000,
        ledger=ledger,
    )
    assert [(r.key, dict(r.body)) for r in options] == [
        ("accept", {}),
        ("forgive_money", {"principal_delta_fen": 3_000}),
    ]
    assert say(options[1].text, "zh") == "免除 3000 分欠款：本金变为 0 分"
    forgiven = hq_event(
        2,
        "m1",
        Adjustment(staff_user="anna", reason="goodwill", principal_delta_fen=3_000),
        at_ms=T0 + 5000,
    )
    after, _ = fold_sorted(MemberLedger(), [*events, forgiven])
    assert after.stored_value.principal_fen == 0
