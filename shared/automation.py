"""Automations the chain defines in its rules: a trigger, a segment (the audience) and an
action, run centrally at most once per member per occasion.

Values only (no rule logic and no import of :mod:`shared.model`, which holds them in
``Rules.automations``): what each trigger means for a member is decided by
:mod:`shared.engage`, the one home of those rules. A grant of points must be bounded: an
automation whose trigger can fire without limit (points expiring, a pass ending) may not
grant points, and the others grant at most ``MAX_POINTS_PER_MEMBER_YEAR`` a year.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

AutoId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,40}$")]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Title = Annotated[str, StringConstraints(max_length=200)]

MAX_POINTS_PER_MEMBER_YEAR = 10_000
"""The most points one automation may grant one member in a year (worst case)."""


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Activity = Literal["lapsed", "at_risk"]
Quadrant = Literal["champions", "loyal", "big_spenders", "occasional"]

# -- triggers ---------------------------------------------------------------------------------


class BirthdayTrigger(_Value):
    """The member's birthday is ``days_before`` days away or less (once a year)."""

    kind: Literal["birthday"] = "birthday"
    days_before: Annotated[int, Field(ge=0, le=60)] = 0


class RegistrationTrigger(_Value):
    """The member registered within the last ``within_days`` days (once ever)."""

    kind: Literal["registration"] = "registration"
    within_days: Annotated[int, Field(ge=1, le=90)] = 7


class FirstVisitTrigger(_Value):
    """The member's first visit ever, seen within ``within_days`` days of it (once ever)."""

    kind: Literal["first_visit"] = "first_visit"
    within_days: Annotated[int, Field(ge=1, le=90)] = 7


class RfmEnteredTrigger(_Value):
    """The member is in one of ``quadrants`` of the RFM report (once per quadrant)."""

    kind: Literal["rfm_entered"] = "rfm_entered"
    quadrants: tuple[Quadrant, ...] = Field(min_length=1)


class ReferralTrigger(_Value):
    """A member someone referred registered within ``within_days`` and has visited or made a
    paid purchase (a purchase, a pass sold with a price): the referrer is rewarded (and,
    with ``second_level``, the referrer's referrer), once per referee and level, for at most
    ``max_per_year`` referrals a year each (the points bound). The actions go to the
    referrer, not to the referee."""

    kind: Literal["referral"] = "referral"
    within_days: Annotated[int, Field(ge=1, le=90)] = 30
    second_level: bool = False
    max_per_year: Annotated[int, Field(ge=1, le=100)] = 12


class MemberDayTrigger(_Value):
    """A member day of the rules is ``days_before`` days away (once per member day): the
    reminder; the points multiplier itself is applied by the kiosk (``Rules.member_days``)."""

    kind: Literal["member_day"] = "member_day"
    days_before: Annotated[int, Field(ge=0, le=7)] = 0


class PointsExpiringTrigger(_Value):
    """A points lot with points left expires within ``within_days`` days (once per lot)."""

    kind: Literal["points_expiring"] = "points_expiring"
    within_days: Annotated[int, Field(ge=1, le=365)] = 30


class PassExpiringTrigger(_Value):
    """A pass (punch or time) ends within ``within_days`` days, or a punch pass has
    ``sessions_left`` sessions or fewer (once per pass and end date / session count)."""

    kind: Literal["pass_expiring"] = "pass_expiring"
    within_days: Annotated[int, Field(ge=0, le=365)] = 7
    sessions_left: Annotated[int | None, Field(ge=0, le=1000)] = None


class InactiveTrigger(_Value):
    """No visit for ``days`` days: ``at_risk`` (early) or ``lapsed`` (once per absence)."""

    kind: Literal["at_risk", "lapsed"] = "lapsed"
    days: Annotated[int, Field(ge=7, le=3650)] = 60


AnyTrigger = (
    BirthdayTrigger | RegistrationTrigger | FirstVisitTrigger | PointsExpiringTrigger
    | PassExpiringTrigger | InactiveTrigger | RfmEnteredTrigger | ReferralTrigger
    | MemberDayTrigger
)  # fmt: skip
Trigger = Annotated[AnyTrigger, Field(discriminator="kind")]


