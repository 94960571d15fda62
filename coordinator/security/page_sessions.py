"""Browser sessions for the dashboard: a signed, HttpOnly cookie instead of bearer tokens.

The login form trades a username and password for a session cookie (``HttpOnly``,
``SameSite=Strict``, ``Secure`` unless configured off); no token ever appears in a URL or
in page JavaScript. The cookie carries the user, role, store, expiry and a random CSRF
value; pages put that value in a ``<meta>`` tag and the page scripts echo it in the
``X-CSRF-Token`` header on every state-changing request, which
:func:`principal_from_session` checks.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response

from coordinator.errors import ApiError
from coordinator.security.auth import Principal, Role, issued_ms, sign, still_allowed, verify

COOKIE = "tapfleet_session"
LANG_COOKIE = "tapfleet_lang"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Session:
    """A verified dashboard session."""

    principal: Principal
    csrf: str
    expires_ms: int
    issued_ms: int = 0


def issue(secret: str, principal: Principal, now_ms: int, ttl_s: int) -> str:
    """The cookie value for a fresh session of ``principal``."""
    return sign(
        secret,
        {
            "sub": principal.username,
            "role": principal.role.value,
            "store": principal.store_id,
            "iat": now_ms,
            "exp": now_ms + ttl_s * 1000,
            "typ": "session",
            "csrf": secrets.token_urlsafe(18),
        },
    )


def parse(secret: str, value: str, now_ms: int) -> Session | None:
    """The session a cookie value holds; None when tampered, expired or not a session."""
    try:
        payload = verify(secret, value)
        role = Role(str(payload.get("role")))
    except ValueError:
        return None
    exp = payload.get("exp")
    csrf = payload.get("csrf")
    if payload.get("typ") != "session" or not isinstance(exp, int) or exp < now_ms:
        return None
    if not isinstance(csrf, str) or not csrf:
        return None
    store = payload.get("store")
    principal = Principal(str(payload.get("sub")), role, str(store) if store else None)
    return Session(principal, csrf, exp, issued_ms(payload))


def set_cookie(response: Response, value: str, *, ttl_s: int, secure: bool) -> None:
    """Attach the session cookie (HttpOnly, SameSite=Strict, Secure when configured)."""
    response.set_cookie(
        COOKIE,
        value,
        max_age=ttl_s,
        path="/",
        httponly=True,
        secure=secure,
        samesite="strict",
    )


def clear_cookie(response: Response, *, secure: bool) -> None:
    """Remove the session cookie (logout)."""
    response.delete_cookie(COOKIE, path="/", httponly=True, secure=secure, samesite="strict")


def current(request: Request) -> Session | None:
    """The request's valid session whose user still exists and is enabled, or None."""
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    coord = request.app.state.coordinator
    session = parse(coord.settings.secret_key.get_secret_value(), value, coord.clock.wall_ms())
    if session is None:
        return None
    # A disabled or changed user loses the session at once, not when the cookie expires.
    with coord.db.read() as conn:
        allowed = still_allowed(conn, session.principal, session.issued_ms)
    return session if allowed else None


def principal_from_session(request: Request) -> Principal | None:
    """The API caller behind a session cookie (None without one).

    A state-changing request must echo the session's CSRF value in ``X-CSRF-Token``;
    otherwise it is refused with 403 ``csrf_failed``.
    """
    session = current(request)
    if session is None:
        return None
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise ApiError(
                403,
                "csrf_failed",
                f"send the page's CSRF token in the {CSRF_HEADER} header "
                "(reload the page if it has expired)",
            )
    return session.principal
