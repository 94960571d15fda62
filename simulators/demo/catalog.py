"""What the demo chain holds: stores, kiosks, members, passes, coupons, rewards, classes, logins.

Pure data built from a seeded random generator and the current time: the same seed gives
the same members and cards on every run, and today's class schedule is laid out in the
stores' local time with one class whose sign-in window is open while the demo runs.
Nothing here talks to anything; ``seed`` sends it to the coordinator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.automation import Automation
from shared.model import ClassSession, Reward, Rules
from shared.money import MoneyRules, TopUpTier

DAY_MS = 86_400_000
MIN_MS = 60_000
TIMEZONE = "Asia/Shanghai"
DEMO_PASSWORD = "tapfleet-demo"
"""Password of every demo login (the demo listens on 127.0.0.1 only)."""
STAFF_PIN = "2580"
"""Staff PIN of every demo kiosk."""
STAFF_CARD = "04DE40C0FFEE01"
"""A staff card: tapping it on a kiosk opens staff mode."""
OPEN_CLASS_TYPE = "yoga"


@dataclass(frozen=True)
class StoreSpec:
    """A store of the chain."""

    store_id: str
    short: str
    name: str
    timezone: str = TIMEZONE


@dataclass(frozen=True)
class KioskSpec:
    """A kiosk and where it stands."""

    kiosk_id: str
    store_id: str
    name: str


@dataclass(frozen=True)
class PassSpec:
    """A pass sold to a member (punch pass 计次卡 or time pass 月卡)."""

    pass_id: str
    kind: str
    name: str
    valid_from_ms: int
    valid_until_ms: int
    class_types: tuple[str, ...] = ()
    store_ids: tuple[str, ...] = ()
    sessions_total: int = 0
    price_fen: int = 0
    frozen: bool = False


@dataclass(frozen=True)
class MemberSpec:
    """A member with one card; ``display_name`` is masked for kiosk screens."""

    member_id: str
    full_name: str
    display_name: str
    phone: str
    lang: str
    home_store_id: str
    card_uid: str
    card_type: str
    """``ntag215`` (7-byte UID) or ``felica`` (8-byte IDm)."""
    points: int = 0
    passes: tuple[PassSpec, ...] = ()
    student: bool = False
    """Takes today's open class (taps in the class burst)."""
    prefers_qr: bool = False
    """Shows the phone QR code rather than the card."""
    birthday: str | None = None
    """``YYYY-MM-DD``: a couple of members have their birthday on the demo's day."""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoginSpec:
    """An ops user of the coordinator."""

    username: str
    role: str
    store_id: str | None
    password: str = DEMO_PASSWORD


@dataclass(frozen=True)
class CampaignSpec:
    """A coupon campaign and who gets it."""

    campaign_id: str
    title: str
    kind: str
    value: int
    store_ids: tuple[str, ...]
    segment: dict[str, object]
    valid_from_ms: int
    valid_until_ms: int


@dataclass(frozen=True)
class Roles:
    """Which kiosk plays which part in the traffic story."""

    studio: str
    """Kiosk of the store with the open class: the class burst happens here."""
    offline: str
    """Kiosk that loses its network and comes back with a backlog."""
    partner: str
    """Online kiosk where the same member spends again while ``offline`` is cut off."""
    points_member: str
    """Member whose points are spent at both kiosks (points overdrawn conflict)."""
    coupon_member: str | None
    """Member whose store voucher is used at both kiosks (only when they share a store)."""
    coupon_campaign: str | None
    hands_on_member: str
    """Member the traffic never uses: for the person trying taps by hand."""


