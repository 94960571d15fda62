"""The member's phone page: a signed, short-lived QR token, refreshed before it expires.

Staff create a personal link (``POST /api/v1/members/{id}/page-link``); the page at
``/m/{link}`` shows the QR code and fetches a fresh token from ``/api/v1/member/qr``.
Kiosks verify the token offline with the public keys in their rule bundle.
"""

from __future__ import annotations

import html
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse

from coordinator.api.deps import CoordinatorDep, PrincipalDep, check_member_access, member_row
from coordinator.downstream import rule_bundles
from coordinator.errors import ApiError
from coordinator.runtime import Coordinator
from coordinator.security import qr_keys
from coordinator.security.auth import member_from_page_token, member_page_token
from coordinator.security.key_sealing import KeySealingError
from shared.model import Id

router = APIRouter(tags=["member page"])
LINK_TTL_S = 365 * 86_400


def _token(coord: Coordinator, member_id: str) -> dict[str, Any]:
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
    return {
        "token": token,
        "issued_ms": now,
        "expires_ms": now + ttl * 1000,
        "refresh_after_s": max(5, ttl // 2),
    }


@router.post("/api/v1/members/{member_id}/page-link")
def page_link(
    coord: CoordinatorDep, principal: PrincipalDep, member_id: Annotated[Id, Path()]
) -> dict[str, Any]:
    """A personal link for the member's phone (valid one year)."""
    principal.require_write()
    with coord.db.read() as conn:
        check_member_access(principal, member_row(conn, member_id))
    link = member_page_token(
        coord.settings.secret_key, member_id, coord.clock.wall_ms(), LINK_TTL_S
    )
    return {"member_id": member_id, "link_token": link, "path": f"/m/{link}"}


@router.get("/api/v1/members/{member_id}/qr-token")
def staff_qr_token(
    coord: CoordinatorDep, principal: PrincipalDep, member_id: Annotated[Id, Path()]
) -> dict[str, Any]:
    """A current QR token for a member (staff use, e.g. printing a temporary code)."""
    principal.require_write()
    with coord.db.read() as conn:
        check_member_access(principal, member_row(conn, member_id))
    return _token(coord, member_id)


@router.get("/api/v1/member/qr")
def member_qr_token(
    coord: CoordinatorDep, link: Annotated[str, Query(min_length=10, max_length=600)]
) -> dict[str, Any]:
    """The member's current QR token, for the phone page (authorised by the link)."""
    member_id = member_from_page_token(coord.settings.secret_key, link, coord.clock.wall_ms())
    return _token(coord, member_id)


_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>会员码 Member code</title>
<style>body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;text-align:center;margin:2em}}
#qr svg{{width:min(80vw,320px);height:auto}}</style></head>
<body><h1>{name}</h1><p>请在自助机扫码 · Show this code at the kiosk</p>
<div id="qr">{svg}</div><p id="left"></p>
<script>
const link = {link!r};
let expires = {expires};
async function refresh() {{
  const r = await fetch('/api/v1/member/qr?link=' + encodeURIComponent(link));
  if (!r.ok) {{
    document.getElementById('left').textContent = '请刷新页面 · Please reload';
    return;
  }}
  const t = await r.json();
  const svgUrl = '/m/' + encodeURIComponent(link) + '/qr.svg?token=';
  const q = await fetch(svgUrl + encodeURIComponent(t.token));
  document.getElementById('qr').innerHTML = await q.text();
  expires = t.expires_ms;
  setTimeout(refresh, t.refresh_after_s * 1000);
}}
setTimeout(refresh, {refresh} * 1000);
</script></body></html>
"""


@router.get("/m/{link}", response_class=HTMLResponse)
def member_page(coord: CoordinatorDep, link: Annotated[str, Path(max_length=600)]) -> HTMLResponse:
    """The member's QR page (minimal; the token refreshes itself)."""
    member_id = member_from_page_token(coord.settings.secret_key, link, coord.clock.wall_ms())
    with coord.db.read() as conn:
        name = member_row(conn, member_id).display_name
    token = _token(coord, member_id)
    svg = segno.make(token["token"], error="m").svg_inline(scale=6)
    return HTMLResponse(
        _PAGE.format(
            name=html.escape(name),
            svg=svg,
            link=link,
            expires=token["expires_ms"],
            refresh=token["refresh_after_s"],
        )
    )


@router.get("/m/{link}/qr.svg")
def member_qr_svg(
    coord: CoordinatorDep,
    link: Annotated[str, Path(max_length=600)],
    token: Annotated[str, Query(max_length=600)],
) -> HTMLResponse:
    """The QR image of a token the page just fetched (only for the link's own member)."""
    member_from_page_token(coord.settings.secret_key, link, coord.clock.wall_ms())
    if not token.startswith("TF1."):
        raise ApiError(422, "bad_token", "not a member token", "token")
    return HTMLResponse(
        segno.make(token, error="m").svg_inline(scale=6), media_type="image/svg+xml"
    )
