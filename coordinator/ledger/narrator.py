"""One narrator for every conflict: what happened, in ledger order, and what staff can do.

A conflict is told once, here, wherever it is shown: the explanation kept with the conflict
(logs, the API) and the dashboard's story in Chinese or English. :func:`narrate` gives a
structured :class:`Story` (the steps in ledger order with the balance after each, the step
that went over, the stores and offline kiosks involved, the suggested resolution) and
:func:`resolutions` what each decision would do to the member's balance now. Every text in
them is :class:`Words`, a phrase key and its values; :func:`say` puts them into Chinese or
English at the edge (``coordinator.ledger.explain`` for the kept explanation,
``coordinator.ledger.conflict_story`` for the page and its API). Pure functions over the member's
events: who, which pass or coupon, which stores and kiosks, and in which order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.events import (
    HQ_SOURCE,
    Adjustment,
    BonusExpire,
    CheckIn,
    ClassSignIn,
    CouponIssue,
    CouponRedeem,
    Event,
    PassIssue,
    PassUpdate,
    PointsExpire,
    PointsRedeem,
    Purchase,
    Reversal,
    StoredValueRefund,
    StoredValueSpend,
    StoredValueTopUp,
)
from shared.fold import Anomaly, AnomalyKind, apply
from shared.model import MemberLedger

DEFAULT_TZ = "Asia/Shanghai"
MAX_STEPS = 14
"""Steps told (the last ones); how many earlier ones were left out is part of the story."""
PASS_KINDS = frozenset(
    {AnomalyKind.PASS_OVERDRAWN, AnomalyKind.PASS_INVALID_AT_USE, AnomalyKind.PASS_UNKNOWN}
)
COUPON_KINDS = frozenset(
    {AnomalyKind.COUPON_REUSED, AnomalyKind.COUPON_INVALID_AT_USE, AnomalyKind.COUPON_UNKNOWN}
)
POINTS_KINDS = frozenset({AnomalyKind.POINTS_OVERDRAWN})
MONEY_KINDS = frozenset({AnomalyKind.STORED_VALUE_OVERDRAWN})
MONEY_BODIES = (StoredValueTopUp, StoredValueSpend, StoredValueRefund, BonusExpire)
CLASS_OVER_CAPACITY = "class_over_capacity"
"""A class that ended with more students than seats (kiosks admitting offline): a story
about a session, told from every member's sign-in to it."""
CLASS_KINDS = frozenset({CLASS_OVER_CAPACITY})
USES = (ClassSignIn, CouponRedeem, PointsRedeem, Reversal, StoredValueSpend)
"""Bodies that use up (or give back) a pass, coupon or points: where they happened is a
store involved in the conflict."""

# -- words -----------------------------------------------------------------------------------