@dataclass(frozen=True)
class Catalog:
    """Everything the demo seeds."""

    stores: tuple[StoreSpec, ...]
    kiosks: tuple[KioskSpec, ...]
    members: tuple[MemberSpec, ...]
    logins: tuple[LoginSpec, ...]
    campaigns: tuple[CampaignSpec, ...]
    rewards: tuple[Reward, ...]
    classes: tuple[ClassSession, ...]
    rules: Rules
    open_class_id: str
    roles: Roles
    staff_pin: str = STAFF_PIN
    staff_card: str = STAFF_CARD
    member_index: dict[str, MemberSpec] = field(default_factory=dict, compare=False)
    studio_week: dict[str, Any] = field(default_factory=dict)
    """The studio's weekly timetable (the body of ``PUT /api/v1/stores/{id}/timetable``)."""

    def member(self, member_id: str) -> MemberSpec:
        """The member with this id."""
        if not self.member_index:
            self.member_index.update({m.member_id: m for m in self.members})
        return self.member_index[member_id]

    def store(self, store_id: str) -> StoreSpec:
        """The store with this id."""
        return next(s for s in self.stores if s.store_id == store_id)

    def kiosk(self, kiosk_id: str) -> KioskSpec:
        """The kiosk with this id."""
        return next(k for k in self.kiosks if k.kiosk_id == kiosk_id)

    @property
    def admin(self) -> LoginSpec:
        """The HQ admin (created by the coordinator at first start)."""
        return next(login for login in self.logins if login.role == "hq_admin")

    @property
    def class_store_id(self) -> str:
        """The store whose class is open during the demo."""
        return self.kiosk(self.roles.studio).store_id


MONEY_RULES = MoneyRules(
    topup_tiers=(
        TopUpTier(min_paid_fen=100_000, bonus_fen=10_000, bonus_expiry_days=180),
        TopUpTier(min_paid_fen=300_000, bonus_fen=45_000, bonus_expiry_days=365),
    ),
)
"""充值送: pay ¥1,000 get ¥100 (180 days), pay ¥3,000 get ¥450 (a year); cap ¥5,000."""

STORES = (
    StoreSpec("s-xuhui", "xuhui", "徐汇旗舰店 Xuhui Flagship"),
    StoreSpec("s-jingan", "jingan", "静安店 Jing'an"),
    StoreSpec("s-pudong", "pudong", "浦东训练馆 Pudong Studio"),
)

_SURNAMES = "李王张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
_GIVEN = ("建华", "小明", "伟", "洋", "静", "帆", "丽娟", "磊", "婷", "昊", "静怡", "悦", "超",
          "琳", "斌", "敏", "欢", "翔", "晓东", "佳")  # fmt: skip
_FIRST = ("Anna", "Bob", "Chloe", "David", "Emma", "Frank", "Grace", "Henry", "Ivy", "Jack",
          "Kate", "Leo", "Mia", "Noah", "Olivia", "Peter")  # fmt: skip
_LAST = ("Lee", "Smith", "Chen", "Wang", "Zhou", "Liu", "Kim", "Ma", "Xu", "Sun", "Lin", "He")

REWARDS = (
    Reward(reward_id="water", title_zh="矿泉水", title_en="Bottle of water", points_cost=20),
    Reward(reward_id="protein-bar", title_zh="蛋白棒", title_en="Protein bar", points_cost=60),
    Reward(reward_id="towel", title_zh="运动毛巾", title_en="Sports towel", points_cost=200),
    Reward(reward_id="yoga-mat", title_zh="瑜伽垫", title_en="Yoga mat", points_cost=1500),
)

# (store short name, HH:MM, minutes, class type, title zh, title en, instructor)
_TIMETABLE = (
    ("xuhui", "07:30", 60, "yoga", "晨间瑜伽", "Morning yoga", "Lin"),
    ("xuhui", "12:15", 45, "hiit", "午间燃脂", "Lunchtime HIIT", "Marco"),
    ("xuhui", "19:00", 60, "pilates", "普拉提", "Pilates", "Zhou"),
    ("jingan", "10:00", 45, "spin", "动感单车", "Spinning", "Kai"),
    ("jingan", "18:30", 60, "boxing", "拳击", "Boxing", "Wu"),
    ("jingan", "20:00", 45, "stretch", "拉伸放松", "Stretch and relax", "Lin"),
    ("pudong", "09:00", 60, "yoga", "哈他瑜伽", "Hatha yoga", "Lin"),
    ("pudong", "14:00", 60, "pilates", "器械普拉提", "Reformer pilates", "Zhou"),
    ("pudong", "20:30", 60, "yoga", "阴瑜伽", "Yin yoga", "Chen"),
)
_SIGNIN_BEFORE_S = 1800
SMALL_CLASS_SLOT = "yoga-small"
SMALL_CLASS_CAPACITY = 6
SMALL_CLASS_DAYS_AHEAD = 2
"""A weekly small-group yoga class (16:00, six seats) the demo books full, with a waitlist."""
_SIGNIN_AFTER_S = 900


