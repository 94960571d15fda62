"""Passes that start at their first use: the one rule (``PassState.first_used``), the
kiosk's decisions over it and the fold's agreement, on plain values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.decide import (
    Accepted,
    KioskContext,
    MemberView,
    decide_reversal,
    decide_tap,
    visit_pass_to_start,
)
from shared.events import CheckIn, ClassSignIn
from shared.fold import AnomalyKind, fold, fold_sorted
from shared.local_days import add_local_days
from shared.model import MemberLedger, MemberRecord, PassState, first_use_terms
from shared.protocol import EventBatch, MemberUpdate, encode
from shared.reasons import RejectReason
from tests.support.factories import (
    DAY,
    HOUR,
    T0,
    bundle,
    first_use_pass,
    issue_pass,
    kiosk_event,
    member,
    time_pass,
    yoga_class,
)

NEW_YORK = "America/New_York"


def _ms(year: int, month: int, day: int, hour: int, tz: str) -> int:
    from zoneinfo import ZoneInfo

    local = datetime(year, month, day, hour, tzinfo=ZoneInfo(tz))
    return int(local.astimezone(UTC).timestamp() * 1000)


def ctx(now: int, *, online: bool = False, store_id: str = "s1") -> KioskContext:
    return KioskContext(
        kiosk_id="k1", store_id=store_id, now_ms=now, online=online, offline_since_ms=now - HOUR
    )


def view(*passes: PassState, pending: tuple = ()) -> MemberView:  # type: ignore[type-arg]
    return MemberView(record=member(ledger=MemberLedger(passes=passes)), pending=pending)


# --- the rule -----------------------------------------------------------------------------


def test_local_days_keep_the_wall_clock_across_daylight_saving() -> None:
    """A day is a store calendar day: 18:00 the evening before spring forward plus one day
    is 18:00 the next evening (23 real hours), across fall back 25 real hours."""
    before_spring = _ms(2026, 3, 7, 18, NEW_YORK)
    assert add_local_days(before_spring, 1, NEW_YORK) == _ms(2026, 3, 8, 18, NEW_YORK)
    assert add_local_days(before_spring, 1, NEW_YORK) - before_spring == 23 * HOUR
    before_fall = _ms(2026, 10, 31, 18, NEW_YORK)
    assert add_local_days(before_fall, 1, NEW_YORK) - before_fall == 25 * HOUR
    # A 30-day pass started in February ends at the same wall time in March.
    feb = _ms(2026, 2, 20, 9, NEW_YORK)
    assert add_local_days(feb, 30, NEW_YORK) == _ms(2026, 3, 22, 9, NEW_YORK)
    # Shanghai keeps no daylight saving: days are whole days.
    assert add_local_days(T0, 30, "Asia/Shanghai") == T0 + 30 * DAY


def test_terms_of_a_sale_hold_a_length_and_a_deadline() -> None:
    valid_from, valid_until, terms = first_use_terms(T0, 30, "Asia/Shanghai", 90)
    assert valid_from == T0
    assert terms.activate_by_ms == T0 + 90 * DAY
    # Until used, its end is the latest it can be: the window it gets at the deadline.
    assert valid_until == T0 + 120 * DAY
    assert terms.started_ms is None


def test_first_use_starts_the_window_at_the_tap_and_only_once() -> None:
    p = first_use_pass(sold_ms=T0 - DAY)
    assert p.awaiting_first_use(T0)
    assert p.starts_ms(T0) is None
    assert p.pause_problem(T0) == "pass_not_started"
    used = p.first_used(T0 + 5 * HOUR)
    assert (used.valid_from_ms, used.valid_until_ms) == (T0 + 5 * HOUR, T0 + 5 * HOUR + 30 * DAY)
    assert used.first_use is not None and used.first_use.started_ms == T0 + 5 * HOUR
    assert not used.awaiting_first_use(T0 + 6 * HOUR)
    assert used.pause_problem(T0 + 6 * HOUR) is None
    # A second use never moves the window.
    assert used.first_used(T0 + 3 * DAY) == used
    # A pass sold with a fixed window is untouched by a use.
    fixed = time_pass()
    assert fixed.first_used(T0) == fixed
    assert fixed.starts_ms(T0) == fixed.valid_from_ms


def test_a_pass_never_used_starts_by_itself_at_its_deadline() -> None:
    p = first_use_pass(sold_ms=T0, deadline_days=90, days=30)
    deadline = T0 + 90 * DAY
    assert p.awaiting_first_use(deadline - 1)
    assert not p.awaiting_first_use(deadline)
    assert p.starts_ms(deadline + DAY) == deadline
    assert p.pause_problem(deadline) is None
    # A use after the deadline does not restart it: the window ran from the deadline.
    assert p.first_used(deadline + 10 * DAY) == p
    assert p.problem_at(deadline + 29 * DAY) is None
    assert p.problem_at(deadline + 30 * DAY + 1) is RejectReason.PASS_EXPIRED


# --- the kiosk decides with it, the fold agrees ---------------------------------------------


def test_offline_class_signin_starts_the_pass_and_the_fold_agrees() -> None:
    p = first_use_pass(class_types=("yoga",))
    decision = decide_tap(ctx(T0), bundle(classes=[yoga_class()]), view(p))
    assert isinstance(decision, Accepted), decision
    assert decision.result.pass_id == p.pass_id
    assert decision.result.pass_valid_until_ms == T0 + 30 * DAY
    events = [
        kiosk_event("k1", i + 1, "m1", b, at_ms=T0, offline=True)
        for i, b in enumerate(decision.bodies)
    ]
    ledger, anomalies = fold(MemberLedger(passes=(p,)), events)
    assert anomalies == ()
    started = ledger.find_pass(p.pass_id)
    assert started is not None and started.valid_from_ms == T0
    assert started.valid_until_ms == T0 + 30 * DAY


def test_a_plain_visit_starts_a_pass_for_every_class_type() -> None:
    p = first_use_pass()
    decision = decide_tap(ctx(T0), bundle(), view(p))
    assert isinstance(decision, Accepted), decision
    body = decision.bodies[0]
    assert isinstance(body, CheckIn) and body.first_use_of == p.pass_id
    assert decision.result.pass_valid_until_ms == T0 + 30 * DAY
    ledger, _ = fold(MemberLedger(passes=(p,)), [kiosk_event("k1", 1, "m1", body, at_ms=T0)])
    started = ledger.find_pass(p.pass_id)
    assert started is not None and started.valid_until_ms == T0 + 30 * DAY


def test_a_visit_does_not_start_a_class_pass_nor_a_second_card() -> None:
    # A yoga month card waits for a yoga class, not for a visit.
    yoga_only = first_use_pass(class_types=("yoga",))
    assert visit_pass_to_start(MemberLedger(passes=(yoga_only,)), "s1", T0) is None
    # Next year's card bought in advance waits while this year's runs.
    running = time_pass()
    waiting = first_use_pass()
    assert visit_pass_to_start(MemberLedger(passes=(running, waiting)), "s1", T0) is None
    decision = decide_tap(ctx(T0), bundle(), view(running, waiting))
    assert isinstance(decision, Accepted)
    assert isinstance(decision.bodies[0], CheckIn) and decision.bodies[0].first_use_of is None
    # ... also while this year's card is frozen (the member paused it, not replaced it).
    paused = running.model_copy(update={"frozen": True})
    assert visit_pass_to_start(MemberLedger(passes=(paused, waiting)), "s1", T0) is None
    # Once this year's card has ended, the next visit starts the waiting one.
    ended = running.model_copy(update={"valid_until_ms": T0 - 1})
    started = visit_pass_to_start(MemberLedger(passes=(ended, waiting)), "s1", T0)
    assert started == waiting
    # ... and so it does for a class: the running pass pays first.
    signin = decide_tap(ctx(T0), bundle(classes=[yoga_class()]), view(running, waiting))
    assert isinstance(signin, Accepted) and signin.result.pass_id == running.pass_id


def test_two_kiosks_starting_the_same_pass_offline_converge_to_the_earliest_tap() -> None:
    p = first_use_pass(sold_ms=T0 - DAY)
    issue = issue_pass(1, "m1", p)
    early = kiosk_event("k2", 1, "m1", CheckIn(first_use_of=p.pass_id), at_ms=T0, offline=True)
    late = kiosk_event(
        "k1", 1, "m1", CheckIn(first_use_of=p.pass_id), at_ms=T0 + 2 * DAY, offline=True
    )
    one, a1 = fold_sorted(MemberLedger(), [issue, late, early])
    two, a2 = fold_sorted(MemberLedger(), [early, issue, late])
    assert one == two
    assert a1 == a2 == ()
    started = one.find_pass(p.pass_id)
    assert started is not None and started.first_use is not None
    assert started.first_use.started_ms == T0
    assert started.valid_until_ms == T0 + 30 * DAY


def test_a_late_tap_outside_the_earliest_window_is_flagged() -> None:
    """Kiosk k1 was offline longer than the pass runs: its sign-in, inside the window it
    started itself, lies after the window the earlier tap started. The member was let in;
    the fold records it as a pass used when expired (a conflict staff see), nothing lost."""
    p = first_use_pass(sold_ms=T0 - DAY, class_types=("yoga",))
    issue = issue_pass(1, "m1", p)
    sign = ClassSignIn(class_session_id="yoga-a", class_type="yoga", pass_id=p.pass_id, sessions=0)
    early = kiosk_event("k2", 1, "m1", sign, at_ms=T0, offline=True)
    late_sign = sign.model_copy(update={"class_session_id": "yoga-b"})
    late = kiosk_event("k1", 1, "m1", late_sign, at_ms=T0 + 40 * DAY, offline=True)
    ledger, anomalies = fold_sorted(MemberLedger(), [late, issue, early])
    assert [a.kind for a in anomalies] == [AnomalyKind.PASS_INVALID_AT_USE]
    assert anomalies[0].event_id == late.event_id
    started = ledger.find_pass(p.pass_id)
    assert started is not None and started.valid_until_ms == T0 + 30 * DAY


# --- wire compatibility ---------------------------------------------------------------------


def test_records_without_the_feature_encode_as_before() -> None:
    """Kiosks on older builds refuse unknown fields: a pass without first-use terms and a
    check-in that starts nothing carry no new key at all."""
    plain = member(ledger=MemberLedger(passes=(time_pass(),))).model_dump_json()
    assert "first_use" not in plain
    assert "first_use_of" not in CheckIn(points=10).model_dump_json()
    # The new keys round-trip when they are used.
    with_terms = member(ledger=MemberLedger(passes=(first_use_pass(),)))
    assert MemberRecord.model_validate_json(with_terms.model_dump_json()) == with_terms
    body = CheckIn(first_use_of="f1")
    assert CheckIn.model_validate_json(body.model_dump_json()) == body


def test_an_undone_first_visit_puts_the_pass_back_to_waiting() -> None:
    """Staff undo the tap that started the pass (a wrong card, within the undo window): the
    pass waits for its first use again, and the next visit starts it there."""
    p = first_use_pass()
    k = ctx(T0)
    decision = decide_tap(k, bundle(), view(p))
    assert isinstance(decision, Accepted)
    [tap] = [kiosk_event("k1", 1, "m1", decision.bodies[0], at_ms=T0, offline=True)]
    undo = decide_reversal(
        ctx(T0 + 60_000), bundle(), view(p, pending=(tap,)), tap,
        already_reversed=False, staff_id="desk-anna",
    )  # fmt: skip
    assert isinstance(undo, Accepted), undo
    undone = kiosk_event("k1", 2, "m1", undo.bodies[0], at_ms=T0 + 60_000, offline=True)
    ledger, _ = fold(MemberLedger(passes=(p,)), [tap, undone])
    waiting = ledger.find_pass(p.pass_id)
    assert waiting is not None and waiting.awaiting_first_use(T0 + DAY)
    assert waiting.valid_until_ms == p.valid_until_ms
    again = decide_tap(ctx(T0 + DAY), bundle(), view(waiting))
    assert isinstance(again, Accepted)
    assert again.result.pass_valid_until_ms == T0 + 31 * DAY


@given(
    taps=st.lists(
        st.tuples(st.sampled_from(["k1", "k2", "k3"]), st.integers(0, 200 * DAY)),
        min_size=1,
        max_size=8,
    ),
    order=st.randoms(use_true_random=False),
)
@settings(max_examples=150, deadline=None)
def test_any_arrival_order_starts_the_pass_at_the_earliest_tap_before_the_deadline(
    taps: list[tuple[str, int]], order: Any
) -> None:
    """Visits at several kiosks, offline, delivered in any order: the fold gives one answer,
    and the window starts at the earliest visit before the deadline (or at the deadline)."""
    p = first_use_pass(sold_ms=T0, deadline_days=90)
    seqs: dict[str, int] = {}
    events = [issue_pass(1, "m1", p)]
    for kiosk_id, offset in taps:
        seqs[kiosk_id] = seqs.get(kiosk_id, 0) + 1
        body = CheckIn(first_use_of=p.pass_id)
        events.append(kiosk_event(kiosk_id, seqs[kiosk_id], "m1", body, at_ms=T0 + offset))
    reference, _ = fold_sorted(MemberLedger(), events)
    shuffled = list(events)
    order.shuffle(shuffled)
    assert fold_sorted(MemberLedger(), shuffled)[0] == reference
    held = reference.find_pass(p.pass_id)
    assert held is not None and held.first_use is not None
    before = [T0 + offset for _, offset in taps if offset < 90 * DAY]
    deadline = T0 + 90 * DAY
    assert held.first_use.started_ms == (min(before) if before else None)
    assert held.starts_ms(T0 + 400 * DAY) == (min(before) if before else deadline)
    assert held.valid_until_ms == (min(before) if before else deadline) + 30 * DAY


OLD_PASS_KEYS = {
    "pass_id", "kind", "name", "class_types", "store_ids", "valid_from_ms", "valid_until_ms",
    "sessions_total", "sessions_used", "frozen", "price_fen",
}  # fmt: skip
"""The keys of a pass record before first-use passes (what an older kiosk's model allows)."""


def test_a_member_update_of_plain_passes_carries_only_the_keys_older_kiosks_know() -> None:
    record = member(ledger=MemberLedger(passes=(time_pass(), first_use_pass("f2"))))
    plain = member("m2", ledger=MemberLedger(passes=(time_pass(),)))
    wire = json.loads(encode(MemberUpdate(store_id="s1", version=2, members=(plain, record))))
    [old] = wire["members"][0]["ledger"]["passes"]
    assert set(old) == OLD_PASS_KEYS
    kept, new = wire["members"][1]["ledger"]["passes"]
    assert set(kept) == OLD_PASS_KEYS and set(new) == OLD_PASS_KEYS | {"first_use"}
    batch = EventBatch(kiosk_id="k1", events=(kiosk_event("k1", 1, "m1", CheckIn(points=10)),))
    body = json.loads(encode(batch))["events"][0]["body"]
    assert set(body) == {"kind", "points", "reward_day", "points_expires_ms"}
