"""What an automation's trigger and segment mean for one member at one instant: the one
home of those rules (the coordinator's runner, its reports and tests all ask here).

:func:`occasions` answers with occasion keys: an automation acts at most once per member
per key (the runner's unique row), so a key names the occasion itself — the birthday of a
year, a points lot, a pass with its end date, an absence that began with a last visit — and
re-running on the next day, after a restart or on another replica finds nothing new. Days
are store-local in the rules' timezone. Pure: no IO, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

from shared.automation import (
    Automation,
    BirthdayTrigger,
    FirstVisitTrigger,
    InactiveTrigger,
    MemberDayTrigger,
    PassExpiringTrigger,
    PointsExpiringTrigger,
    ReferralTrigger,
    RegistrationTrigger,
    RfmEnteredTrigger,
    Segment,
)
from shared.decide import local_day
from shared.model import DAY_MS, LedgerBalances, PassKind, Rules


@dataclass(frozen=True)
class MemberFacts:
    """What automations look at for one member."""

    member_id: str
    created_ms: int
    ledger: LedgerBalances
    tier: str = "basic"
    home_store_id: str | None = None
    birthday: str | None = None
    """``YYYY-MM-DD`` or ``MM-DD`` (the year is not needed)."""
    tags: frozenset[str] = field(default_factory=frozenset)
    active: bool = True
    overdue_cycles: float | None = None
    """Days since the last visit over the member's usual cycle (the lapsed report's measure,
    computed by the coordinator over the visit history; None: too few visits to say)."""
    rfm_quadrant: str | None = None
    """The member's RFM quadrant (None: no visits nor value in the period)."""
    referred_by: str | None = None
    """The member who referred this one."""
    paid: bool = False
    """Has made a paid purchase: a purchase with a total, or a pass sold with a price
    (the coordinator reads it from the ledger events, for referred members only)."""


@lru_cache(maxsize=16)
def _local_date(now_ms: int, timezone: str) -> date:
    """The store-local date (cached: a run asks once per member with the same instant)."""
    return date.fromisoformat(local_day(now_ms, timezone))


def birthday_month_day(birthday: str | None) -> tuple[int, int] | None:
    """(month, day) of a ``YYYY-MM-DD`` or ``MM-DD`` birthday; None when absent or invalid."""
    if not birthday:
        return None
    try:
        month, day = (int(p) for p in birthday[-5:].split("-"))
        date(2000, month, day)  # a leap year: 02-29 is a birthday
    except ValueError:
        return None
    return month, day


def _birthday_in(year: int, month: int, day: int) -> date:
    """The birthday in ``year``: 29 February is kept on the 28th in other years."""
    if (month, day) == (2, 29):
        try:
            return date(year, 2, 29)
        except ValueError:
            return date(year, 2, 28)
    return date(year, month, day)


def next_birthday(birthday: str | None, today: date) -> date | None:
    """The member's birthday today or next (store-local), or None."""
    md = birthday_month_day(birthday)
    if md is None:
        return None
    this_year = _birthday_in(today.year, *md)
    return this_year if this_year >= today else _birthday_in(today.year + 1, *md)


def in_segment(segment: Segment, member: MemberFacts) -> bool:
    """True when the member belongs to the segment (every condition given holds)."""
    if segment.tiers and member.tier not in segment.tiers:
        return False
    if segment.tags and not member.tags.intersection(segment.tags):
        return False
    if segment.home_stores and member.home_store_id not in segment.home_stores:
        return False
    if segment.birthday_months:
        md = birthday_month_day(member.birthday)
        if md is None or md[0] not in segment.birthday_months:
            return False
    if segment.activity and activity(segment, member) not in segment.activity:
        return False
    return not segment.rfm_quadrants or member.rfm_quadrant in segment.rfm_quadrants


def referral_due(trigger: ReferralTrigger, referee: MemberFacts, now_ms: int) -> bool:
    """True when ``referee``'s referral earns its referrer a reward now: referred, active,
    registered within the trigger's days, and visited at least once or made a paid purchase
    (whichever comes first: the reward's occasion is the referee, so it is given once)."""
    return (
        referee.referred_by is not None
        and referee.active
        and (referee.ledger.checkins >= 1 or referee.paid)
        and 0 <= now_ms - referee.created_ms <= trigger.within_days * DAY_MS
    )