def mask_zh(name: str) -> str:
    """A Chinese name masked for screens: 李建华 -> 李*华, 张伟 -> 张*."""
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_en(name: str) -> str:
    """An English name masked for screens: Anna Lee -> Anna L."""
    first, _, last = name.partition(" ")
    return f"{first} {last[0]}." if last else first


def kiosk_layout(count: int) -> tuple[KioskSpec, ...]:
    """``count`` kiosks spread over the stores in turn (the first store gets the extra ones)."""
    per_store: dict[str, int] = {}
    kiosks = []
    for i in range(count):
        store = STORES[i % len(STORES)]
        per_store[store.store_id] = per_store.get(store.store_id, 0) + 1
        n = per_store[store.store_id]
        kiosks.append(KioskSpec(f"k-{store.short}-{n}", store.store_id, f"{store.name} #{n}"))
    return tuple(kiosks)


def assign_roles(kiosks: tuple[KioskSpec, ...]) -> tuple[str, str, str]:
    """(studio, offline, partner) kiosk ids for the traffic story; needs two kiosks."""
    if len(kiosks) < 2:
        raise ValueError("the demo needs at least 2 kiosks (one goes offline, one stays up)")
    by_store: dict[str, list[KioskSpec]] = {}
    for k in kiosks:
        by_store.setdefault(k.store_id, []).append(k)
    class_store = STORES[2].store_id if STORES[2].store_id in by_store else STORES[1].store_id
    studio = by_store[class_store][0].kiosk_id
    first_store = by_store[STORES[0].store_id]
    offline = first_store[-1].kiosk_id
    others = [k.kiosk_id for k in kiosks if k.kiosk_id not in (offline, studio)]
    partner = others[0] if others else studio
    return studio, offline, partner


def _card_uid(rng: random.Random, card_type: str, used: set[str]) -> str:
    while True:
        if card_type == "felica":
            uid = "012E" + rng.randbytes(6).hex().upper()  # IDm: manufacturer code + serial
        else:
            uid = "04" + rng.randbytes(6).hex().upper()  # NXP 7-byte UID
        if uid not in used and uid != STAFF_CARD:
            used.add(uid)
            return uid


def _name(rng: random.Random, lang: str, used: set[str]) -> tuple[str, str]:
    while True:
        if lang == "zh":
            full = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
            masked = mask_zh(full)
        else:
            full = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
            masked = mask_en(full)
        if full not in used:
            used.add(full)
            return full, masked


DEMO_AUTOMATIONS = (
    Automation.model_validate(
        {
            "automation_id": "birthday-greeting",
            "name": "生日祝福 Birthday greeting",
            "trigger": {"kind": "birthday", "days_before": 0},
            "actions": [
                {"kind": "issue_coupon", "title": "生日礼券 Birthday voucher", "value": 3000,
                 "valid_days": 14},
                {"kind": "notify", "text_zh": "生日快乐！送您一张生日礼券。",
                 "text_en": "Happy birthday! A birthday voucher is waiting for you."},
            ],
        }
    ),
    Automation.model_validate(
        {
            "automation_id": "welcome-gift",
            "name": "新会员礼 Welcome gift",
            "trigger": {"kind": "registration", "within_days": 7},
            "segment": {"tags": ["new"]},
            "actions": [
                {"kind": "grant_points", "points": 100},
                {"kind": "notify", "text_zh": "欢迎加入！已赠送 100 积分。",
                 "text_en": "Welcome! 100 points are on your card."},
            ],
        }
    ),
)  # fmt: skip
"""Automations of the demo chain (their notifications reach the demo's webhook receiver)."""


