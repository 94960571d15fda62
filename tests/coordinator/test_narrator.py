"""One narrator for conflicts: the structured story, said in Chinese and English, and both
edges (the kept explanation, the dashboard's story) telling the same steps.

Pure: events are built in memory and folded with ``shared.fold`` for the anomalies.
"""

from __future__ import annotations

import random
import re
import string

import pytest

from coordinator.ledger import conflict_story
from coordinator.ledger.explain import explain_anomaly, render_story
from coordinator.ledger.narrator import (
    MAX_STEPS,
    PHRASES,
    Place,
    Story,
    Words,
    narrate,
    narrate_anomaly,
    resolutions,
    say,
)
from shared.events import (
    Adjustment,
    CheckIn,
    ClassSignIn,
    CouponRedeem,
    Event,
    PassUpdate,
    PointsRedeem,
    Reversal,
)
from shared.fold import Anomaly, AnomalyKind, fold_sorted
from shared.model import MemberLedger
from tests.support.factories import (
    T0,
    coupon,
    hq_event,
    issue_coupon,
    issue_pass,
    kiosk_event,
    punch_pass,
)

PLACE = Place(
    store_names={"s1": "Downtown", "s2": "Riverside"},
    store_timezones={"s1": "Asia/Shanghai", "s2": "Asia/Shanghai"},
    kiosk_stores={"kA": "s1", "kB": "s2"},
)
HAN = re.compile(r"[\u4e00-\u9fff]")


def signin(kiosk: str, seq: int, at: int, *, store: str, offline: bool = True) -> Event:
    body = ClassSignIn(class_session_id=f"y{at - T0}", class_type="yoga", pass_id="p2")
    return kiosk_event(kiosk, seq, "m1", body, at_ms=at, store_id=store, offline=offline)


def double_spends() -> list[Event]:
    """A 2-session pass used three times offline in two stores, a coupon redeemed online
    then offline elsewhere, a points overdraw, and HQ forgiving one coupon use afterwards."""
    return [
        issue_pass(1, "m1", punch_pass("p2", 2)),
        issue_coupon(2, "m1", coupon("c1")),
        signin("kA", 1, T0, store="s1"),
        signin("kB", 1, T0 + 1000, store="s2"),
        signin("kA", 2, T0 + 2000, store="s1"),
        kiosk_event("kA", 3, "m1", CouponRedeem(coupon_id="c1", claim_id="q1"), at_ms=T0 + 3000),
        kiosk_event(
            "kB",
            2,
            "m1",
            CouponRedeem(coupon_id="c1"),
            at_ms=T0 + 4000,
            store_id="s2",
            offline=True,
        ),
        kiosk_event("kA", 4, "m1", CheckIn(points=30), at_ms=T0 + 5000),
        kiosk_event("kB", 3, "m1", PointsRedeem(points=50), at_ms=T0 + 6000, store_id="s2"),
        kiosk_event("kA", 5, "m1", CheckIn(points=10), at_ms=T0 + 7000),
        hq_event(
            3,
            "m1",
            Adjustment(staff_user="anna", reason="forgiven", coupon_id="c1", coupon_uses_delta=-1),
            at_ms=T0 + 8000,
        ),
    ]


def anomalies(events: list[Event]) -> dict[AnomalyKind, Anomaly]:
    _, found = fold_sorted(MemberLedger(), events)
    return {a.kind: a for a in found}


def every_phrase(story: Story) -> list[Words]:
    said = [story.headline, story.advice]
    said += [s.what for s in story.steps] + [s.after for s in story.steps if s.after]
    return said + ([story.offline_note] if story.offline_note else [])


def test_every_phrase_has_both_languages_with_the_same_values() -> None:
    for key, (zh, en) in PHRASES.items():
        assert zh and en, key
        zh_fields = {f for _, f, _, _ in string.Formatter().parse(zh) if f}
        en_fields = {f for _, f, _, _ in string.Formatter().parse(en) if f}
        # Chinese may leave out the fold's English detail; it never needs a value English lacks.
        assert zh_fields <= en_fields, key


@pytest.mark.parametrize(
    "kind", [AnomalyKind.PASS_OVERDRAWN, AnomalyKind.COUPON_REUSED, AnomalyKind.POINTS_OVERDRAWN]
)
def test_the_story_is_told_in_ledger_order_whatever_the_input_order(kind: AnomalyKind) -> None:
    events = double_spends()
    anomaly = anomalies(events)[kind]
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    story = narrate_anomaly(anomaly, display_name="李*华", events=shuffled, place=PLACE)
    assert story == narrate_anomaly(anomaly, display_name="李*华", events=events, place=PLACE)
    assert [s.n for s in story.steps] == list(range(1, len(story.steps) + 1))
    assert [s.at_ms for s in story.steps] == sorted(s.at_ms for s in story.steps)
    assert [s.event_id for s in story.steps if s.target] == [anomaly.event_id]
    for phrase in every_phrase(story):
        zh, en = say(phrase, "zh"), say(phrase, "en")
        assert zh and en and "{" not in zh + en


