"""The member's phone page: a signed, short-lived QR token, refreshed before it expires.

Staff create a personal link (``POST /api/v1/members/{id}/page-link``); the page at
``/m/{link}`` shows the QR code and fetches a fresh token from ``/api/v1/member/qr``.
Kiosks verify the token offline with the public keys in their rule bundle.
"""

from __future__ import annotations

import html
import json
from pathlib import Path as FsPath
from typing import Annotated
from urllib.parse import quote

import segno
from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, PlainTextResponse

from coordinator.api.answers import USER, answers, page_answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.errors import ApiError
from coordinator.services import member_card
from coordinator.services.member_card import CardBalances, PageLink, QrToken
from shared.model import Id

router = APIRouter(tags=["member page"])
PUBLIC = page_answers(401, 403, 404, 422, 503)
"""A phone page or token asked for with a bad link, for a suspended member, or without key."""


@router.post("/api/v1/members/{member_id}/page-link", responses={**USER, **answers(404)})
def page_link(
    coord: CoordinatorDep, principal: PrincipalDep, member_id: Annotated[Id, Path()]
) -> PageLink:
    """A personal link for the member's phone (valid one year)."""
    return member_card.page_link(coord, principal, member_id)


@router.get("/api/v1/members/{member_id}/qr-token", responses={**USER, **answers(404, 503)})
def staff_qr_token(
    coord: CoordinatorDep, principal: PrincipalDep, member_id: Annotated[Id, Path()]
) -> QrToken:
    """A current QR token for a member (staff use, e.g. printing a temporary code)."""
    return member_card.staff_token(coord, principal, member_id)


@router.get("/api/v1/member/qr", responses=answers(401, 403, 404, 422, 503))
def member_qr_token(
    coord: CoordinatorDep, link: Annotated[str, Query(min_length=10, max_length=600)]
) -> QrToken:
    """The member's current QR token, for the phone page (authorised by the link)."""
    return member_card.token_for(coord, member_card.member_of_link(coord, link))


@router.get("/api/v1/member/card", responses=answers(401, 404, 422))
def member_card_balances(
    coord: CoordinatorDep, link: Annotated[str, Query(min_length=10, max_length=600)]
) -> CardBalances:
    """The member's balances at a glance, for the phone card (authorised by the link)."""
    return member_card.card_balances(coord, member_card.member_of_link(coord, link))