PHRASES: dict[str, tuple[str, str]] = {
    # who
    "person.named": ("{name} ({member_id})", "{name} ({member_id})"),
    "person.id": ("{member_id}", "{member_id}"),
    "person.unknown": ("身份不明的会员", "an unidentified member"),
    # headlines
    "headline.pass_overdrawn": (
        "课程卡超额使用：{person} 的卡 {subject} 比剩余次数多用了 {amount} 次。",
        "Pass overdrawn: {person} used pass {subject} for {amount} more session(s) than it "
        "holds ({detail}).",
    ),
    "headline.pass_invalid_at_use": (
        "课程卡在无效时被使用：{person}，卡 {subject}。",
        "Pass used when it was not valid: {person}, pass {subject} ({detail}).",
    ),
    "headline.pass_unknown": (
        "未知的卡：{person} 用卡 {subject} 签到，但账本中该会员没有这张卡。",
        "Unknown pass: {person} signed in with pass {subject}, which the ledger does not hold "
        "for this member.",
    ),
    "headline.coupon_reused": (
        "单次券重复核销：{person}，券 {subject}。",
        "Single-use coupon redeemed twice: {person}, coupon {subject} ({detail}).",
    ),
    "headline.coupon_invalid_at_use": (
        "优惠券在无效的时间或门店被使用：{person}，券 {subject}。",
        "Coupon used when or where it was not valid: {person}, coupon {subject} ({detail}).",
    ),
    "headline.coupon_unknown": (
        "未知的优惠券：{person} 核销了券 {subject}，但账本中该会员没有这张券。",
        "Unknown coupon: {person} redeemed coupon {subject}, which the ledger does not hold "
        "for this member.",
    ),
    "headline.points_overdrawn": (
        "积分透支：{person} 比可用积分多花了 {amount} 分，差额记为积分欠款。",
        "Points overdrawn: {person} spent {amount} point(s) more than they had ({detail}); "
        "the shortfall is carried as points debt.",
    ),
    "headline.stored_value_overdrawn": (
        "储值透支：{person} 比可用储值多花了 {amount} 分（{detail}），差额记为本金欠款。",
        "Stored value overdrawn: {person} spent {amount} fen more than they had ({detail}); "
        "the shortfall is carried as negative principal.",
    ),
    "headline.class_over_capacity": (
        "课程超员：{subject} 比座位数多签到了 {amount} 人（{detail}）。",
        "Class over capacity: {subject} signed in {amount} more student(s) than it has seats "
        "({detail}).",
    ),
    "headline.other": ("{kind}：{person}", "{kind}: {person}"),
    # steps
    "step.pass_issue": (
        "开卡「{name}」，共 {sessions} 次",
        "pass “{name}” issued, {sessions} session(s)",
    ),
    "step.class_signin": (
        "上课签到（{class_session_id}），扣 {sessions} 次",
        "class sign-in ({class_session_id}), {sessions} session(s) deducted",
    ),
    "step.coupon_issue": ("发券「{title}」", "coupon “{title}” issued"),
    "step.coupon_redeem_claimed": (
        "核销优惠券（已在线确认，确认号 {claim_id}）",
        "coupon redeemed (confirmed online, claim {claim_id})",
    ),
    "step.coupon_redeem_unclaimed": (
        "核销优惠券（未经在线确认）",
        "coupon redeemed (without an online check)",
    ),
    "step.points_redeem": ("兑换 {points} 积分", "{points} points redeemed"),
    "step.checkin": ("签到，+{points} 积分", "check-in, +{points} points"),
    "step.reversal": ("店员 {staff_id} 撤销了一次{what}", "staff {staff_id} undid a {what}"),
    "step.adjustment": ("{staff_user} 人工调整：{changes}", "adjusted by {staff_user}: {changes}"),
    "step.pass_update": (
        "{staff_user} 修改了卡：{changes}",
        "pass changed by {staff_user}: {changes}",
    ),
    "step.points_expire": ("积分到期", "points expired"),
    "step.sv_topup": (
        "充值 {paid} 分（{method}），赠送 {bonus} 分",
        "topped up {paid} fen ({method}), {bonus} fen bonus",
    ),
    "step.sv_spend": ("储值消费 {amount} 分", "{amount} fen spent from stored value"),
    "step.sv_refund": (
        "{staff_user} 退款 {amount} 分本金",
        "{amount} fen principal refunded by {staff_user}",
    ),
    "step.sv_bonus_expire": ("赠送金额到期", "bonus expired"),
    "step.purchase": (
        "消费 {total} 分（{method}），+{points} 积分",
        "purchase of {total} fen ({method}), +{points} points",
    ),
    "step.other": ("{kind}", "{kind}"),
    "undone.checkin": ("签到", "check-in"),
    "undone.class_signin": ("上课签到", "class sign-in"),
    "undone.points_redeem": ("积分兑换", "points redemption"),
    "undone.coupon_redeem": ("优惠券核销", "coupon redemption"),
    "change.sessions": ("课次 {n:+d}", "{n:+d} session(s)"),
    "change.coupon_uses": ("券使用次数 {n:+d}", "{n:+d} coupon use(s)"),
    "change.points": ("积分 {n:+d}", "{n:+d} points"),
    "change.principal": ("储值本金 {n:+d} 分", "{n:+d} fen principal"),
    "change.none": ("不调整余额", "no balance change"),
    "change.frozen": ("冻结", "frozen"),
    "change.unfrozen": ("解冻", "unfrozen"),
    "change.valid_until": ("有效期至 {date}", "valid until {date}"),
    "change.sessions_total": ("总次数改为 {n}", "sessions total set to {n}"),
    # balances after a step
    "after.pass": ("剩余 {left} 次", "{left} session(s) left"),
    "after.seats": ("已签到 {n} 人", "{n} signed in"),
    "step.class_signin_member": (
        "{member_id} 上课签到，扣 {sessions} 次",
        "{member_id} signed in, {sessions} session(s) deducted",
    ),
    "after.coupon": ("已用 {uses} 次", "used {uses} time(s)"),
    "after.points": (
        "可用 {available} 分，欠 {debt} 分",
        "{available} points available, {debt} owed",
    ),
    "after.stored_value": (
        "可用 {available} 分（本金 {principal}，赠送 {bonus}）",
        "{available} fen available ({principal} principal, {bonus} bonus)",
    ),
    # offline kiosks
    "offline.many": (
        "终端 {kiosks} 当时都处于离线状态，彼此看不到对方的使用。",
        "Kiosks {kiosks} were offline, so neither could see the other's use before it was "
        "recorded.",
    ),
    "offline.one": (
        "终端 {kiosk} 记录这次使用时处于离线状态。",
        "Kiosk {kiosk} was offline when it recorded its use.",
    ),
    # suggested resolution
    "advice.pass_overdrawn": (
        "处理方式：按记录接受（不调整），退回课次（sessions_delta > 0），或为会员续卡。",
        "To resolve: accept it (no change), give the session(s) back (sessions_delta > 0), "
        "or sell the member a top-up.",
    ),
    "advice.coupon_reused": (
        "处理方式：接受重复使用（coupon_uses_delta = -1 免除一次），或与会员协商后记录结果。",
        "To resolve: accept the double use (coupon_uses_delta = -1 forgives it) or settle it "
        "with the member and record the outcome.",
    ),
    "advice.points_overdrawn": (
        "处理方式：免除欠款（points_delta > 0），或留待会员以后赚回。",
        "To resolve: forgive the debt (points_delta > 0) or leave it to be earned back.",
    ),
    "advice.stored_value_overdrawn": (
        "处理方式：保留欠款（会员下次充值先还欠款），或免除欠款（principal_delta_fen > 0）。",
        "To resolve: keep the debt (the member's next top-up pays it first) or forgive it "
        "(principal_delta_fen > 0).",
    ),
    "advice.class_over_capacity": (
        "核对实际到场的学员；对多出的学员可退回一次课时或安排到下一节课（审计调整），并检查离线的签到机为何断网。",
        "Check who actually attended; refund a session to the extra students or move them to "
        "the next class (an audited adjustment), and check why the kiosks were offline.",
    ),
    "advice.other": (
        "处理方式：与门店核实后记录处理决定。",
        "To resolve: check with the store, then record the decision.",
    ),
    # resolutions
    "option.acknowledge": (
        "确认已核实处理（不涉及会员余额）",
        "Acknowledge: checked and handled (no member balance involved)",
    ),
    "option.accept": ("按记录接受，不调整余额", "Accept as recorded; no balance change"),
    "option.pass_accept": (
        "按记录接受：该卡保持剩余 {left} 次",
        "Accept as recorded: the pass stays at {left} session(s) left",
    ),
    "option.give_back": (
        "退回 {give} 次：该卡变为剩余 {after} 次",
        "Give {give} session(s) back: the pass will have {after} left",
    ),
    "option.coupon_accept": (
        "按记录接受：该券记为已用 {uses} 次",
        "Accept as recorded: the coupon counts as used {uses} time(s)",
    ),
    "option.forgive_use": (
        "免除一次使用：该券记为已用 {after} 次",
        "Forgive one use: the coupon will count as used {after} time(s)",
    ),
    "option.keep_debt": (
        "保留欠款：会员欠 {debt} 分，以后赚的积分先还欠款",
        "Keep the debt: the member owes {debt} point(s), paid from future earnings",
    ),
    "option.forgive_points": (
        "免除 {forgive} 分欠款：欠款变为 {after} 分",
        "Forgive {forgive} point(s): the debt becomes {after}",
    ),
    "option.keep_money_debt": (
        "保留欠款：本金为 {principal} 分，下次充值先还欠款",
        "Keep the debt: principal stays at {principal} fen, paid from the next top-up",
    ),
    "option.forgive_money": (
        "免除 {forgive} 分欠款：本金变为 {after} 分",
        "Forgive {forgive} fen: principal becomes {after} fen",
    ),
    # the kept explanation's frame (coordinator.ledger.explain)
    "text.story": ("经过（按入账顺序）：", "What happened, in ledger order:"),
    "text.left_out": ("（更早的 {n} 步未列出）", "({n} earlier step(s) not shown)"),
    "text.step": (
        "  {n}. {when} {where}{mode}：{what}{mark}",
        "  {n}. {when} at {where}{mode}: {what}{mark}",
    ),
    "text.kiosk": ("门店 {store} 的终端 {kiosk}", "kiosk {kiosk} in store {store}"),
    "text.hq": ("总部", "HQ"),
    "text.offline": ("（离线）", ", offline"),
    "text.went_over": ("  ← 这一次超出", "  <- this one went over"),
    "text.stores": ("涉及门店：{stores}。", "Stores involved: {stores}."),
}
LIST_SEPARATORS = {"zh": "，", "en": ", "}