def build_catalog(
    now_ms: int,
    *,
    kiosks: int = 4,
    students: int = 20,
    regulars: int = 30,
    seed: int = 2024,
) -> Catalog:
    """The demo chain at ``now_ms``: deterministic for a seed, today's classes around now."""
    rng = random.Random(seed)
    layout = kiosk_layout(kiosks)
    studio, offline, partner = assign_roles(layout)
    class_store = next(k.store_id for k in layout if k.kiosk_id == studio)
    offline_store = next(k.store_id for k in layout if k.kiosk_id == offline)
    partner_store = next(k.store_id for k in layout if k.kiosk_id == partner)
    classes, open_class = todays_classes(now_ms, class_store, timetabled=frozenset({class_store}))
    week = studio_week(now_ms, class_store)

    names: set[str] = set()
    uids: set[str] = set()
    members: list[MemberSpec] = []
    year = now_ms + 365 * DAY_MS

    def member(index: int, *, lang: str, home: str, **extra: object) -> MemberSpec:
        full, masked = _name(rng, lang, names)
        card_type = "felica" if index % 3 == 2 else "ntag215"
        return MemberSpec(
            member_id=f"M{index:04d}",
            full_name=full,
            display_name=masked,
            phone=f"1380013{index:04d}",
            lang=lang,
            home_store_id=home,
            card_uid=_card_uid(rng, card_type, uids),
            card_type=card_type,
            **extra,  # type: ignore[arg-type]
        )

    index = 1000
    for i in range(students):
        index += 1
        lang = "en" if i % 4 == 3 else "zh"
        frozen = i == students - 2
        expired = i == students - 1
        yoga = PassSpec(
            pass_id=f"P{index:04d}-yoga",
            kind="punch",
            name="瑜伽10次卡 Yoga 10-class pass",
            class_types=(OPEN_CLASS_TYPE,),
            store_ids=(class_store,),
            sessions_total=10,
            price_fen=128_000,
            valid_from_ms=now_ms - 40 * DAY_MS,
            valid_until_ms=(now_ms - DAY_MS) if expired else (now_ms + 80 * DAY_MS),
            frozen=frozen,
        )
        members.append(
            member(
                index,
                lang=lang,
                home=class_store,
                points=rng.randrange(0, 60) * 10,
                passes=(yoga,),
                student=True,
                prefers_qr=i % 7 == 5,
            )
        )
    for i in range(regulars):
        index += 1
        lang = "en" if i % 3 == 1 else "zh"
        home = STORES[i % 2].store_id  # regulars visit the two gyms; the studio has classes
        passes: tuple[PassSpec, ...] = ()
        if i % 4 == 0:
            passes = (
                PassSpec(
                    pass_id=f"P{index:04d}-month",
                    kind="time",
                    name="月卡 Monthly pass",
                    valid_from_ms=now_ms - 5 * DAY_MS,
                    valid_until_ms=now_ms + 25 * DAY_MS,
                    price_fen=39_900,
                ),
            )
        elif i % 4 == 1:
            passes = (
                PassSpec(
                    pass_id=f"P{index:04d}-pt",
                    kind="punch",
                    name="私教5次卡 5 personal training sessions",
                    class_types=("pt",),
                    sessions_total=5,
                    price_fen=150_000,
                    valid_from_ms=now_ms - 10 * DAY_MS,
                    valid_until_ms=year,
                ),
            )
        members.append(
            member(
                index,
                lang=lang,
                home=home,
                points=rng.randrange(2, 150) * 10,
                passes=passes,
                prefers_qr=i % 3 == 2,
            )
        )
    # The members of the offline story, and one for hands-on taps: kept out of the traffic.
    index += 1
    points_member = member(index, lang="zh", home=offline_store, points=300)
    members.append(points_member)
    coupon_member: MemberSpec | None = None
    if partner_store == offline_store:
        index += 1
        coupon_member = member(index, lang="en", home=offline_store, points=80)
        members.append(coupon_member)

    index += 1
    hands_on = member(index, lang="zh", home=offline_store, points=500)
    members.append(hands_on)

    month = now_ms + 30 * DAY_MS
    campaigns = [
        CampaignSpec(
            campaign_id="welcome-trial",
            title="免费体验课 Free trial class",
            kind="trial",
            value=0,
            store_ids=(),
            segment={"all_members": True},
            valid_from_ms=now_ms - DAY_MS,
            valid_until_ms=month,
        ),
        CampaignSpec(
            campaign_id=f"voucher-{STORES[0].short}",
            title="¥20 代金券 ¥20 voucher",
            kind="voucher",
            value=2000,
            store_ids=(STORES[0].store_id,),
            segment={"home_store_id": STORES[0].store_id},
            valid_from_ms=now_ms - DAY_MS,
            valid_until_ms=now_ms + 14 * DAY_MS,
        ),
    ]
    # Engagement: two birthdays today, two members tagged new (their welcome gift).
    today = datetime.fromtimestamp(now_ms / 1000, ZoneInfo(TIMEZONE)).strftime("%m-%d")
    members = [
        replace(m, birthday=f"199{i}-{today}")
        if i < 2
        else replace(m, tags=("new",))
        if i < 4
        else m
        for i, m in enumerate(members)
    ]
    logins = [LoginSpec("hq-admin", "hq_admin", None)]
    logins += [LoginSpec(f"mgr-{s.short}", "store_manager", s.store_id) for s in STORES]
    logins.append(LoginSpec("viewer", "viewer", None))
    return Catalog(
        stores=STORES,
        kiosks=layout,
        members=tuple(members),
        logins=tuple(logins),
        campaigns=tuple(campaigns),
        rewards=REWARDS,
        classes=classes,
        studio_week=week,
        rules=Rules(
            timezone=TIMEZONE,
            points_per_checkin=10,
            undo_window_s=180,
            money=MONEY_RULES,
            automations=DEMO_AUTOMATIONS,
        ),
        open_class_id=open_class,
        roles=Roles(
            studio=studio,
            offline=offline,
            partner=partner,
            points_member=points_member.member_id,
            coupon_member=coupon_member.member_id if coupon_member else None,
            coupon_campaign=campaigns[1].campaign_id if coupon_member else None,
            hands_on_member=hands_on.member_id,
        ),
    )