def test_a_pass_overdraw_story() -> None:
    events = double_spends()
    anomaly = anomalies(events)[AnomalyKind.PASS_OVERDRAWN]
    story = narrate_anomaly(anomaly, display_name="李*华", events=events, place=PLACE)
    assert [say(s.what, "en") for s in story.steps] == [
        "pass “2-session pass” issued, 2 session(s)",
        "class sign-in (y0), 1 session(s) deducted",
        "class sign-in (y1000), 1 session(s) deducted",
        "class sign-in (y2000), 1 session(s) deducted",
    ]
    assert [say(s.after, "zh") for s in story.steps if s.after] == [
        "剩余 2 次",
        "剩余 1 次",
        "剩余 0 次",
        "剩余 -1 次",
    ]
    assert story.steps[-1].target and story.steps[0].at_hq
    assert story.stores == ("s1", "s2") and story.offline_kiosks == ("kA", "kB")
    assert say(story.headline, "zh") == "课程卡超额使用：李*华 (m1) 的卡 p2 比剩余次数多用了 1 次。"
    assert say(story.headline, "en").startswith(
        "Pass overdrawn: 李*华 (m1) used pass p2 for 1 more"
    )
    assert say(story.offline_note, "en").startswith("Kiosks kA, kB were offline")  # type: ignore[arg-type]
    assert "sessions_delta" in say(story.advice, "zh") and "sessions_delta" in say(
        story.advice, "en"
    )


def test_a_points_story_ends_at_the_overdraw_and_shows_earnings() -> None:
    events = double_spends()
    anomaly = anomalies(events)[AnomalyKind.POINTS_OVERDRAWN]
    story = narrate_anomaly(anomaly, display_name=None, events=events, place=PLACE)
    assert [say(s.what, "en") for s in story.steps] == [
        "check-in, +30 points",
        "50 points redeemed",
    ]
    assert story.steps[-1].target
    assert say(story.steps[-1].after, "en") == "-20 points available, 20 owed"  # type: ignore[arg-type]
    assert story.stores == ("s2",)  # spent in s2; earning in s1 involves no store
    assert say(story.headline, "en").startswith("Points overdrawn: m1 spent 20 point(s)")


def test_long_histories_tell_the_last_steps_and_count_the_rest() -> None:
    events = [issue_pass(1, "m1", punch_pass("p2", 2))]
    events += [signin("kA", n, T0 + n, store="s1", offline=False) for n in range(1, 21)]
    anomaly = anomalies(events)[AnomalyKind.PASS_OVERDRAWN]
    story = narrate_anomaly(anomaly, display_name="A", events=events, place=PLACE)
    assert len(story.steps) == MAX_STEPS and story.left_out == 21 - MAX_STEPS
    text = render_story(story, PLACE, "en")
    assert f"({21 - MAX_STEPS} earlier step(s) not shown)" in text
    assert "（更早的 7 步未列出）" in render_story(story, PLACE, "zh")


def test_both_edges_tell_the_narrators_steps() -> None:
    events = double_spends()
    for kind, anomaly in anomalies(events).items():
        story = narrate_anomaly(anomaly, display_name="李*华", events=events, place=PLACE)
        text, stores = explain_anomaly(anomaly, display_name="李*华", events=events, place=PLACE)
        numbered = [ln for ln in text.splitlines() if re.match(r"  \d+\. ", ln)]
        assert len(numbered) == len(story.steps), kind
        for line, step in zip(numbered, story.steps, strict=True):
            assert say(step.what, "en") in line
            assert ("<- this one went over" in line) == step.target
        assert stores == list(story.stores)
        conflict = {
            "kind": kind.value,
            "member_id": "m1",
            "subject_id": anomaly.subject_id,
            "event_id": anomaly.event_id,
            "amount": anomaly.amount,
        }
        page = conflict_story.story(conflict, events, PLACE)
        assert [(s.n, s.target, s.kiosk_id) for s in page] == [
            (s.n, s.target, s.kiosk_id) for s in story.steps
        ]
        for shown, step in zip(page, story.steps, strict=True):
            assert shown.what == {"zh": say(step.what, "zh"), "en": say(step.what, "en")}
            assert shown.store_id == (None if step.at_hq else step.store_id)


