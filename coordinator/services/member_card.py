"""The member's phone card: personal links and signed, short-lived QR tokens.

Staff create a personal link; the phone page fetches fresh tokens with it. Kiosks verify
tokens offline with the public keys in their rule bundle.
"""

from __future__ import annotations

from coordinator.downstream import rule_bundles
from coordinator.errors import ApiError
from coordinator.runtime import Coordinator
from coordinator.security import qr_keys
from coordinator.security.auth import Principal, member_from_page_token, member_page_token
from coordinator.security.key_sealing import KeySealingError
from coordinator.services.common import Out, check_member_access, member_row

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
