"""Stored value (储值): the money rules, the balance's shape and its worst offline case.

Pure values and functions, no IO. Amounts are integer fen everywhere. A member's stored
value has two parts: **principal** (money the member paid; refundable) and **bonus** (given
by a top-up rule, 充值送; never refunded, may expire). The chain's rules
(:class:`MoneyRules`, carried in the rule bundle as ``Rules.money``) say which top-ups earn
which bonus, the cap per member, the spend order and how much a kiosk may spend without the
coordinator's confirmation.

Spend order. ``bonus_first`` (the default) takes live bonus, soonest expiring first, then
principal: bonus that may expire is used before it can, which is what members expect of
充值送. The known cost: a member who tops up ¥1,000 (+¥100), spends ¥100 of bonus and asks
for a refund gets the whole ¥1,000 principal back. A chain that prefers the bonus to be the
last thing spent picks ``principal_first``. The order in force is written into each spend
fact, so a fold never needs the rules and a rule change never rewrites history.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

DAY_MS = 86_400_000

Fen = Annotated[int, Field(ge=1, le=10**9)]
"""A positive amount of money in fen (¥1 = 100 fen)."""

DEFAULT_MEMBER_CAP_FEN = 500_000
"""¥5,000: the registered prepaid-card cap and Shanghai's 2025 fitness stored-value cap."""


class _Frozen(BaseModel):
    # shared.model.Frozen, repeated: shared.model imports this module for Rules.money.
    model_config = ConfigDict(frozen=True, extra="forbid")


class SpendOrder(StrEnum):
    """Which part of the balance a spend takes first."""

    BONUS_FIRST = "bonus_first"
    PRINCIPAL_FIRST = "principal_first"


class PaymentMethod(StrEnum):
    """How money reached the chain (top-ups) or how a purchase was paid."""

    CASH = "cash"
    CARD = "card"
    """Bank card (UnionPay POS)."""
    WECHAT = "wechat"
    ALIPAY = "alipay"
    EXTERNAL = "external"
    """Settled by another system (a franchisee's POS, a voucher platform)."""


class TopUpTier(_Frozen):
    """Pay at least ``min_paid_fen`` in one top-up, get ``bonus_fen`` bonus (充值送)."""

    min_paid_fen: Fen
    bonus_fen: Annotated[int, Field(ge=0, le=10**9)]
    bonus_expiry_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    """The bonus expires this many days after the top-up; None: it never does."""


class StoredValueLimits(_Frozen):
    """How much stored value a kiosk may spend on a balance the coordinator has not confirmed.

    An *unconfirmed* spend is one of this kiosk's spends not yet folded into the member
    snapshot it holds (online that lasts a moment, offline until it reconnects). The anchors:
    EMV floor limits with a cap on consecutive offline transactions; Octopus lets a card go
    negative once, by at most its deposit.
    """

    max_unconfirmed_fen_per_member: Annotated[int, Field(ge=0, le=10**9)] = 50_000
    """All of this kiosk's unconfirmed spends for one member, online or offline (¥500);
    larger charges go through the coordinator (``POST /api/v1/purchases``)."""
    max_offline_spend_fen: Annotated[int, Field(ge=0, le=10**9)] = 20_000
    """One spend while offline (¥200)."""
    max_consecutive_offline_spends: Annotated[int, Field(ge=0, le=100)] = 3
    """Offline spends for one member at this kiosk before the coordinator confirms them."""
    kiosk_max_unconfirmed_fen: Annotated[int, Field(ge=0, le=10**10)] = 500_000
    """Everything this kiosk spent, all members, not yet confirmed (¥5,000)."""

    def member_exposure_fen(self) -> int:
        """The most one kiosk can hold unconfirmed for one member."""
        return min(self.max_unconfirmed_fen_per_member, self.kiosk_max_unconfirmed_fen)