def _busy(now_ms: int, starts_ms: int, horizon_h: int) -> bool:
    """True when a class's sign-in window falls within the demo's busy hours (the open
    class's burst), where only the open class should take sign-ins."""
    opens = starts_ms - _SIGNIN_BEFORE_S * 1000
    closes = starts_ms + _SIGNIN_AFTER_S * 1000
    return opens <= now_ms + horizon_h * 3_600_000 and closes >= now_ms - 10 * MIN_MS


def studio_week(
    now_ms: int, class_store_id: str, timezone: str = TIMEZONE, horizon_h: int = 3
) -> dict[str, Any]:
    """The studio's weekly timetable: its classes of :data:`_TIMETABLE` Monday to Saturday
    and the morning one on Sunday, in one room, 20 seats, ¥88 a drop-in. Today's sessions
    whose sign-in falls in the demo's busy hours are cancelled (exceptions), so the open
    class is the one taking sign-ins."""
    short = next(s.short for s in STORES if s.store_id == class_store_id)
    entries = [e for e in _TIMETABLE if e[0] == short]
    zone = ZoneInfo(timezone)
    today = datetime.fromtimestamp(now_ms / 1000, zone).date()
    slots: list[dict[str, Any]] = []
    exceptions: list[dict[str, Any]] = []
    for weekday in range(7):
        for i, (_, hhmm, minutes, class_type, zh, en, teacher) in enumerate(entries):
            if weekday == 6 and i > 0:
                continue
            slot_id = f"{class_type}-{hhmm.replace(':', '')}-d{weekday}"
            slots.append(
                {
                    "slot_id": slot_id,
                    "room": "studio-1",
                    "class_type": class_type,
                    "title_zh": zh,
                    "title_en": en,
                    "coach": teacher,
                    "weekday": weekday,
                    "start": hhmm,
                    "length_min": minutes,
                    "capacity": 20,
                    "signin_opens_before_s": _SIGNIN_BEFORE_S,
                    "signin_closes_after_s": _SIGNIN_AFTER_S,
                    "drop_in_price_fen": 8800,
                }
            )
            hour, minute = (int(x) for x in hhmm.split(":"))
            starts = datetime(today.year, today.month, today.day, hour, minute, tzinfo=zone)
            if weekday == today.weekday() and _busy(
                now_ms, int(starts.timestamp() * 1000), horizon_h
            ):
                exceptions.append(
                    {"kind": "cancelled", "slot_id": slot_id, "day": today.isoformat(),
                     "note": "demo: the open class takes sign-ins"}
                )  # fmt: skip
    small_day = today + timedelta(days=SMALL_CLASS_DAYS_AHEAD)
    slots.append(
        {
            "slot_id": SMALL_CLASS_SLOT,
            "room": "studio-1",
            "class_type": OPEN_CLASS_TYPE,
            "title_zh": "小班瑜伽",
            "title_en": "Small-group yoga",
            "coach": entries[0][6],
            "weekday": small_day.weekday(),
            "start": "16:00",
            "length_min": 45,
            "capacity": SMALL_CLASS_CAPACITY,
            "signin_opens_before_s": _SIGNIN_BEFORE_S,
            "signin_closes_after_s": _SIGNIN_AFTER_S,
            "drop_in_price_fen": 8800,
        }
    )
    return {"slots": slots, "exceptions": exceptions, "note": "demo: the studio's week"}