@dataclass(frozen=True)
class Words:
    """A phrase of :data:`PHRASES` and its values; a value may itself be Words (or a tuple of
    them, said as a list)."""

    key: str
    values: Mapping[str, object] = field(default_factory=dict)


def words(key: str, **values: object) -> Words:
    """``Words(key, values)``."""
    return Words(key, values)


def say(phrase: Words, lang: str) -> str:
    """The phrase in ``lang`` (``zh`` or ``en``; anything else is Chinese)."""
    zh, en = PHRASES[phrase.key]
    template = en if lang == "en" else zh
    if not phrase.values:
        return template
    values = {name: _said(value, lang) for name, value in phrase.values.items()}
    return template.format(**values)


def _said(value: object, lang: str) -> object:
    if isinstance(value, Words):
        return say(value, lang)
    if isinstance(value, tuple) and all(isinstance(v, Words) for v in value):
        return LIST_SEPARATORS.get(lang, "，").join(say(v, lang) for v in value)
    return value


def both(phrase: Words) -> dict[str, str]:
    """``{"zh": ..., "en": ...}`` of a phrase."""
    return {"zh": say(phrase, "zh"), "en": say(phrase, "en")}


# -- places and people -----------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Names needed to describe where things happened."""

    store_names: Mapping[str, str] = field(default_factory=dict)
    store_timezones: Mapping[str, str] = field(default_factory=dict)
    kiosk_stores: Mapping[str, str] = field(default_factory=dict)

    def store_of(self, event: Event) -> str | None:
        """The store an event happened in."""
        return event.store_id or self.kiosk_stores.get(event.kiosk_id)

    def store_label(self, store_id: str | None) -> str:
        """``Name (id)`` of a store, or ``HQ``."""
        if store_id is None:
            return "HQ"
        name = self.store_names.get(store_id)
        return f"{name} ({store_id})" if name and name != store_id else store_id

    def zone(self, store_id: str | None) -> tuple[ZoneInfo, str]:
        """The store's time zone and its name (the chain's default when unknown)."""
        name = self.store_timezones.get(store_id or "", DEFAULT_TZ)
        try:
            return ZoneInfo(name), name
        except (KeyError, ValueError):
            return ZoneInfo(DEFAULT_TZ), DEFAULT_TZ

    def local(self, ms: int, store_id: str | None) -> datetime:
        """``ms`` as a date-time in the store's zone."""
        return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(self.zone(store_id)[0])

    def when(self, ms: int, store_id: str | None) -> str:
        """Local time of ``ms`` in the store's zone, e.g. ``2026-01-01 12:05:03 Asia/Shanghai``."""
        return f"{self.local(ms, store_id):%Y-%m-%d %H:%M:%S} {self.zone(store_id)[1]}"