def activity(segment: Segment, member: MemberFacts) -> str:
    """``lapsed``, ``at_risk`` or ``active`` by the segment's thresholds."""
    overdue = member.overdue_cycles
    if overdue is None:
        return "active"
    if overdue * 1000 > segment.lapsed_factor_permille:
        return "lapsed"
    if overdue * 1000 > segment.at_risk_factor_permille:
        return "at_risk"
    return "active"


def occasions(
    automation: Automation,
    member: MemberFacts,
    now_ms: int,
    timezone: str,
    rules: Rules | None = None,
) -> list[str]:
    """The occasions on which ``automation`` acts for ``member`` at ``now_ms`` (keys; empty
    when none, when the automation is off, the member inactive or outside the segment).

    A referral acts for the referrer, not for the member who visited: the runner asks
    :func:`referral_due` about each referee and judges the referrer's segment itself. A
    member-day reminder needs the ``rules`` (their member days).
    """
    if not automation.enabled or not member.active:
        return []
    if not in_segment(automation.segment, member):
        return []
    trigger = automation.trigger
    ledger = member.ledger
    if isinstance(trigger, BirthdayTrigger):
        today = _local_date(now_ms, timezone)
        upcoming = next_birthday(member.birthday, today)
        if upcoming is None or upcoming - today > timedelta(days=trigger.days_before):
            return []
        return [f"birthday:{upcoming.isoformat()}"]
    if isinstance(trigger, MemberDayTrigger):
        day = _local_date(now_ms, timezone) + timedelta(days=trigger.days_before)
        if rules is None or rules.member_day(day.isoformat()) is None:
            return []
        return [f"member_day:{day.isoformat()}"]
    if isinstance(trigger, RegistrationTrigger):
        if 0 <= now_ms - member.created_ms <= trigger.within_days * DAY_MS:
            return ["registration"]
        return []
    if isinstance(trigger, FirstVisitTrigger):
        last = ledger.last_checkin_ms
        if (
            ledger.checkins == 1
            and last is not None
            and now_ms - last <= trigger.within_days * DAY_MS
        ):
            return ["first_visit"]
        return []
    if isinstance(trigger, RfmEnteredTrigger):
        quadrant = member.rfm_quadrant
        return [f"rfm:{quadrant}"] if quadrant in trigger.quadrants else []
    if isinstance(trigger, PointsExpiringTrigger):
        horizon = now_ms + trigger.within_days * DAY_MS
        return [
            f"points_expiring:{lot.lot_id}"
            for lot in ledger.points_lots
            if lot.remaining > 0 and now_ms < lot.expires_ms <= horizon
        ]
    if isinstance(trigger, PassExpiringTrigger):
        return _passes_ending(trigger, ledger, now_ms)
    if isinstance(trigger, InactiveTrigger):
        last = ledger.last_checkin_ms
        since = member.created_ms if last is None else last
        if now_ms - since >= trigger.days * DAY_MS:
            return [f"{trigger.kind}:{since}"]
        return []
    return []


def _passes_ending(trigger: PassExpiringTrigger, ledger: LedgerBalances, now_ms: int) -> list[str]:
    keys = []
    for p in ledger.passes:
        if p.frozen or not p.valid_from_ms <= now_ms <= p.valid_until_ms:
            continue
        if p.valid_until_ms - now_ms <= trigger.within_days * DAY_MS:
            # Time passes (月卡) end by date; a renewal moves the date: a new occasion.
            keys.append(f"pass_ends:{p.pass_id}:{p.valid_until_ms}")
        elif (
            trigger.sessions_left is not None
            and p.kind is PassKind.PUNCH
            and p.sessions_left <= trigger.sessions_left
        ):
            keys.append(f"pass_sessions:{p.pass_id}:{p.sessions_total}")
    return keys