_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="theme-color" content="#0b6e4f">
<link rel="manifest" href="/m/{link_path}/manifest.webmanifest">
<link rel="icon" href="/m/icon.svg" type="image/svg+xml">
<title>会员码 Member code</title>
<style>body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;text-align:center;
margin:0;padding:12px 8px;background:#fff;color:#111}}
h1{{font-size:1.3em;margin:.2em 0}} h2{{font-size:1em;margin:.8em 0 .2em;text-align:left}}
#qr{{width:min(100%,440px);margin:0 auto}}
#qr svg{{display:block;width:100%;height:auto}}
.hint{{font-size:.9em;color:#555;margin:.4em 0}}
#balances{{max-width:440px;margin:0 auto;text-align:left}}
#balances ul{{list-style:none;padding:0;margin:0}}
#balances li{{padding:.3em 0;border-bottom:1px solid #eee}}
.big{{font-size:1.6em;font-weight:600}} small{{color:#666}} progress{{width:100%}}
#lang-switch{{position:absolute;top:8px;right:8px;font-size:.8em}}
#classes{{max-width:440px;margin:0 auto;text-align:left}}
#classes ul{{list-style:none;padding:0;margin:0}}
#classes li{{padding:.4em 0;border-bottom:1px solid #eee;display:flex;gap:.5em;
align-items:center;justify-content:space-between}}
#classes button{{min-height:40px;padding:0 .8em;flex:none}}
#c-message{{padding:.4em;border-radius:4px}} #c-message.refused{{background:#fde8e8;color:#8a1c1c}}
#c-message.done{{background:#e6f4ea;color:#0b6e4f}}</style></head>
<body data-code="server"><button id="lang-switch" type="button">EN</button>
<h1>{name}</h1><p data-t="show">请在自助机扫码 · Show this code at the kiosk</p>
<div id="qr">{svg}</div>
<p class="hint" id="brightness" data-t="brightness">☀ 请调高屏幕亮度 · Turn the brightness up</p>
<p id="left"></p>
<section id="balances" hidden>
<p id="b-updated" class="hint" hidden></p>
<div><span data-t="points"></span> <span id="b-points" class="big"></span>
<small id="b-expiring"></small></div>
<div id="b-money"><span data-t="stored"></span> <span id="b-stored" class="big"></span>
<small id="b-stored-split"></small> <small id="b-stored-expiring"></small></div>
<div id="b-tier"><span id="b-tier-name"></span> <progress id="b-tier-bar" max="100"></progress>
<small id="b-tier-next"></small></div>
<h2 data-t="passes"></h2><ul id="b-passes"></ul>
<h2 data-t="coupons"></h2><ul id="b-coupons"></ul>
<h2 data-t="visits"></h2><ul id="b-visits"></ul>
</section>
<section id="classes" hidden>
<h2 data-t="classes"></h2>
<p id="c-offline" class="hint" data-t="classes_offline" hidden></p>
<p id="c-message" role="status" hidden></p>
<div id="c-lists"><h2 data-t="my_bookings"></h2><ul id="c-mine"></ul>
<h2 data-t="upcoming"></h2><ul id="c-sessions"></ul></div>
</section>
<script id="card-config" type="application/json">{config}</script>
<script src="/m/qrcode.js"></script>
<script src="/m/card.js"></script>
</body></html>
"""

ASSETS = FsPath(__file__).with_name("phone_assets")
"""The page's scripts (``card.js`` and the vendored QR encoder ``qrcode.js``)."""


def qr_svg(token: str) -> str:
    """The token as an inline SVG QR code that scales to its box.

    ``viewBox`` only (no fixed size) so CSS sizes it to the screen; the 4-module quiet zone
    is painted white so the code scans on a dark page too; error level L (raised by segno
    when it fits the same version) keeps the symbol small: a phone screen is clean, and
    fewer modules scan faster on a kiosk webcam.
    """
    return str(segno.make(token, error="l").svg_inline(omitsize=True, border=4, light="#fff"))


SCRIPT = {200: {"content": {"text/javascript": {}}}}
"""A route answering with a script."""


@router.get("/m/card.js", response_class=PlainTextResponse, responses=SCRIPT)
def card_script() -> PlainTextResponse:
    """The phone card's script: device key, phone-signed codes, QR drawing."""
    return _asset("card.js")


@router.get("/m/qrcode.js", response_class=PlainTextResponse, responses=SCRIPT)
def qr_script() -> PlainTextResponse:
    """The vendored QR encoder the page draws phone-signed codes with (MIT, see README)."""
    return _asset("qrcode.js")


@router.get("/m/sw.js", response_class=PlainTextResponse, responses=SCRIPT)
def service_worker() -> PlainTextResponse:
    """The phone card's service worker (scope ``/m/``): the page opens with no network."""
    return _asset("sw.js")


@router.get(
    "/m/icon.svg",
    response_class=PlainTextResponse,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
def card_icon() -> PlainTextResponse:
    """The installed phone card's icon."""
    return _asset("icon.svg", "image/svg+xml")


def _asset(name: str, media_type: str = "text/javascript") -> PlainTextResponse:
    return PlainTextResponse(
        (ASSETS / name).read_text(encoding="utf-8"),
        media_type=media_type,
        headers={"Cache-Control": "no-cache"},
    )


@router.get(
    "/m/{link}/manifest.webmanifest",
    response_class=PlainTextResponse,
    responses={200: {"content": {"application/manifest+json": {}}}, **PUBLIC},
)
def card_manifest(
    coord: CoordinatorDep, link: Annotated[str, Path(max_length=600)]
) -> PlainTextResponse:
    """The web app manifest that makes the member's card installable (opens at their link)."""
    member_card.member_of_link(coord, link)
    manifest = {
        "name": "会员卡 Member card",
        "short_name": "会员卡",
        "start_url": f"/m/{quote(link, safe='')}",
        "scope": "/m/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b6e4f",
        "icons": [{"src": "/m/icon.svg", "sizes": "any", "type": "image/svg+xml"}],
    }
    return PlainTextResponse(
        json.dumps(manifest, ensure_ascii=False), media_type="application/manifest+json"
    )


@router.get("/m/{link}", response_class=HTMLResponse, responses=PUBLIC)
def member_page(coord: CoordinatorDep, link: Annotated[str, Path(max_length=600)]) -> HTMLResponse:
    """The member's QR page (minimal; the token refreshes itself)."""
    member_id = member_card.member_of_link(coord, link)
    name = member_card.display_name(coord, member_id)
    token = member_card.token_for(coord, member_id)
    svg = qr_svg(token.token)
    config = {
        "link": link,
        "member_key": f"member:{member_id}",
        "refresh": token.refresh_after_s,
        "store_id": member_card.home_store(coord, member_id),
    }
    # "</" cannot end the script element early: the JSON's "<" are escaped.
    config_json = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")
    return HTMLResponse(
        _PAGE.format(
            name=html.escape(name),
            svg=svg,
            config=config_json,
            link_path=html.escape(quote(link, safe="")),
        )
    )


@router.get(
    "/m/{link}/qr.svg",
    response_class=HTMLResponse,
    responses={200: {"content": {"image/svg+xml": {}}}, **PUBLIC},
)
def member_qr_svg(
    coord: CoordinatorDep,
    link: Annotated[str, Path(max_length=600)],
    token: Annotated[str, Query(max_length=600)],
) -> HTMLResponse:
    """The QR image of a token the page just fetched (only for the link's own member)."""
    member_card.member_of_link(coord, link)
    if not token.startswith("TF1."):
        raise ApiError(422, "bad_token", "not a member token", "token")
    return HTMLResponse(qr_svg(token), media_type="image/svg+xml")