class MoneyRules(_Frozen):
    """The chain's stored-value rules (``Rules.money``)."""

    topup_tiers: tuple[TopUpTier, ...] = ()
    member_cap_fen: Annotated[int, Field(ge=0, le=10**10)] = DEFAULT_MEMBER_CAP_FEN
    """Most principal a member may hold after a top-up, across every store of the chain."""
    max_topup_fen: Annotated[int, Field(ge=1, le=10**9)] = DEFAULT_MEMBER_CAP_FEN
    max_spend_fen: Annotated[int, Field(ge=1, le=10**9)] = DEFAULT_MEMBER_CAP_FEN
    """Most one spend or purchase may take (a typo guard, not a balance rule)."""
    spend_order: SpendOrder = SpendOrder.BONUS_FIRST
    offline: StoredValueLimits = StoredValueLimits()
    points_per_yuan: Annotated[int, Field(ge=0, le=1000)] = 1
    """Points a purchase earns per whole yuan paid, before the tier's multiplier."""

    def tier_for(self, paid_fen: int) -> TopUpTier | None:
        """The top-up tier ``paid_fen`` reaches (the highest threshold), or None."""
        reached = [t for t in self.topup_tiers if paid_fen >= t.min_paid_fen]
        return max(reached, key=lambda t: (t.min_paid_fen, t.bonus_fen)) if reached else None

    def bonus_for(self, paid_fen: int, now_ms: int) -> tuple[int, int | None]:
        """(bonus fen, bonus expiry ms or None) a top-up of ``paid_fen`` at ``now_ms`` earns."""
        tier = self.tier_for(paid_fen)
        if tier is None or tier.bonus_fen == 0:
            return 0, None
        expires = now_ms + tier.bonus_expiry_days * DAY_MS if tier.bonus_expiry_days else None
        return tier.bonus_fen, expires


class BonusLot(_Frozen):
    """Bonus granted by one top-up (``lot_id`` is the top-up event's id)."""

    lot_id: str
    granted_ms: int
    expires_ms: int | None = None
    amount: int
    remaining: int

    def live_at(self, now_ms: int) -> bool:
        """True while the bonus may be spent (until its expiry, exclusive)."""
        return self.remaining > 0 and (self.expires_ms is None or self.expires_ms > now_ms)


class StoredValue(_Frozen):
    """A member's stored value as folded from money events, with running totals.

    ``principal_fen`` goes negative only after an offline overdraw (a conflict is raised);
    a later top-up pays that debt first. The totals make the money invariant checkable on
    any ledger: ``balance_fen == topped_up + bonus_granted - spent - refunded - bonus_expired
    + adjusted``.
    """

    principal_fen: int = 0
    bonus_lots: tuple[BonusLot, ...] = ()
    topped_up_fen: int = 0
    bonus_granted_fen: int = 0
    spent_fen: int = 0
    refunded_fen: int = 0
    bonus_expired_fen: int = 0
    adjusted_fen: int = 0

    def bonus_fen(self) -> int:
        """Bonus not yet spent or expired by an event (live or past its expiry)."""
        return sum(lot.remaining for lot in self.bonus_lots)

    def bonus_available(self, now_ms: int) -> int:
        """Bonus that may be spent at ``now_ms``."""
        return sum(lot.remaining for lot in self.bonus_lots if lot.live_at(now_ms))

    def balance_fen(self) -> int:
        """Principal plus every bonus not yet spent or expired: what the invariant sums."""
        return self.principal_fen + self.bonus_fen()

    def available_fen(self, now_ms: int) -> int:
        """What a spend at ``now_ms`` may take (negative after an overdraw)."""
        return self.principal_fen + self.bonus_available(now_ms)

    def bonus_expiring(self, now_ms: int, until_ms: int) -> int:
        """Live bonus at ``now_ms`` whose lots expire by ``until_ms``."""
        return sum(
            lot.remaining
            for lot in self.bonus_lots
            if lot.live_at(now_ms) and lot.expires_ms is not None and lot.expires_ms <= until_ms
        )

    def expired_lots(self, now_ms: int) -> tuple[BonusLot, ...]:
        """Lots past their expiry that still hold bonus (a ``BonusExpire`` event is due)."""
        return tuple(
            lot
            for lot in self.bonus_lots
            if lot.remaining > 0 and lot.expires_ms is not None and lot.expires_ms <= now_ms
        )


class SpendSplit(_Frozen):
    """How a spend was paid: from bonus, from principal, and how much nothing covered."""

    bonus_fen: int
    principal_fen: int
    short_fen: int
    """Taken from principal beyond what it held (the overdraw; 0 normally)."""