def person(member_id: str | None, display_name: str | None) -> Words:
    """Who a member is: ``Name (id)``, the id alone, or an unidentified member."""
    if member_id is None:
        return words("person.unknown")
    if display_name:
        return words("person.named", name=display_name, member_id=member_id)
    return words("person.id", member_id=member_id)


# -- the story -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One thing that happened to the pass, coupon or points, and the balance after it."""

    n: int
    event_id: str
    at_ms: int
    kiosk_id: str
    store_id: str | None
    """The store it happened in (a fact HQ recorded for a store carries that store)."""
    offline: bool
    target: bool
    """The step that went over (the event the conflict is about)."""
    what: Words
    after: Words | None = None
    """The balance right after (None when the story was told without balances)."""

    @property
    def at_hq(self) -> bool:
        """Recorded by the coordinator rather than a kiosk."""
        return self.kiosk_id == HQ_SOURCE


@dataclass(frozen=True)
class Story:
    """A conflict told in ledger order."""

    kind: str
    member_id: str | None
    subject_id: str | None
    headline: Words
    steps: tuple[Step, ...]
    """The last :data:`MAX_STEPS` relevant steps, numbered from 1."""
    left_out: int
    """Earlier relevant steps not told."""
    stores: tuple[str, ...]
    """Stores where the subject was used (every relevant step, told or not), then the
    target's store if not among them."""
    offline_kiosks: tuple[str, ...]
    advice: Words

    @property
    def offline_note(self) -> Words | None:
        """Why the kiosks could not have known (None: nobody was offline)."""
        if len(self.offline_kiosks) >= 2:
            return words("offline.many", kiosks=", ".join(self.offline_kiosks))
        if self.offline_kiosks:
            return words("offline.one", kiosk=self.offline_kiosks[0])
        return None