def occasions_per_year(trigger: AnyTrigger) -> int | None:
    """The most occasions a trigger can give one member in a year (None: no limit)."""
    if isinstance(trigger, BirthdayTrigger | RegistrationTrigger | FirstVisitTrigger):
        return 1
    if isinstance(trigger, MemberDayTrigger):
        return 366  # at most every day
    if isinstance(trigger, RfmEnteredTrigger):
        return len(set(trigger.quadrants))  # once per quadrant, ever
    if isinstance(trigger, ReferralTrigger):  # as a referrer, and as a referrer's referrer
        return trigger.max_per_year * (2 if trigger.second_level else 1)
    if isinstance(trigger, InactiveTrigger):
        # An absence ends with a visit; the next needs ``days`` more days without one.
        return 365 // trigger.days + 1
    return None  # a lot per visit, a pass per sale: as many as the member makes


# -- segments ---------------------------------------------------------------------------------


class Segment(_Value):
    """Who an automation or a campaign is for: every condition given must hold (empty:
    every member); within one condition, any of the values listed."""

    tiers: tuple[AutoId, ...] = ()
    tags: tuple[Tag, ...] = Field((), description="The member has at least one of these tags.")
    home_stores: tuple[AutoId, ...] = ()
    birthday_months: tuple[Annotated[int, Field(ge=1, le=12)], ...] = ()
    activity: tuple[Activity, ...] = Field(
        (),
        description=(
            "lapsed: no visit for longer than lapsed_factor_permille of the member's usual "
            "cycle; at_risk: longer than at_risk_factor_permille of it, not yet lapsed."
        ),
    )
    lapsed_factor_permille: Annotated[int, Field(ge=1000, le=10_000)] = 2000
    """Lapsed: days since the last visit over this many thousandths of the usual cycle (the
    lapsed report's 2x by default)."""
    at_risk_factor_permille: Annotated[int, Field(ge=1000, le=10_000)] = 1500
    """At risk: over this, not yet lapsed (earlier than the lapsed threshold)."""
    rfm_quadrants: tuple[Quadrant, ...] = Field((), description="The RFM report's quadrants.")

    @property
    def needs_activity(self) -> bool:
        """True when the members' visit history must be analysed (lapsed, at risk, RFM)."""
        return bool(self.activity or self.rfm_quadrants)


# -- actions ----------------------------------------------------------------------------------


class IssueCoupon(_Value):
    """Give the member a coupon valid ``valid_days`` days from the occasion."""

    kind: Literal["issue_coupon"] = "issue_coupon"
    coupon_kind: Literal["discount", "voucher", "trial"] = "voucher"
    title: Title
    value: Annotated[int, Field(ge=0, le=10**7)] = 0
    valid_days: Annotated[int, Field(ge=1, le=366)] = 30
    store_ids: tuple[AutoId, ...] = ()


class GrantPoints(_Value):
    """Give the member ``points`` points (bounded: see :data:`MAX_POINTS_PER_MEMBER_YEAR`)."""

    kind: Literal["grant_points"] = "grant_points"
    points: Annotated[int, Field(ge=1, le=MAX_POINTS_PER_MEMBER_YEAR)]


class AddTag(_Value):
    """Put a tag on the member (for later segments and the front desk)."""

    kind: Literal["add_tag"] = "add_tag"
    tag: Tag


class Notify(_Value):
    """Tell the member (a ``notification.<trigger>`` webhook to the chain's gateway)."""

    kind: Literal["notify"] = "notify"
    text_zh: Title
    text_en: Title = ""


Action = Annotated[IssueCoupon | GrantPoints | AddTag | Notify, Field(discriminator="kind")]


class Automation(_Value):
    """One automation of the chain."""

    automation_id: AutoId
    name: Title
    enabled: bool = True
    trigger: Trigger
    segment: Segment = Segment()
    actions: tuple[Action, ...] = Field(min_length=1, max_length=5)

    @property
    def needs_activity(self) -> bool:
        """True when the visit history must be analysed (segment or RFM trigger)."""
        return self.segment.needs_activity or isinstance(self.trigger, RfmEnteredTrigger)

    @model_validator(mode="after")
    def _points_bounded(self) -> Automation:
        grant = sum(a.points for a in self.actions if isinstance(a, GrantPoints))
        if not grant:
            return self
        per_year = occasions_per_year(self.trigger)
        if per_year is None:
            raise ValueError(
                f"automation {self.automation_id}: a {self.trigger.kind} trigger can fire "
                "without limit, so it may not grant points (issue a coupon instead)"
            )
        if grant * per_year > MAX_POINTS_PER_MEMBER_YEAR:
            raise ValueError(
                f"automation {self.automation_id}: up to {grant * per_year} points a member "
                f"a year ({grant} x {per_year} occasions); the limit is "
                f"{MAX_POINTS_PER_MEMBER_YEAR}"
            )
        return self