def small_class_session(now_ms: int, timezone: str = TIMEZONE) -> str:
    """The session id of the small-group class the demo fills (bookings, a waitlist, a
    cancellation that promotes it): :data:`SMALL_CLASS_DAYS_AHEAD` days from today."""
    today = datetime.fromtimestamp(now_ms / 1000, ZoneInfo(timezone)).date()
    return f"{SMALL_CLASS_SLOT}:{today + timedelta(days=SMALL_CLASS_DAYS_AHEAD):%Y%m%d}"


def todays_classes(
    now_ms: int,
    class_store_id: str,
    timezone: str = TIMEZONE,
    horizon_h: int = 3,
    timetabled: frozenset[str] = frozenset(),
) -> tuple[tuple[ClassSession, ...], str]:
    """Today's timetable in store-local time, plus a class in ``class_store_id`` whose
    sign-in is open now; returns (classes, id of the open class).

    Classes of ``timetabled`` stores are left out (their weekly timetable holds them).
    Timetable classes whose sign-in window falls within the next ``horizon_h`` hours are
    left out, so that one class is open during the demo (the studio's) and its roster and
    the class burst are easy to follow; taps elsewhere stay plain check-ins.
    """
    zone = ZoneInfo(timezone)
    now = datetime.fromtimestamp(now_ms / 1000, zone)
    day = now.date()
    busy_from = now_ms - 10 * MIN_MS
    busy_until = now_ms + horizon_h * 3_600_000
    short_to_id = {s.short: s.store_id for s in STORES}
    classes: list[ClassSession] = []
    for short, hhmm, minutes, class_type, zh, en, teacher in _TIMETABLE:
        if short_to_id[short] in timetabled:
            continue  # the store's own weekly timetable holds these (studio_week)
        hour, minute = (int(x) for x in hhmm.split(":"))
        starts = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        starts_ms = int(starts.timestamp() * 1000)
        opens = starts_ms - _SIGNIN_BEFORE_S * 1000
        closes = starts_ms + _SIGNIN_AFTER_S * 1000
        if opens <= busy_until and closes >= busy_from:
            continue
        classes.append(
            ClassSession(
                class_session_id=f"{short}-{day:%Y%m%d}-{hour:02d}{minute:02d}-{class_type}",
                class_type=class_type,
                store_id=short_to_id[short],
                title_zh=zh,
                title_en=en,
                starts_ms=starts_ms,
                ends_ms=starts_ms + minutes * MIN_MS,
                signin_opens_before_s=_SIGNIN_BEFORE_S,
                signin_closes_after_s=_SIGNIN_AFTER_S,
                capacity=20,
                instructor=teacher,
            )
        )
    # The open class starts 10-15 minutes from now, on a five-minute mark.
    start = (now + timedelta(minutes=15)).replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 5)
    start_ms = int(start.timestamp() * 1000)
    open_id = f"{class_store_id.removeprefix('s-')}-{start:%Y%m%d-%H%M}-flow-yoga"
    classes.append(
        ClassSession(
            class_session_id=open_id,
            class_type=OPEN_CLASS_TYPE,
            store_id=class_store_id,
            title_zh="流瑜伽",
            title_en="Flow yoga",
            starts_ms=start_ms,
            ends_ms=start_ms + 60 * MIN_MS,
            signin_opens_before_s=_SIGNIN_BEFORE_S,
            signin_closes_after_s=30 * 60,
            capacity=30,
            instructor="Lin",
        )
    )
    classes.sort(key=lambda c: (c.starts_ms, c.store_id))
    return tuple(classes), open_id