def split_spend(
    value: StoredValue, amount_fen: int, at_ms: int, order: SpendOrder
) -> tuple[StoredValue, SpendSplit]:
    """Take ``amount_fen`` from ``value`` at ``at_ms`` in ``order``; never refuses.

    Whatever live bonus and non-negative principal cannot cover is taken from principal
    anyway (it goes negative) and reported as ``short_fen``: a fact is recorded, then
    reconciled.
    """
    lots = list(value.bonus_lots)
    live = sorted(
        (i for i, lot in enumerate(lots) if lot.live_at(at_ms)),
        key=lambda i: (lots[i].expires_ms is None, lots[i].expires_ms or 0, lots[i].lot_id),
    )
    need = amount_fen
    from_principal = 0
    if order is SpendOrder.PRINCIPAL_FIRST:
        from_principal = min(need, max(0, value.principal_fen))
        need -= from_principal
    from_bonus = 0
    for i in live:
        if need == 0:
            break
        take = min(need, lots[i].remaining)
        lots[i] = lots[i].model_copy(update={"remaining": lots[i].remaining - take})
        need -= take
        from_bonus += take
    # What is left comes from principal (bonus_first: all of it; principal_first: the part
    # beyond the bonus), possibly below zero.
    covered = min(need, max(0, value.principal_fen - from_principal))
    short = need - covered
    from_principal += need
    after = value.model_copy(
        update={
            "principal_fen": value.principal_fen - from_principal,
            "bonus_lots": tuple(lots),
            "spent_fen": value.spent_fen + amount_fen,
        }
    )
    return after, SpendSplit(bonus_fen=from_bonus, principal_fen=from_principal, short_fen=short)


def top_up(
    value: StoredValue,
    lot_id: str,
    paid_fen: int,
    bonus_fen: int,
    at_ms: int,
    bonus_expires_ms: int | None,
) -> StoredValue:
    """``value`` after a top-up: principal plus the paid amount, bonus as a new lot."""
    lots = tuple(lot for lot in value.bonus_lots if lot.remaining > 0)
    if bonus_fen > 0:
        lots = (
            *lots,
            BonusLot(
                lot_id=lot_id,
                granted_ms=at_ms,
                expires_ms=bonus_expires_ms,
                amount=bonus_fen,
                remaining=bonus_fen,
            ),
        )
    return value.model_copy(
        update={
            "principal_fen": value.principal_fen + paid_fen,
            "bonus_lots": lots,
            "topped_up_fen": value.topped_up_fen + paid_fen,
            "bonus_granted_fen": value.bonus_granted_fen + bonus_fen,
        }
    )


def refund(value: StoredValue, amount_fen: int) -> tuple[StoredValue, int]:
    """``value`` after refunding ``amount_fen`` of principal; returns (value, shortfall)."""
    short = max(0, amount_fen - max(0, value.principal_fen))
    return (
        value.model_copy(
            update={
                "principal_fen": value.principal_fen - amount_fen,
                "refunded_fen": value.refunded_fen + amount_fen,
            }
        ),
        short,
    )


def expire_bonus(value: StoredValue, lot_id: str) -> StoredValue:
    """``value`` after the bonus lot ``lot_id`` expired (what remained of it is gone)."""
    gone = 0
    lots: list[BonusLot] = []
    for lot in value.bonus_lots:
        if lot.lot_id == lot_id:
            gone += lot.remaining
            continue
        lots.append(lot)
    return value.model_copy(
        update={"bonus_lots": tuple(lots), "bonus_expired_fen": value.bonus_expired_fen + gone}
    )


def adjust(value: StoredValue, delta_fen: int) -> StoredValue:
    """``value`` after an audited principal correction (e.g. an overdraw forgiven)."""
    return value.model_copy(
        update={
            "principal_fen": value.principal_fen + delta_fen,
            "adjusted_fen": value.adjusted_fen + delta_fen,
        }
    )


def topup_problem(rules: MoneyRules, value: StoredValue, paid_fen: int) -> str | None:
    """Why a top-up of ``paid_fen`` is refused (a machine code), or None.

    The cap counts principal only (what the member paid in and could ask back): a member
    with a negative principal after an overdraw pays that debt first.
    """
    if paid_fen <= 0:
        return "amount_not_positive"
    if paid_fen > rules.max_topup_fen:
        return "amount_over_max"
    if max(0, value.principal_fen) + paid_fen > rules.member_cap_fen:
        return "over_member_cap"
    return None


def worst_case_stored_value_overspend(rules: MoneyRules, n_kiosks: int) -> int:
    """Most fen one member's stored value can be overdrawn by, across ``n_kiosks`` kiosks.

    Each kiosk decides on ``last snapshot + its own unconfirmed spends``; what no single
    view accounts for is the other sources' unconfirmed spends, each at most
    :meth:`StoredValueLimits.member_exposure_fen`. The coordinator's own debits (purchases
    charged centrally, refunds) check the central balance, which cannot see the kiosks'
    undelivered spends: HQ is one more source. Top-ups only ever add.
    """
    return max(0, n_kiosks) * rules.offline.member_exposure_fen()


def fleet_stored_value_exposure(rules: MoneyRules, n_kiosks: int) -> int:
    """Fen the whole fleet can have spent unconfirmed at any moment."""
    return max(0, n_kiosks) * rules.offline.kiosk_max_unconfirmed_fen