def test_the_kept_explanation_in_chinese_and_english() -> None:
    events = double_spends()
    anomaly = anomalies(events)[AnomalyKind.COUPON_REUSED]
    story = narrate_anomaly(anomaly, display_name="李*华", events=events, place=PLACE)
    en = render_story(story, PLACE, "en")
    zh = render_story(story, PLACE, "zh")
    assert en.splitlines()[1] == "What happened, in ledger order:"
    assert zh.splitlines()[1] == "经过（按入账顺序）："
    assert "claim q1" in en and "确认号 q1" in zh
    assert "Stores involved: Downtown (s1), Riverside (s2)." in en
    assert "涉及门店：Downtown (s1)、Riverside (s2)。" in zh
    assert "adjusted by anna: -1 coupon use(s)" in en and "anna 人工调整：券使用次数 -1" in zh
    assert not HAN.search(en.replace("李*华", ""))
    assert HAN.search(zh.splitlines()[-1])  # the advice, too


def test_resolutions_say_what_they_would_do() -> None:
    events = double_spends()
    ledger, _ = fold_sorted(MemberLedger(), events)
    found = anomalies(events)

    def told(kind: AnomalyKind, lang: str) -> list[tuple[str, dict[str, int], str]]:
        a = found[kind]
        return [
            (r.key, dict(r.body), say(r.text, lang))  # type: ignore[misc]
            for r in resolutions(
                kind.value, member_id="m1", subject_id=a.subject_id, amount=a.amount, ledger=ledger
            )
        ]

    assert told(AnomalyKind.PASS_OVERDRAWN, "en") == [
        ("accept", {}, "Accept as recorded: the pass stays at -1 session(s) left"),
        ("give_back", {"sessions_delta": 1}, "Give 1 session(s) back: the pass will have 0 left"),
    ]
    assert told(AnomalyKind.PASS_OVERDRAWN, "zh")[1][2] == "退回 1 次：该卡变为剩余 0 次"
    # HQ already forgave one use: the coupon counts as used once, and once more can go.
    assert [key for key, _, _ in told(AnomalyKind.COUPON_REUSED, "en")] == ["accept", "forgive_use"]
    assert told(AnomalyKind.COUPON_REUSED, "zh")[1][2] == "免除一次使用：该券记为已用 0 次"
    assert told(AnomalyKind.POINTS_OVERDRAWN, "en")[1][:2] == (
        "forgive_points",
        {"points_delta": 10},
    )
    unused = ledger.model_copy(update={"coupons": (coupon("c1"),)})
    only = resolutions("coupon_reused", member_id="m1", subject_id="c1", amount=1, ledger=unused)
    assert [r.key for r in only] == ["accept"]
    none = resolutions("clock_skew", member_id=None, subject_id=None, amount=0, ledger=None)
    assert [(r.key, say(r.text, "zh")) for r in none] == [
        ("acknowledge", "确认已核实处理（不涉及会员余额）")
    ]


def test_a_conflict_no_fold_raised_is_told_by_its_event_alone() -> None:
    events = double_spends()
    target = events[2]
    story = narrate(
        "revoked_card_used",
        member_id="m1",
        display_name=None,
        subject_id=None,
        event_id=target.event_id,
        amount=0,
        detail="",
        events=events,
        place=PLACE,
    )
    assert [(s.event_id, s.target) for s in story.steps] == [(target.event_id, True)]
    assert say(story.headline, "en") == "revoked_card_used: m1"
    assert say(story.advice, "zh") == "处理方式：与门店核实后记录处理决定。"


def test_a_reversal_names_what_it_undid_in_both_languages() -> None:
    body = Reversal(
        target_event_id="e" * 32,
        target_kind="class_signin",
        staff_id="st1",
        pass_id="p2",
        sessions=1,
        class_session_id="y0",
    )
    events = [*double_spends(), kiosk_event("kA", 9, "m1", body, at_ms=T0 + 9000)]
    anomaly = anomalies(events)[AnomalyKind.PASS_OVERDRAWN]
    story = narrate_anomaly(anomaly, display_name=None, events=events, place=PLACE)
    last = story.steps[-1]
    assert say(last.what, "en") == "staff st1 undid a class sign-in"
    assert say(last.what, "zh") == "店员 st1 撤销了一次上课签到"
    assert say(last.after, "en") == "0 session(s) left"  # type: ignore[arg-type]


def test_a_pass_change_says_what_changed() -> None:
    update = PassUpdate(
        pass_id="p2", staff_user="anna", frozen=True, valid_until_ms=T0, sessions_total=20
    )
    events = [*double_spends(), hq_event(4, "m1", update, at_ms=T0 + 9000)]
    anomaly = anomalies(events)[AnomalyKind.PASS_OVERDRAWN]
    story = narrate_anomaly(anomaly, display_name=None, events=events, place=PLACE)
    last = story.steps[-1]
    assert say(last.what, "en") == (
        "pass changed by anna: frozen, valid until 2026-01-01, sessions total set to 20"
    )
    assert say(last.what, "zh") == "anna 修改了卡：冻结，有效期至 2026-01-01，总次数改为 20"
