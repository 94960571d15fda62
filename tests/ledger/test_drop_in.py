"""A class sign-in with no usable pass pays the session's drop-in price from stored value, on
the real kiosk ledger: two linked events (``sv_spend`` "drop-in <session>" and a pass-less
``class_signin``), the money offline limits apply, no double charge on a second tap, and an
overdraw across two offline kiosks reaches the coordinator's fold as a stored-value anomaly
(the conflict of any overspend)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from device.ledger import KioskLedger
from shared.decide import Accepted, Refused
from shared.events import HQ_SOURCE, Event, StoredValueTopUp
from shared.fold import AnomalyKind, fold_sorted
from shared.model import MemberLedger, RuleBundle
from shared.money import MoneyRules, PaymentMethod, StoredValueLimits
from shared.protocol import RuleBundleMessage
from shared.reasons import RejectReason
from tests.ledger.builders import FakeClock, snapshot
from tests.support.factories import T0, bundle, member, yoga_class

CARD = "04A1B2C3D4E5F6"
PRICE = 3_000
LIMITS = StoredValueLimits(max_offline_spend_fen=5_000, max_consecutive_offline_spends=2)


def drop_in_bundle(*, studio_only: bool = True, price: int = PRICE) -> RuleBundle:
    """Yoga at T0+10 min with a drop-in price; a class-only studio unless told."""
    session = yoga_class().model_copy(update={"drop_in_price_fen": price})
    return bundle(
        classes=[session],
        money=MoneyRules(offline=LIMITS),
        points_per_checkin=0,
        checkin_without_class_pass=not studio_only,
    )


def topped_up(paid_fen: int) -> MemberLedger:
    """A member ledger holding ``paid_fen`` of principal (one HQ top-up)."""
    topup = Event(
        event_id="0" * 31 + "1",
        kiosk_id=HQ_SOURCE,
        seq=1,
        hlc_ms=T0 - 60_000,
        wall_ms=T0 - 60_000,
        member_id="m1",
        body=StoredValueTopUp(paid_fen=paid_fen, method=PaymentMethod.CASH, staff_user="hq"),
    )
    ledger, _ = fold_sorted(MemberLedger(), [topup])
    return ledger


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def opened(tmp_path: Path, clock: FakeClock) -> Iterator[list[KioskLedger]]:
    """Real kiosk ledgers to close at the end."""
    ledgers: list[KioskLedger] = []
    yield ledgers
    for ledger in ledgers:
        ledger.close()


def kiosk(
    opened: list[KioskLedger],
    path: Path,
    clock: FakeClock,
    rules: RuleBundle,
    balance_fen: int,
    kiosk_id: str = "k1",
) -> KioskLedger:
    """A real kiosk ledger, online, knowing m1 (card CARD, no pass) with ``balance_fen``."""
    ledger = KioskLedger.open(path, kiosk_id=kiosk_id, store_id="s1", clock=clock)
    opened.append(ledger)
    ledger.apply_rule_bundle(RuleBundleMessage(bundle=rules))
    ledger.set_online(True)
    for message in snapshot([member("m1", ledger=topped_up(balance_fen))], 1, kiosk_id=kiosk_id):
        ledger.apply_member_update(message)
    return ledger


def test_drop_in_is_paid_from_stored_value_once(
    tmp_path: Path, clock: FakeClock, opened: list[KioskLedger]
) -> None:
    ledger = kiosk(opened, tmp_path / "k1.db", clock, drop_in_bundle(), 5_000)
    outcome = ledger.tap_card(CARD)
    assert isinstance(outcome.decision, Accepted), outcome.decision
    assert [e.kind for e in outcome.events] == ["sv_spend", "class_signin"]
    spend, signin = (e.body for e in outcome.events)
    assert spend.amount_fen == PRICE and spend.purpose == "drop-in yoga-0900"  # type: ignore[union-attr]
    assert signin.pass_id is None and signin.sessions == 0  # type: ignore[union-attr]
    result = outcome.decision.result
    assert result.action == "class_signin" and result.sv_charged_fen == PRICE
    assert result.sv_balance_fen == 2_000
    assert outcome.member is not None and outcome.member.stored_value_fen == 2_000

    # A second tap for the same class charges nothing.
    clock.advance(60_000)
    again = ledger.tap_card(CARD)
    assert isinstance(again.decision, Refused)
    assert again.decision.reason is RejectReason.ALREADY_SIGNED_IN
    assert [e.kind for e in ledger.pending_events(0, 100)].count("sv_spend") == 1

    # The coordinator folds the two events with no anomaly: 2,000 fen left.
    central, anomalies = fold_sorted(topped_up(5_000), ledger.pending_events(0, 100))
    assert central.stored_value.available_fen(clock.now_ms) == 2_000
    assert list(anomalies) == []
    assert [s.pass_id for s in central.signins] == [None]


def test_short_balance_keeps_the_pass_refusal(
    tmp_path: Path, clock: FakeClock, opened: list[KioskLedger]
) -> None:
    ledger = kiosk(opened, tmp_path / "k1.db", clock, drop_in_bundle(), PRICE - 1)
    outcome = ledger.tap_card(CARD)
    assert isinstance(outcome.decision, Refused)
    assert outcome.decision.reason is RejectReason.NO_VALID_PASS
    assert "sv_spend" not in [e.kind for e in ledger.pending_events(0, 100)]


def test_gym_tap_checks_in_and_a_named_class_charges(
    tmp_path: Path, clock: FakeClock, opened: list[KioskLedger]
) -> None:
    """With store visitors, a plain tap is a check-in; staff naming the class charges it."""
    ledger = kiosk(opened, tmp_path / "k1.db", clock, drop_in_bundle(studio_only=False), 5_000)
    plain = ledger.tap_card(CARD)
    assert isinstance(plain.decision, Accepted) and plain.decision.result.action == "checkin"
    assert [e.kind for e in plain.events] == ["checkin"]
    clock.advance(60_000)
    named = ledger.tap_card(CARD, class_session_id="yoga-0900")
    assert isinstance(named.decision, Accepted)
    assert named.decision.result.sv_charged_fen == PRICE


def test_offline_limits_apply_to_drop_ins(
    tmp_path: Path, clock: FakeClock, opened: list[KioskLedger]
) -> None:
    over = kiosk(opened, tmp_path / "k1.db", clock, drop_in_bundle(price=6_000), 10_000)
    over.set_online(False)
    outcome = over.tap_card(CARD)
    assert isinstance(outcome.decision, Refused)
    assert outcome.decision.reason is RejectReason.OFFLINE_LIMIT_REACHED  # above ¥50 offline
    assert "sv_spend" not in [e.kind for e in over.pending_events(0, 100)]


def test_two_offline_kiosks_overdraw_and_the_fold_flags_it(
    tmp_path: Path, clock: FakeClock, opened: list[KioskLedger]
) -> None:
    """The balance covers one drop-in; two offline kiosks each accept one (within the
    offline limits); delivered, the coordinator's fold flags the overdraw."""
    rules = drop_in_bundle()
    first = kiosk(opened, tmp_path / "k1.db", clock, rules, 4_000, "k1")
    second = kiosk(opened, tmp_path / "k2.db", clock, rules, 4_000, "k2")
    for ledger in (first, second):
        ledger.set_online(False)
        assert ledger.tap_card(CARD).accepted
    delivered = first.pending_events(0, 100) + second.pending_events(0, 100)
    central, anomalies = fold_sorted(topped_up(4_000), delivered)
    assert central.stored_value.principal_fen == 4_000 - 2 * PRICE
    assert [a.kind for a in anomalies] == [AnomalyKind.STORED_VALUE_OVERDRAWN]