def narrate(
    kind: str,
    *,
    member_id: str | None,
    display_name: str | None,
    subject_id: str | None,
    event_id: str | None,
    amount: int,
    detail: str,
    events: Sequence[Event],
    place: Place,
    balances: bool = True,
) -> Story:
    """The story of a conflict from the member's events (any order; told in ledger order).

    ``balances`` folds every event to say the balance after each step (the dashboard's
    story); without it no event is folded (the explanation kept when a conflict is raised).
    """
    ordered = sorted(events, key=Event.sort_key)
    ledger = MemberLedger()
    steps: list[Step] = []
    stores: set[str] = set()
    offline: set[str] = set()
    target: Event | None = None
    seats = 0
    for event in ordered:
        if balances and kind not in CLASS_KINDS:  # a class's story spans many members
            ledger, _ = apply(ledger, event)
        is_target = event.event_id == event_id
        target = event if is_target else target
        if not (is_target or _relevant(kind, subject_id, event)):
            continue
        store = place.store_of(event)
        at_hq = event.kiosk_id == HQ_SOURCE
        if not at_hq and store and isinstance(event.body, USES):
            stores.add(store)
        if event.offline:
            offline.add(event.kiosk_id)
        if kind in CLASS_KINDS and isinstance(event.body, ClassSignIn):
            seats += 1
        steps.append(
            Step(
                n=0,
                event_id=event.event_id,
                at_ms=event.hlc_ms,
                kiosk_id=event.kiosk_id,
                store_id=store,
                offline=event.offline,
                target=is_target,
                what=_what(kind, event, place),
                after=_after(kind, subject_id, ledger, event.hlc_ms, seats) if balances else None,
            )
        )
        if is_target and kind in POINTS_KINDS | MONEY_KINDS:
            break  # what came after the overdraw is not its story
    told = steps[-MAX_STEPS:]
    involved = sorted(stores)
    if target is not None and (s := place.store_of(target)) and s not in involved:
        involved.append(s)
    subject = subject_id or ""
    return Story(
        kind=kind,
        member_id=member_id,
        subject_id=subject_id,
        headline=words(
            f"headline.{kind}" if f"headline.{kind}" in PHRASES else "headline.other",
            kind=kind,
            person=person(member_id, display_name),
            subject=subject,
            amount=amount,
            detail=detail,
        ),
        steps=tuple(replace(s, n=i) for i, s in enumerate(told, start=1)),
        left_out=len(steps) - len(told),
        stores=tuple(involved),
        offline_kiosks=tuple(sorted(offline)),
        advice=words(f"advice.{kind}" if f"advice.{kind}" in PHRASES else "advice.other"),
    )


