"""Redemptions per staff member (the staff section's ``staff_redemptions`` table), checked
against a hand count on SQLite and PostgreSQL: facts ingested from kiosks with and without
a staff credential, an undo, and desk facts recorded by HQ with their staff user."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from coordinator import schema
from coordinator.db import Database
from coordinator.ledger.hq_events import HqFact
from coordinator.security.auth import Principal, Role
from coordinator.services import reports
from shared.events import (
    CouponRedeem,
    CredentialKind,
    CredentialRef,
    EventBody,
    PointsRedeem,
    Purchase,
    PurchaseMethod,
    Reversal,
    StoredValueSpend,
)
from tests.coordinator.test_ledger_core import T0, ev, make_ledger

ADMIN = Principal("admin", Role.HQ_ADMIN, None)


def staff(staff_id: str) -> CredentialRef:
    """What a kiosk records when staff signed in with their own PIN or staff card."""
    return CredentialRef(kind=CredentialKind.STAFF, staff_id=staff_id)


def test_redemptions_per_staff_member_match_a_hand_count(database: Database) -> None:
    ledger = make_ledger(database)
    card = CredentialRef(kind=CredentialKind.CARD, uid="04A1B2C3D4E5F6")
    k1: list[tuple[EventBody, CredentialRef]] = [
        (PointsRedeem(points=10), staff("fd1")),
        (PointsRedeem(points=20), staff("fd1")),
        (CouponRedeem(coupon_id="c1"), staff("fd1")),
        (StoredValueSpend(amount_fen=500, staff_id="fd1"), staff("fd1")),
        (PointsRedeem(points=5), staff("fd2")),
        (StoredValueSpend(amount_fen=250, staff_id="fd2"), staff("fd2")),
        (StoredValueSpend(amount_fen=1200, staff_id="fd2"), staff("fd2")),
        # The member's own taps: nobody on staff performed them.
        (PointsRedeem(points=7), card),
        (CouponRedeem(coupon_id="c2"), card),
        (StoredValueSpend(amount_fen=800), card),
    ]
    events = [ev("k1", n + 1, body, credential=cred) for n, (body, cred) in enumerate(k1)]
    # fd2 undoes one of fd1's points redemptions: fd1 did not redeem it after all.
    undo = Reversal(
        target_event_id=events[1].event_id, target_kind="points_redeem", staff_id="fd2", points=20
    )
    events.append(ev("k1", len(k1) + 1, undo, credential=staff("fd2")))
    events.append(ev("k3", 1, PointsRedeem(points=3), credential=staff("fd1")))
    report = ledger.apply(*events)
    assert not report.rejects
    # At the desk (HQ's facts): a purchase with a coupon and a stored-value charge by desk1;
    # the purchase's own coupon_redeem names no staff and is counted once, by the purchase.
    purchase = Purchase(
        purchase_id="pu1",
        list_fen=3000,
        coupon_id="c3",
        coupon_off_fen=500,
        total_fen=2500,
        method=PurchaseMethod.STORED_VALUE,
        stored_value_fen=2500,
        staff_user="desk1",
    )
    desk: list[EventBody] = [
        CouponRedeem(coupon_id="c3", claim_id="pu1"),
        StoredValueSpend(amount_fen=2500, purchase_id="pu1", staff_id="desk1"),
        purchase,
    ]
    with database.write() as conn:
        ledger.coord.recorder.record(conn, [HqFact("m1", b, "s1") for b in desk], ledger.clock.now)
    with database.read() as conn:
        ev_ = schema.events
        staffed = conn.execute(sa.select(sa.func.count()).where(ev_.c.staff_id.is_not(None)))
        assert staffed.scalar_one() == 11  # k1: 7 + the undo; k3: 1; HQ: the spend, purchase

    day = datetime.fromtimestamp(T0 / 1000, ZoneInfo("Asia/Shanghai")).date()
    built = reports.build(ledger.coord, ADMIN, store_id=None, first=day, last=day, lang="en")
    table = built.table("staff_redemptions")
    assert table is not None
    assert [c.key for c in table.columns] == [
        "staff", "store", "points_redemptions", "coupon_redemptions", "sv_spends", "sv_spent",
    ]  # fmt: skip
    # By hand: fd1 at s1: points 2 - 1 undone = 1, coupons 1, spends 1 of 5.00; at s2 one
    # points redemption. fd2 at s1: points 1, spends 2 of 2.50 + 12.00. desk1 at s1: the
    # purchase's coupon, one spend of 25.00. The member's own taps count for nobody.
    assert table.rows == [
        ["desk1", "Store s1 (s1)", "0", "1", "1", "25.00"],
        ["fd1", "Store s1 (s1)", "1", "1", "1", "5.00"],
        ["fd1", "Store s2 (s2)", "1", "0", "0", "0.00"],
        ["fd2", "Store s1 (s1)", "1", "0", "2", "14.50"],
    ]
    assert table.csv().splitlines()[0] == (
        "Staff,Store,Points redemptions,Coupon redemptions,Stored-value spends,"
        "Stored value spent (CNY)"
    )
    one = reports.build(ledger.coord, ADMIN, store_id="s2", first=day, last=day, lang="zh")
    own = one.table("staff_redemptions")
    assert own is not None and own.rows == [["fd1", "Store s2 (s2)", "1", "0", "0", "0.00"]]
    assert own.title == "员工核销"
