"""Members on their own: sign up from a store's poster, and get their phone card back.

* **Sign-up**: name, phone and the privacy terms from the store's sign-up page make a member
  (home store: the poster's) with their phone card link and, when the chain's rules have
  one, the registration gift (``Rules.signup_gift``, an HQ ``CouponIssue`` fact).
* **Self access**: a member proves a phone number with a one-time code the coordinator hands
  to the notifications outbox (``coordinator.outbound.notify``: the chain's SMS or WeChat
  gateway delivers it; in the demo the front desk reads it). The code trades for the card
  link. Only a keyed hash of the code is stored.

Nothing leaks about who is a member: a sign-up with a phone that already belongs to a member
answers ``verify_phone`` and starts self access, and self access answers the same whether
the number is known or not. Every request is counted per client address (and, for codes,
per phone number); past the limit the answer is 429 with ``Retry-After``, and every
outcome is counted in ``tapfleet_member_self_service``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from typing import Annotated, Literal

import sqlalchemy as sa
from pydantic import Field, StringConstraints

from coordinator import schema
from coordinator.downstream import rule_bundles
from coordinator.errors import ApiError, invalid
from coordinator.ledger.hq_events import HqFact
from coordinator.ledger.member_fold import ensure_member_states, mark_changed
from coordinator.outbound import notify
from coordinator.runtime import Coordinator
from coordinator.security.auth import member_page_token
from coordinator.security.privacy import mask_name
from coordinator.services.common import Body, Out, audit, store_exists
from coordinator.services.member_card import LINK_TTL_S
from shared.events import CouponIssue
from shared.model import DAY_MS, CouponState, SignupGift

CODE_TTL_MS = 10 * 60_000
"""A one-time code is valid for 10 minutes."""
CODE_ATTEMPTS = 5
"""Wrong guesses a code survives; then it is void and a new one must be asked for."""
NOTIFY_KIND = "self_access_code"
"""The notification the delivery hook turns into an SMS (or the front desk prints)."""

_PHONE = re.compile(r"^\+?[0-9]{6,20}$")

Phone = Annotated[str, StringConstraints(min_length=6, max_length=40)]


class SignUp(Body):
    """A new member from a store's sign-up page."""

    store_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    phone: Phone
    accept_terms: bool = Field(description="The privacy terms were accepted (must be true).")
    lang: Literal["zh", "en"] = "zh"


class SignUpAnswer(Out):
    """``created``: the member and their card link; ``verify_phone``: this phone must be
    proven first (a code went to the delivery hook if it belongs to a member)."""

    status: Literal["created", "verify_phone"]
    member_id: str | None = None
    path: str | None = None
    gift: bool = False


class AccessRequest(Body):
    """A phone number whose member wants their card link."""

    phone: Phone


class AccessStarted(Out):
    """Always the same answer, member or not (nothing leaks)."""

    status: Literal["code_sent_if_member"] = "code_sent_if_member"
    expires_in_s: int


class AccessProof(Body):
    """The phone number and the one-time code that reached it."""

    phone: Phone
    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]


class AccessGranted(Out):
    """The member's phone card link."""

    member_id: str
    path: str


def store_name(coord: Coordinator, store_id: str) -> str:
    """The name of the store a sign-up page is for (404 for an unknown store)."""
    st = schema.stores
    with coord.db.read() as conn:
        name = conn.execute(sa.select(st.c.name).where(st.c.store_id == store_id)).scalar()
    if name is None:
        raise ApiError(404, "store_not_found", f"no store {store_id!r}", "store_id")
    return str(name)


def normalize_phone(text: str) -> str:
    """Digits (and a leading +) of a phone number; 422 when it is not one."""
    phone = re.sub(r"[\s\-()]", "", text)
    if not _PHONE.match(phone):
        raise invalid("bad_phone", "a phone number is 6 to 20 digits", "phone")
    return phone


def _limit(coord: Coordinator, step: str, subject: str | None, address: str, now: int) -> None:
    """Refuse (429, counted) past the limit; otherwise count this request."""
    try:
        coord.signup_limiter.check(subject, address, now)
    except ApiError:
        coord.metrics.self_service.labels(step, "rate_limited").inc()
        raise
    coord.signup_limiter.failed(subject, address, now)