def narrate_anomaly(
    anomaly: Anomaly,
    *,
    display_name: str | None,
    events: Sequence[Event],
    place: Place,
    balances: bool = True,
) -> Story:
    """:func:`narrate` for a fold anomaly."""
    return narrate(
        anomaly.kind.value,
        member_id=anomaly.member_id,
        display_name=display_name,
        subject_id=anomaly.subject_id,
        event_id=anomaly.event_id,
        amount=anomaly.amount,
        detail=anomaly.detail,
        events=events,
        place=place,
        balances=balances,
    )


def _relevant(kind: str, subject: str | None, event: Event) -> bool:
    """Whether ``event`` is part of the story of a ``kind`` conflict about ``subject``."""
    b = event.body
    if kind in CLASS_KINDS:
        return isinstance(b, ClassSignIn) and b.class_session_id == subject
    if kind in PASS_KINDS:
        return (
            (isinstance(b, PassIssue) and b.pass_state.pass_id == subject)
            or (isinstance(b, ClassSignIn | PassUpdate) and b.pass_id == subject)
            or (isinstance(b, Reversal | Adjustment) and b.pass_id == subject)
        )
    if kind in COUPON_KINDS:
        return (
            (isinstance(b, CouponIssue) and b.coupon.coupon_id == subject)
            or (isinstance(b, CouponRedeem) and b.coupon_id == subject)
            or (isinstance(b, Reversal | Adjustment) and b.coupon_id == subject)
        )
    if kind in MONEY_KINDS:
        return isinstance(b, MONEY_BODIES) or (
            isinstance(b, Adjustment) and bool(b.principal_delta_fen)
        )
    if kind in POINTS_KINDS:
        return (
            isinstance(b, PointsRedeem | CheckIn | PointsExpire | Purchase)
            or (isinstance(b, Reversal) and bool(b.points))
            or (isinstance(b, Adjustment) and bool(b.points_delta))
        )
    return False


def describe(event: Event, place: Place) -> Words:
    """What an event did, in words (dates in the zone of the store it happened for)."""
    b = event.body
    if isinstance(b, PassIssue):
        p = b.pass_state
        return words("step.pass_issue", name=p.name, sessions=p.sessions_total)
    if isinstance(b, ClassSignIn):
        return words("step.class_signin", class_session_id=b.class_session_id, sessions=b.sessions)
    if isinstance(b, CouponIssue):
        return words("step.coupon_issue", title=b.coupon.title)
    if isinstance(b, CouponRedeem):
        if b.claim_id:
            return words("step.coupon_redeem_claimed", claim_id=b.claim_id)
        return words("step.coupon_redeem_unclaimed")
    if isinstance(b, PointsRedeem):
        return words("step.points_redeem", points=b.points)
    if isinstance(b, CheckIn):
        return words("step.checkin", points=b.points)
    if isinstance(b, Reversal):
        return words("step.reversal", staff_id=b.staff_id, what=words(f"undone.{b.target_kind}"))
    if isinstance(b, Adjustment):
        changes = tuple(
            words(key, n=n)
            for key, n in (
                ("change.sessions", b.sessions_delta),
                ("change.coupon_uses", b.coupon_uses_delta),
                ("change.points", b.points_delta),
                ("change.principal", b.principal_delta_fen),
            )
            if n
        )
        return words(
            "step.adjustment", staff_user=b.staff_user, changes=changes or (words("change.none"),)
        )
    if isinstance(b, PassUpdate):
        updates = []
        if b.frozen is not None:
            updates.append(words("change.frozen" if b.frozen else "change.unfrozen"))
        if b.valid_until_ms is not None:
            day = place.local(b.valid_until_ms, place.store_of(event)).date().isoformat()
            updates.append(words("change.valid_until", date=day))
        if b.sessions_total is not None:
            updates.append(words("change.sessions_total", n=b.sessions_total))
        return words(
            "step.pass_update",
            staff_user=b.staff_user,
            changes=tuple(updates) or (words("change.none"),),
        )
    if isinstance(b, PointsExpire):
        return words("step.points_expire")
    if isinstance(b, StoredValueTopUp):
        return words("step.sv_topup", paid=b.paid_fen, bonus=b.bonus_fen, method=b.method.value)
    if isinstance(b, StoredValueSpend):
        return words("step.sv_spend", amount=b.amount_fen)
    if isinstance(b, StoredValueRefund):
        return words("step.sv_refund", amount=b.amount_fen, staff_user=b.staff_user)
    if isinstance(b, BonusExpire):
        return words("step.sv_bonus_expire")
    if isinstance(b, Purchase):
        return words("step.purchase", total=b.total_fen, method=b.method.value, points=b.points)
    return words("step.other", kind=event.kind)


