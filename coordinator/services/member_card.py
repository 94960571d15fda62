"""The member's phone card: personal links and signed, short-lived QR tokens.

Staff create a personal link; the phone page fetches fresh tokens with it. Kiosks verify
tokens offline with the public keys in their rule bundle.
"""

from __future__ import annotations

import sqlalchemy as sa
from pydantic import Field

from coordinator import schema
from coordinator.downstream import rule_bundles
from coordinator.errors import ApiError
from coordinator.ledger.jsonrows import ledger_from_row
from coordinator.runtime import Coordinator
from coordinator.security import qr_keys
from coordinator.security.auth import Principal, member_from_page_token, member_page_token
from coordinator.security.key_sealing import KeySealingError
from coordinator.services.common import Out, check_member_access, member_row
from shared.model import DAY_MS, CouponState, MemberLedger, PassKind, PassState, Rules

LINK_TTL_S = 365 * 86_400


class QrToken(Out):
    """A signed member token and when to fetch the next one."""

    token: str
    issued_ms: int
    expires_ms: int
    refresh_after_s: int


class PageLink(Out):
    """A personal link for the member's phone (valid one year)."""

    member_id: str
    link_token: str
    path: str


def token_for(coord: Coordinator, member_id: str) -> QrToken:
    """A fresh QR token for an active member (403 when suspended, 503 without a key)."""
    now = coord.clock.wall_ms()
    with coord.db.read() as conn:
        row = member_row(conn, member_id)
        if row.status != "active":
            raise ApiError(403, "member_suspended", "this membership is on hold")
        bundle = rule_bundles.chain_bundle(conn)
        ttl = bundle.rules.qr_token_ttl_s if bundle else 60
        try:
            token = qr_keys.issue_member_token(conn, member_id, now, ttl, coord.sealer)
        except KeySealingError as exc:
            raise ApiError(503, "qr_key_unavailable", str(exc)) from exc
    return QrToken(
        token=token, issued_ms=now, expires_ms=now + ttl * 1000, refresh_after_s=max(5, ttl // 2)
    )


def page_link(coord: Coordinator, principal: Principal, member_id: str) -> PageLink:
    """A personal link for the member's phone (staff with write access)."""
    principal.require_write()
    with coord.db.read() as conn:
        check_member_access(principal, member_row(conn, member_id))
    link = member_page_token(
        coord.settings.secret_key.get_secret_value(), member_id, coord.clock.wall_ms(), LINK_TTL_S
    )
    return PageLink(member_id=member_id, link_token=link, path=f"/m/{link}")


def staff_token(coord: Coordinator, principal: Principal, member_id: str) -> QrToken:
    """A current QR token for a member (staff use, e.g. printing a temporary code)."""
    principal.require_write()
    with coord.db.read() as conn:
        check_member_access(principal, member_row(conn, member_id))
    return token_for(coord, member_id)


def member_of_link(coord: Coordinator, link: str) -> str:
    """The member a personal link belongs to (401 for a bad or expired link)."""
    return member_from_page_token(
        coord.settings.secret_key.get_secret_value(), link, coord.clock.wall_ms()
    )


def display_name(coord: Coordinator, member_id: str) -> str:
    """The member's masked display name."""
    with coord.db.read() as conn:
        return str(member_row(conn, member_id).display_name)


def home_store(coord: Coordinator, member_id: str) -> str | None:
    """The member's home store, whose classes the phone card lists (None: no classes shown)."""
    with coord.db.read() as conn:
        store_id = member_row(conn, member_id).home_store_id
    return None if store_id is None else str(store_id)


EXPIRING_WINDOW_DAYS = 30
"""Points and stored-value bonus expiring within this many days are shown apart on the card."""

LAST_VISITS = 5
"""Visits the card lists (check-ins and class sign-ins, newest first)."""


class CardPass(Out):
    """A pass on the member's card."""

    pass_id: str
    name: str
    kind: str
    sessions_left: int | None = Field(description="None for a time pass (unlimited entries).")
    valid_until_ms: int
    frozen: bool
    activate_by_ms: int | None = Field(
        None,
        description="Set while the pass waits for its first use: it is not activated yet, "
        "starts at the member's first visit, by this time at the latest (valid_until_ms is "
        "then the latest end it can have). None once its window runs.",
    )
    days: int | None = Field(
        None, description="With activate_by_ms: the validity length in days from first use."
    )


class CardCoupon(Out):
    """An unused, unexpired coupon on the member's card."""

    coupon_id: str
    title: str
    kind: str
    value: int
    describe_zh: str
    describe_en: str
    valid_until_ms: int


class CardTier(Out):
    """The member's tier and how far the next one is."""

    name: str
    title_zh: str
    title_en: str
    basis: str = Field(
        "points", description="What tiers count: points, spend or topups (Rules.tier_basis)."
    )
    earned: int = Field(
        description="Within the tier window: points earned, or fen spent or topped up (basis)."
    )
    next_name: str | None = None
    next_title_zh: str | None = None
    next_title_en: str | None = None
    next_at: int | None = Field(None, description="What the next tier needs, in earned's unit.")
    progress_pct: int = Field(ge=0, le=100)


class CardVisit(Out):
    """A visit: a check-in or a class sign-in."""

    at_ms: int
    kind: str
    store_id: str | None
    store_name: str | None


class CardStoredValue(Out):
    """The member's stored value (储值) on the card, in integer fen (the page shows yuan)."""

    available_fen: int = Field(
        description="What a spend may take now: principal plus live bonus (negative after "
        "an offline overdraw)."
    )
    principal_fen: int = Field(description="Money paid in (本金), refundable.")
    bonus_fen: int = Field(description="Live bonus (赠送金额), spent first, may expire.")
    bonus_expiring_fen: int = Field(
        description="Live bonus whose lots expire by ``expiring_until_ms``."
    )


class CardBalances(Out):
    """Everything the phone card shows at a glance, as of ``updated_ms``."""

    member_id: str
    display_name: str
    points: int
    points_expiring: int
    expiring_until_ms: int
    stored_value: CardStoredValue
    passes: list[CardPass]
    coupons: list[CardCoupon]
    tier: CardTier
    visits: list[CardVisit]
    timezone: str
    updated_ms: int


def card_balances(coord: Coordinator, member_id: str) -> CardBalances:
    """The member's balances for the phone card (the folded ledger and the chain's rules)."""
    now = coord.clock.wall_ms()
    ms = schema.member_states
    e = schema.events
    st = schema.stores
    with coord.db.read() as conn:
        row = member_row(conn, member_id)
        state = conn.execute(sa.select(ms.c.ledger).where(ms.c.member_id == member_id)).first()
        ledger = ledger_from_row(state.ledger) if state is not None else MemberLedger()
        bundle = rule_bundles.chain_bundle(conn)
        visits = conn.execute(
            sa.select(e.c.hlc_ms, e.c.kind, e.c.store_id, st.c.name)
            .select_from(e.outerjoin(st, st.c.store_id == e.c.store_id))
            .where(
                e.c.member_id == member_id,
                e.c.kind.in_(("checkin", "class_signin")),
                e.c.quarantined.is_(False),
            )
            .order_by(e.c.hlc_ms.desc(), e.c.hlc_c.desc())
            .limit(LAST_VISITS)
        ).all()
    rules = bundle.rules if bundle is not None else Rules()
    until = now + EXPIRING_WINDOW_DAYS * DAY_MS
    return CardBalances(
        member_id=member_id,
        display_name=str(row.display_name),
        points=ledger.points_available(now),
        points_expiring=ledger.points_expiring(now, until),
        expiring_until_ms=until,
        stored_value=CardStoredValue(
            available_fen=ledger.stored_value.available_fen(now),
            principal_fen=ledger.stored_value.principal_fen,
            bonus_fen=ledger.stored_value.bonus_available(now),
            bonus_expiring_fen=ledger.stored_value.bonus_expiring(now, until),
        ),
        passes=[
            CardPass(
                pass_id=p.pass_id,
                name=p.name,
                kind=p.kind.value,
                sessions_left=p.sessions_left if p.kind is PassKind.PUNCH else None,
                valid_until_ms=p.valid_until_ms,
                frozen=p.frozen,
                **_first_use(p, now),
            )
            for p in ledger.passes
            if p.valid_until_ms >= now
        ],
        coupons=[_coupon(c) for c in ledger.coupons if c.is_usable(now, None)],
        tier=_tier(rules, ledger, now),
        visits=[
            CardVisit(at_ms=v.hlc_ms, kind=v.kind, store_id=v.store_id, store_name=v.name)
            for v in visits
        ],
        timezone=rules.timezone,
        updated_ms=now,
    )


def _first_use(p: PassState, now_ms: int) -> dict[str, int]:
    """The card fields of a pass waiting for its first use (none for any other pass)."""
    if p.first_use is None or not p.awaiting_first_use(now_ms):
        return {}
    return {"activate_by_ms": p.first_use.activate_by_ms, "days": p.first_use.days}


def _coupon(coupon: CouponState) -> CardCoupon:
    zh, en = coupon.describe()
    return CardCoupon(
        coupon_id=coupon.coupon_id,
        title=coupon.title,
        kind=coupon.kind.value,
        value=coupon.value,
        describe_zh=zh,
        describe_en=en,
        valid_until_ms=coupon.valid_until_ms,
    )


def _tier(rules: Rules, ledger: MemberLedger, now_ms: int) -> CardTier:
    current = rules.tier_reached(ledger, now_ms)
    earned = rules.tier_earned(ledger, now_ms)
    nxt = rules.next_tier(current)
    if nxt is None:
        progress = 100
    else:
        span = nxt.min_points_earned - current.min_points_earned
        progress = min(100, max(0, (earned - current.min_points_earned) * 100 // max(span, 1)))
    return CardTier(
        name=current.name,
        basis=rules.tier_basis.value,
        title_zh=current.title_zh or current.name,
        title_en=current.title_en or current.name,
        earned=earned,
        next_name=nxt.name if nxt else None,
        next_title_zh=(nxt.title_zh or nxt.name) if nxt else None,
        next_title_en=(nxt.title_en or nxt.name) if nxt else None,
        next_at=nxt.min_points_earned if nxt else None,
        progress_pct=progress,
    )