def _code_hash(coord: Coordinator, phone: str, code: str) -> str:
    key = coord.settings.secret_key.get_secret_value().encode()
    return hmac.new(key, f"self-access:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _link_path(coord: Coordinator, member_id: str, now: int) -> str:
    secret = coord.settings.secret_key.get_secret_value()
    return f"/m/{member_page_token(secret, member_id, now, LINK_TTL_S)}"


def _member_by_phone(conn: sa.Connection, phone: str, *, active_only: bool = True) -> str | None:
    """The (oldest) member with this number, however staff typed it (spaces, dashes)."""
    m = schema.members
    typed = sa.func.replace(sa.func.replace(m.c.phone, " ", ""), "-", "")
    query = sa.select(m.c.member_id).where(typed == phone)
    if active_only:
        query = query.where(m.c.status == "active")
    found = conn.execute(query.order_by(m.c.created_ms).limit(1)).scalar()
    return str(found) if found is not None else None


def _send_code(
    coord: Coordinator, conn: sa.Connection, phone: str, member_id: str, now: int
) -> None:
    code = f"{secrets.randbelow(1_000_000):06d}"
    c = schema.self_access_codes
    inserted = conn.execute(
        sa.insert(c).values(
            phone=phone,
            member_id=member_id,
            code_hash=_code_hash(coord, phone, code),
            created_ms=now,
            expires_ms=now + CODE_TTL_MS,
            attempts=0,
        )
    )
    row_id = inserted.inserted_primary_key[0]
    notify.enqueue(
        conn,
        kind=NOTIFY_KIND,
        dedupe_key=f"self-access:{row_id}",
        payload={"phone": phone, "code": code, "expires_ms": now + CODE_TTL_MS},
        now_ms=now,
        member_id=member_id,
    )


def _gift(gift: SignupGift, store_id: str, now: int) -> CouponState:
    return CouponState(
        coupon_id="c" + uuid.uuid4().hex[:15],
        campaign_id=gift.campaign_id,
        kind=gift.kind,
        title=gift.title,
        value=gift.value,
        store_ids=(store_id,) if gift.home_store_only else (),
        valid_from_ms=now,
        valid_until_ms=now + gift.valid_days * DAY_MS,
    )


def sign_up(coord: Coordinator, address: str, body: SignUp) -> SignUpAnswer:
    """A member signs up alone; an existing phone is routed to self access."""
    now = coord.clock.wall_ms()
    _limit(coord, "signup", None, address, now)
    if not body.accept_terms:
        coord.metrics.self_service.labels("signup", "terms_refused").inc()
        raise invalid("terms_not_accepted", "the privacy terms must be accepted", "accept_terms")
    phone = normalize_phone(body.phone)
    name = " ".join(body.name.split())
    if not name:
        raise invalid("bad_name", "a name is needed", "name")
    m = schema.members
    with coord.db.write() as conn:
        store_exists(conn, body.store_id)
        existing = _member_by_phone(conn, phone, active_only=False)
        if existing is not None:
            active = _member_by_phone(conn, phone)
            if active is not None:  # a suspended member gets no code, and no second account
                _send_code(coord, conn, phone, active, now)
            audit(conn, f"self:{address}", "member.signup_existing_phone", existing, now)
            answer = SignUpAnswer(status="verify_phone")
        else:
            member_id = "m" + uuid.uuid4().hex[:16]
            conn.execute(
                sa.insert(m).values(
                    member_id=member_id,
                    display_name=mask_name(name),
                    full_name=name,
                    phone=phone,
                    home_store_id=body.store_id,
                    store_scope=None,
                    status="active",
                    lang=body.lang,
                    created_ms=now,
                )
            )
            ensure_member_states(conn, [member_id], now)
            bundle = rule_bundles.chain_bundle(conn)
            gift = bundle.rules.signup_gift if bundle is not None else None
            if gift is not None:
                coupon = _gift(gift, body.store_id, now)
                coord.recorder.record(
                    conn, [HqFact(member_id, CouponIssue(coupon=coupon), body.store_id)], now
                )
            mark_changed(conn, [member_id], now)
            audit(conn, f"self:{address}", "member.signup", member_id, now, store=body.store_id)
            answer = SignUpAnswer(
                status="created",
                member_id=member_id,
                path=_link_path(coord, member_id, now),
                gift=gift is not None,
            )
    coord.pusher.wake()
    coord.metrics.self_service.labels("signup", answer.status).inc()
    return answer


def start_access(coord: Coordinator, address: str, body: AccessRequest) -> AccessStarted:
    """Send a one-time code to the member holding this phone (same answer either way)."""
    now = coord.clock.wall_ms()
    phone = normalize_phone(body.phone)
    _limit(coord, "access_start", f"phone:{phone}", address, now)
    with coord.db.write() as conn:
        member_id = _member_by_phone(conn, phone)
        if member_id is not None:
            _send_code(coord, conn, phone, member_id, now)
    coord.metrics.self_service.labels("access_start", "answered").inc()
    return AccessStarted(expires_in_s=CODE_TTL_MS // 1000)


def verify_access(coord: Coordinator, address: str, body: AccessProof) -> AccessGranted:
    """Trade a one-time code for the member's card link (403 for a wrong or old code)."""
    now = coord.clock.wall_ms()
    phone = normalize_phone(body.phone)
    try:
        coord.signup_limiter.check(f"phone:{phone}", address, now)
    except ApiError:
        coord.metrics.self_service.labels("access_verify", "rate_limited").inc()
        raise
    c = schema.self_access_codes
    with coord.db.write() as conn:
        row = conn.execute(
            sa.select(c)
            .where(c.c.phone == phone, c.c.used_ms.is_(None), c.c.expires_ms > now)
            .order_by(c.c.created_ms.desc(), c.c.id.desc())
            .limit(1)
        ).first()
        good = (
            row is not None
            and row.attempts < CODE_ATTEMPTS
            and hmac.compare_digest(row.code_hash, _code_hash(coord, phone, body.code))
        )
        if row is not None:
            conn.execute(
                sa.update(c)
                .where(c.c.id == row.id)
                .values(attempts=c.c.attempts + 1, used_ms=now if good else None)
            )
        if good and row is not None:
            audit(conn, f"self:{address}", "member.self_access", row.member_id, now)
            member_id = str(row.member_id)
    if not good:
        coord.signup_limiter.failed(f"phone:{phone}", address, now)
        coord.metrics.self_service.labels("access_verify", "wrong_code").inc()
        raise ApiError(403, "code_wrong", "the code is wrong or too old: ask for a new one", "code")
    coord.metrics.self_service.labels("access_verify", "granted").inc()
    return AccessGranted(member_id=member_id, path=_link_path(coord, member_id, now))