def _what(kind: str, event: Event, place: Place) -> Words:
    b = event.body
    if kind in CLASS_KINDS and isinstance(b, ClassSignIn):
        return words("step.class_signin_member", member_id=event.member_id, sessions=b.sessions)
    return describe(event, place)


def _after(
    kind: str, subject: str | None, ledger: MemberLedger, at_ms: int, seats: int
) -> Words | None:
    if kind in CLASS_KINDS:
        return words("after.seats", n=seats)
    return _balance(kind, subject, ledger, at_ms)


def _balance(kind: str, subject: str | None, ledger: MemberLedger, at_ms: int) -> Words | None:
    if kind in PASS_KINDS and subject and (p := ledger.find_pass(subject)) is not None:
        return words("after.pass", left=p.sessions_left)
    if kind in COUPON_KINDS and subject and (c := ledger.find_coupon(subject)) is not None:
        return words("after.coupon", uses=c.redeem_count)
    if kind in MONEY_KINDS:
        sv = ledger.stored_value
        return words(
            "after.stored_value",
            available=sv.available_fen(at_ms),
            principal=sv.principal_fen,
            bonus=sv.bonus_available(at_ms),
        )
    if kind in POINTS_KINDS:
        return words(
            "after.points", available=ledger.points_available(at_ms), debt=ledger.points_debt
        )
    return None


# -- what staff can decide -------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    """A decision staff can take, the adjustment it records, and what it would do."""

    key: str
    body: Mapping[str, Any]
    """The adjustment fields of ``POST /api/v1/conflicts/{id}/resolve``."""
    text: Words


def resolutions(
    kind: str,
    *,
    member_id: str | None,
    subject_id: str | None,
    amount: int,
    ledger: MemberLedger | None,
) -> list[Resolution]:
    """What staff can decide for an open conflict, each with its effect on the balance now
    (``ledger``: the member's authoritative ledger; None when no member is involved)."""
    if ledger is None or member_id is None:
        return [Resolution("acknowledge", {}, words("option.acknowledge"))]
    if kind in PASS_KINDS and subject_id and (p := ledger.find_pass(subject_id)) is not None:
        give = max(1, amount)
        return [
            Resolution("accept", {}, words("option.pass_accept", left=p.sessions_left)),
            Resolution(
                "give_back",
                {"sessions_delta": give},
                words("option.give_back", give=give, after=p.sessions_left + give),
            ),
        ]
    if kind in COUPON_KINDS and subject_id and (c := ledger.find_coupon(subject_id)) is not None:
        options = [Resolution("accept", {}, words("option.coupon_accept", uses=c.redeem_count))]
        if c.is_used:
            options.append(
                Resolution(
                    "forgive_use",
                    {"coupon_uses_delta": -1},
                    words("option.forgive_use", after=c.redeem_count - 1),
                )
            )
        return options
    if kind in MONEY_KINDS:
        principal = ledger.stored_value.principal_fen
        owed = max(0, -principal)
        forgive = min(amount, owed) if owed else amount
        return [
            Resolution("accept", {}, words("option.keep_money_debt", principal=principal)),
            Resolution(
                "forgive_money",
                {"principal_delta_fen": forgive},
                words("option.forgive_money", forgive=forgive, after=principal + forgive),
            ),
        ]
    if kind in POINTS_KINDS:
        debt = ledger.points_debt
        forgive = min(amount, debt) if debt else amount
        return [
            Resolution("accept", {}, words("option.keep_debt", debt=debt)),
            Resolution(
                "forgive_points",
                {"points_delta": forgive},
                words("option.forgive_points", forgive=forgive, after=max(0, debt - forgive)),
            ),
        ]
    return [Resolution("accept", {}, words("option.accept"))]
