"""Authentication and store-scoped roles on every HTTP route, enumerated from the app itself.

Every route the app serves must appear in :data:`ROUTES` (public, a dashboard page, or an API
route with its role rules); a route added without an entry fails
:func:`test_every_route_is_classified`, so new routes cannot slip past these tests.

* Without a valid token every non-public API route answers 401 (no token, garbage, expired,
  signed with another key, a member's page link); dashboard pages redirect to the login.
* A store manager of ``s1`` gets 403/404 (or 422 ``store_scope_required`` for scoped
  creations) on every resource of store ``s2zz``, and lists never show ``s2zz`` data (every
  identifier of that store contains the marker ``2zz``); nothing of ``s2zz`` changes.
* A viewer gets 403 on every mutating route; HQ-admin-only routes refuse everyone else.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.routing import iter_route_contexts

from coordinator.ledger.conflicts import ConflictDraft, raise_conflict
from coordinator.outbound import webhooks
from coordinator.security.auth import Principal, Role, issue_token, member_page_token
from coordinator.settings import DEV_SECRET_KEY
from simulators.waiting import wait_until
from tests.security.stack import Live, live_coordinator

MARK = "2zz"
NEXT_MONDAY = date.today() + timedelta(days=7 - date.today().weekday())
SESSION = f"yoga:{NEXT_MONDAY:%Y%m%d}"
"""A session of the seeded timetables, a few days ahead (bookable)."""
TAUGHT = f"yoga:{NEXT_MONDAY - timedelta(days=14):%Y%m%d}"
"""A session of the same slot two weeks earlier (over: it can be marked taught)."""
DAY = 86_400_000


@dataclass(frozen=True)
class Route:
    """How one route is protected.

    ``kind``: ``public`` (no login), ``page`` (dashboard HTML: session cookie), ``static``,
    ``self`` (any logged-in user, about themselves), ``admin`` (HQ admins only), ``list``
    (readable by every role; a store manager sees only their store), ``scoped`` (a resource
    or an action with a store).

    ``other``: a request on store ``s2zz``'s resources (path, params, body) that a store
    manager of ``s1`` must be refused. ``own``: a valid request on ``s1`` (what a viewer is
    refused when ``write``). ``write``: the route changes something (viewers refused).
    """

    kind: str
    write: bool = False
    other: tuple[str, dict[str, Any], Any] | None = None
    own: tuple[str, dict[str, Any], Any] | None = None


def req(path: str, body: Any = None, **params: Any) -> tuple[str, dict[str, Any], Any]:
    """A request: concrete path, query parameters, JSON body."""
    return (path, params, body)


COUPON = {"title": "¥5", "kind": "voucher", "value": 500, "valid_from_ms": 1,
          "valid_until_ms": 4_000_000_000_000}  # fmt: skip
PASS = {"kind": "punch", "name": "10x", "valid_from_ms": 1, "valid_until_ms": 4_000_000_000_000,
        "sessions_total": 10}  # fmt: skip

FIELD = {"key": "shoe_size", "label_zh": "鞋码", "label_en": "Shoe size", "kind": "number"}
TOP_UP = {"amount_fen": 10_000, "method": "cash"}
PURCHASE = {"member_id": "m1", "total_fen": 1_000, "method": "cash"}
# A public address literal: accepted without DNS, and nothing is ever sent to it here.
ENDPOINT = {"url": "https://93.184.216.34/hook", "event_types": ["notification.*"]}
RELEASE = {"version": "9.9.9", "percentage": 5, "sha256": "a" * 64,
           "wheel_url": "https://pkg.example/tapfleet-9.9.9-py3-none-any.whl"}  # fmt: skip

ROUTES: dict[tuple[str, str], Route] = {
    # -- public: no login (each is its own credential or harmless) ------------------------
    ("POST", "/api/v1/auth/token"): Route("public"),
    ("POST", "/api/v1/enroll"): Route("public"),
    ("GET", "/api/v1/member/qr"): Route("public"),
    ("GET", "/m/{link}"): Route("public"),
    ("GET", "/m/{link}/qr.svg"): Route("public"),
    ("GET", "/m/{link}/manifest.webmanifest"): Route("public"),
    ("GET", "/m/card.js"): Route("public"),
    ("GET", "/m/qrcode.js"): Route("public"),
    ("GET", "/m/sw.js"): Route("public"),
    ("GET", "/m/icon.svg"): Route("public"),
    ("GET", "/api/v1/member/card"): Route("public"),  # the member's link is the credential
    ("POST", "/api/v1/member/devices"): Route("public"),  # the member's link is the credential
    ("GET", "/join/{store_id}"): Route("public"),
    ("POST", "/api/v1/join"): Route("public"),  # rate limited per address
    ("POST", "/api/v1/self-access"): Route("public"),  # the same answer for any number
    ("POST", "/api/v1/self-access/verify"): Route("public"),  # the one-time code
    ("GET", "/healthz"): Route("public"),
    ("GET", "/api/v1/software/manifest/{store_id}"): Route("public"),
    ("GET", "/metrics"): Route("public"),  # unless metrics_token is set (tested below)
    ("GET", "/openapi.json"): Route("public"),
    ("GET", "/docs"): Route("public"),
    ("GET", "/docs/oauth2-redirect"): Route("public"),
    ("GET", "/redoc"): Route("public"),
    ("GET", "/dashboard/login"): Route("public"),
    ("POST", "/dashboard/login"): Route("public"),
    ("*", "/dashboard/static"): Route("static"),
    # -- dashboard pages (session cookie; their data comes from the API routes below) -----
    ("GET", "/dashboard"): Route("page"),
    ("GET", "/dashboard/"): Route("page"),
    ("GET", "/dashboard/fleet"): Route("page"),
    ("GET", "/dashboard/conflicts"): Route("page"),
    ("GET", "/dashboard/conflicts/{conflict_id}"): Route("page"),
    ("GET", "/dashboard/kiosks/{kiosk_id}"): Route("page"),
    ("GET", "/dashboard/reports"): Route("page"),
    ("GET", "/dashboard/rollouts"): Route("page"),
    ("GET", "/dashboard/stores/{store_id}/poster"): Route("page"),
    ("POST", "/dashboard/members/{member_id}/devices/{device_id}/revoke"): Route("page"),
    ("GET", "/dashboard/members"): Route("page"),
    ("GET", "/dashboard/engage"): Route("page"),
    ("GET", "/dashboard/members.csv"): Route("page"),
    ("GET", "/dashboard/members/{member_id}"): Route("page"),
    ("GET", "/dashboard/members/new"): Route("page"),
    ("POST", "/dashboard/members/new"): Route("page"),
    ("GET", "/dashboard/my-classes"): Route("page"),
    ("POST", "/dashboard/my-classes/taught"): Route("page"),
    ("POST", "/dashboard/members/{member_id}/edit"): Route("page"),
    ("POST", "/dashboard/members/{member_id}/cards"): Route("page"),
    ("POST", "/dashboard/members/{member_id}/cards/tapped"): Route("page"),
    ("POST", "/dashboard/members/{member_id}/cards/{uid}/lost"): Route("page"),
    ("POST", "/dashboard/members/{member_id}/cards/{uid}/replace"): Route("page"),
    ("POST", "/dashboard/members/{member_id}/passes/{pass_id}/freeze"): Route("page"),
    ("POST", "/dashboard/members/{member_id}/passes/{pass_id}/unfreeze"): Route("page"),
    ("POST", "/dashboard/members/{member_id}/passes/{pass_id}/extend"): Route("page"),
    ("POST", "/dashboard/members/{member_id}/coupons"): Route("page"),
    ("POST", "/dashboard/members/{member_id}/points"): Route("page"),
    ("POST", "/dashboard/members/{member_id}/sell"): Route("page"),
    ("POST", "/dashboard/members/{member_id}/topup"): Route("page"),
    ("POST", "/dashboard/members/{member_id}/topup/preview"): Route("page"),
    ("GET", "/dashboard/products"): Route("page"),
    ("POST", "/dashboard/products"): Route("page"),
    ("POST", "/dashboard/products/{product_id}/active"): Route("page"),
    ("GET", "/dashboard/member-fields"): Route("page"),
    ("POST", "/dashboard/member-fields"): Route("page"),
    ("POST", "/dashboard/member-fields/{key}"): Route("page"),
    ("POST", "/dashboard/member-fields/{key}/removed"): Route("page"),
    ("GET", "/dashboard/staff"): Route("page"),
    ("POST", "/dashboard/staff"): Route("page"),
    ("POST", "/dashboard/staff/{username}/pin"): Route("page"),
    ("POST", "/dashboard/staff/{username}/card"): Route("page"),
    ("POST", "/dashboard/staff/{username}/card/tapped"): Route("page"),
    ("POST", "/dashboard/staff/{username}/card/unbind"): Route("page"),
    ("GET", "/dashboard/timetable"): Route("page"),
    ("GET", "/api/v1/member/classes"): Route("public"),  # the member's link authorises
    ("POST", "/api/v1/member/bookings"): Route("public"),
    ("DELETE", "/api/v1/member/bookings"): Route("public"),
    ("POST", "/dashboard/logout"): Route("page"),
    # -- any logged-in user ----------------------------------------------------------------
    ("GET", "/api/v1/auth/me"): Route("self"),
    # -- HQ admins only ----------------------------------------------------------------------
    ("POST", "/api/v1/stores"): Route(
        "admin", True, own=req("/api/v1/stores", {"store_id": "s9", "name": "x"})
    ),
    ("GET", "/api/v1/users"): Route("admin", own=req("/api/v1/users")),
    ("POST", "/api/v1/users"): Route(
        "admin",
        True,
        own=req("/api/v1/users", {"username": "u9", "password": "password-9", "role": "viewer"}),
    ),
    ("POST", "/api/v1/kiosks/{kiosk_id}/revoke"): Route(
        "admin", True, own=req("/api/v1/kiosks/k1/revoke")
    ),
    ("PUT", "/api/v1/software/channels/{channel}"): Route(
        "admin",
        True,
        own=req("/api/v1/software/channels/canary", RELEASE),
    ),
    ("PUT", "/api/v1/software/stores/{store_id}/channel"): Route(
        "admin", True, own=req("/api/v1/software/stores/s1/channel", {"channel": "canary"})
    ),
    ("POST", "/api/v1/users/{username}/disable"): Route(
        "admin", True, own=req("/api/v1/users/u9zz/disable")
    ),
    ("POST", "/api/v1/users/{username}/enable"): Route(
        "admin", True, own=req("/api/v1/users/u9zz/enable")
    ),
    ("POST", "/api/v1/qr-keys/rotate"): Route("admin", True, own=req("/api/v1/qr-keys/rotate")),
    ("POST", "/api/v1/member-fields"): Route(
        "admin", True, own=req("/api/v1/member-fields", FIELD)
    ),
    ("PUT", "/api/v1/member-fields/{key}"): Route(
        "admin", True, own=req("/api/v1/member-fields/shoe_size", FIELD)
    ),
    ("DELETE", "/api/v1/member-fields/{key}"): Route(
        "admin", True, own=req("/api/v1/member-fields/shoe_size")
    ),
    ("POST", "/api/v1/member-fields/{key}/restore"): Route(
        "admin", True, own=req("/api/v1/member-fields/shoe_size/restore")
    ),
    # -- lists: every role reads, a store manager only their store -----------------------
    ("GET", "/api/v1/stores"): Route("list"),
    ("GET", "/api/v1/member-fields"): Route("list"),
    ("GET", "/api/v1/kiosks"): Route("list", other=req("/api/v1/kiosks", store_id="s2zz")),
    ("GET", "/api/v1/members"): Route("list", other=req("/api/v1/members", home_store_id="s2zz")),
    ("GET", "/api/v1/campaigns"): Route("list"),
    ("GET", "/api/v1/conflicts"): Route("list", other=req("/api/v1/conflicts", store_id="s2zz")),
    ("GET", "/api/v1/events"): Route("list", other=req("/api/v1/events", store_id="s2zz")),
    ("GET", "/api/v1/rule-bundles"): Route("list"),
    ("GET", "/api/v1/fleet"): Route("list", other=req("/api/v1/fleet", store_id="s2zz")),
    ("GET", "/api/v1/fleet/alerts"): Route("list"),
    ("GET", "/api/v1/fleet/rollouts"): Route("list"),
    ("GET", "/api/v1/fleet/software"): Route("list"),
    ("GET", "/api/v1/software/channels"): Route("list"),
    ("GET", "/api/v1/fleet/stream"): Route("list"),
    ("GET", "/api/v1/ops/ingest"): Route("list"),
    ("GET", "/api/v1/ops/rejections"): Route("list"),
    ("GET", "/api/v1/reports"): Route("list", other=req("/api/v1/reports", store_id="s2zz")),
    ("GET", "/api/v1/reports/{table}.csv"): Route(
        "list", other=req("/api/v1/reports/checkins_daily.csv", store_id="s2zz")
    ),
    ("GET", "/api/v1/enrollment-codes"): Route("list", True),
    # -- one store's resources and actions -------------------------------------------------
    ("GET", "/api/v1/stores/{store_id}"): Route("scoped", other=req("/api/v1/stores/s2zz")),
    ("GET", "/api/v1/stores/{store_id}/timetable"): Route(
        "scoped", other=req("/api/v1/stores/s2zz/timetable")
    ),
    ("PUT", "/api/v1/stores/{store_id}/timetable"): Route(
        "scoped",
        True,
        other=req("/api/v1/stores/s2zz/timetable", {"slots": []}),
        own=req("/api/v1/stores/s1/timetable", {"slots": []}),
    ),
    ("GET", "/api/v1/stores/{store_id}/timetable/week"): Route(
        "scoped", other=req("/api/v1/stores/s2zz/timetable/week")
    ),
    ("POST", "/api/v1/stores/{store_id}/sessions/{class_session_id}/bookings"): Route(
        "scoped",
        True,
        other=req("/api/v1/stores/s2zz/sessions/{session}/bookings", {"member_id": "m2zz"}),
        own=req("/api/v1/stores/s1/sessions/{session}/bookings", {"member_id": "m1"}),
    ),
    ("DELETE", "/api/v1/stores/{store_id}/sessions/{class_session_id}/bookings/{member_id}"): Route(
        "scoped",
        True,
        other=req("/api/v1/stores/s2zz/sessions/{session}/bookings/m2zz"),
        own=req("/api/v1/stores/s1/sessions/{session}/bookings/m1"),
    ),
    ("GET", "/api/v1/stores/{store_id}/sessions/{class_session_id}/roster"): Route(
        "scoped", other=req("/api/v1/stores/s2zz/sessions/{session}/roster")
    ),
    ("POST", "/api/v1/stores/{store_id}/sessions/{class_session_id}/taught"): Route(
        "scoped",
        True,
        other=req("/api/v1/stores/s2zz/sessions/{taught}/taught"),
        own=req("/api/v1/stores/s1/sessions/{taught}/taught"),
    ),
    ("GET", "/api/v1/me/classes"): Route("self"),
    ("POST", "/api/v1/kiosks"): Route(
        "scoped",
        True,
        other=req("/api/v1/kiosks", {"kiosk_id": "k9", "store_id": "s2zz"}),
        own=req("/api/v1/kiosks", {"kiosk_id": "k8", "store_id": "s1"}),
    ),
    ("GET", "/api/v1/kiosks/{kiosk_id}"): Route("scoped", other=req("/api/v1/kiosks/k2zz")),
    ("GET", "/api/v1/fleet/kiosks/{kiosk_id}"): Route(
        "scoped", other=req("/api/v1/fleet/kiosks/k2zz")
    ),
    ("GET", "/api/v1/kiosks/{kiosk_id}/streams"): Route(
        "scoped", other=req("/api/v1/kiosks/k2zz/streams")
    ),
    ("POST", "/api/v1/kiosks/{kiosk_id}/reprovision"): Route(
        "scoped",
        True,
        other=req("/api/v1/kiosks/k2zz/reprovision"),
        own=req("/api/v1/kiosks/k1/reprovision"),
    ),
    ("POST", "/api/v1/enrollment-codes"): Route(
        "scoped",
        True,
        other=req("/api/v1/enrollment-codes", {"kiosk_id": "k9", "store_id": "s2zz"}),
        own=req("/api/v1/enrollment-codes", {"kiosk_id": "k8", "store_id": "s1"}),
    ),
    ("POST", "/api/v1/members"): Route(
        "scoped",
        True,
        other=req("/api/v1/members", {"display_name": "X*", "home_store_id": "s2zz"}),
        own=req("/api/v1/members", {"display_name": "X*", "home_store_id": "s1"}),
    ),
    ("GET", "/api/v1/members/{member_id}"): Route("scoped", other=req("/api/v1/members/m2zz")),
    ("PATCH", "/api/v1/members/{member_id}"): Route(
        "scoped",
        True,
        other=req("/api/v1/members/m2zz", {"lang": "en"}),
        own=req("/api/v1/members/m1", {"lang": "en"}),
    ),
    ("GET", "/api/v1/members/{member_id}/balance"): Route(
        "scoped", other=req("/api/v1/members/m2zz/balance")
    ),
    ("POST", "/api/v1/members/{member_id}/cards"): Route(
        "scoped",
        True,
        other=req("/api/v1/members/m2zz/cards", {"uid": "04C0C0C0"}),
        own=req("/api/v1/members/m1/cards", {"uid": "04C0C0C1"}),
    ),
    ("GET", "/api/v1/cards/{uid}"): Route("scoped", other=req("/api/v1/cards/04BBBBBB")),
    ("POST", "/api/v1/cards/{uid}/report-lost"): Route(
        "scoped",
        True,
        other=req("/api/v1/cards/04BBBBBB/report-lost", {"reason": "lost"}),
        own=req("/api/v1/cards/04AAAAAB/report-lost", {"reason": "lost"}),
    ),
    ("POST", "/api/v1/cards/{uid}/replace"): Route(
        "scoped",
        True,
        other=req("/api/v1/cards/04BBBBBB/replace", {"new_uid": "04C0C0C2"}),
        own=req("/api/v1/cards/04AAAAAA/replace", {"new_uid": "04C0C0C3"}),
    ),
    ("POST", "/api/v1/members/{member_id}/passes"): Route(
        "scoped",
        True,
        # Another store's member may be sold a pass (cross-store service), valid in the
        # seller's own store only.
        other=req("/api/v1/members/m2zz/passes", {**PASS, "store_ids": ["s2zz"]}),
        own=req("/api/v1/members/m1/passes", {**PASS, "store_ids": ["s1"]}),
    ),
    ("POST", "/api/v1/members/{member_id}/passes/{pass_id}/freeze"): Route(
        "scoped",
        True,
        other=req("/api/v1/members/m2zz/passes/p2zz/freeze"),
        own=req("/api/v1/members/m1/passes/p1/freeze"),
    ),
    ("POST", "/api/v1/members/{member_id}/passes/{pass_id}/unfreeze"): Route(
        "scoped",
        True,
        other=req("/api/v1/members/m2zz/passes/p2zz/unfreeze"),
        own=req("/api/v1/members/m1/passes/p1/unfreeze"),
    ),
    ("POST", "/api/v1/members/{member_id}/passes/{pass_id}/extend"): Route(
        "scoped",
        True,
        other=req("/api/v1/members/m2zz/passes/p2zz/extend", {"sessions_total": 99}),
        own=req("/api/v1/members/m1/passes/p1/extend", {"sessions_total": 99}),
    ),
    ("POST", "/api/v1/members/{member_id}/points"): Route(
        "scoped",
        True,
        other=req("/api/v1/members/m2zz/points", {"points": 5, "reason": "gift"}),
        own=req("/api/v1/members/m1/points", {"points": 5, "reason": "gift"}),
    ),
    ("POST", "/api/v1/members/{member_id}/coupons"): Route(
        "scoped",
        True,
        other=req("/api/v1/members/m2zz/coupons", {**COUPON, "store_ids": ["s1"]}),
        own=req("/api/v1/members/m1/coupons", {**COUPON, "store_ids": ["s1"]}),
    ),
    ("POST", "/api/v1/members/{member_id}/page-link"): Route(
        "scoped",
        True,
        other=req("/api/v1/members/m2zz/page-link"),
        own=req("/api/v1/members/m1/page-link"),
    ),
    ("GET", "/api/v1/members/{member_id}/devices"): Route(
        "scoped",
        other=req("/api/v1/members/m2zz/devices"),
        own=req("/api/v1/members/m1/devices"),
    ),
    ("POST", "/api/v1/members/{member_id}/devices/{device_id}/revoke"): Route(
        "scoped",
        True,
        other=req("/api/v1/members/m2zz/devices/dnone/revoke"),
        own=req("/api/v1/members/m1/devices/{dev1}/revoke"),
    ),
    ("GET", "/api/v1/members/{member_id}/qr-token"): Route(
        "scoped",
        True,
        other=req("/api/v1/members/m2zz/qr-token"),
        own=req("/api/v1/members/m1/qr-token"),
    ),
    ("POST", "/api/v1/campaigns"): Route(
        "scoped",
        True,
        other=req(
            "/api/v1/campaigns",
            {"coupon": {**COUPON, "store_ids": ["s2zz"]}, "segment": {"home_store_id": "s2zz"}},
        ),
        own=req(
            "/api/v1/campaigns",
            {"coupon": {**COUPON, "store_ids": ["s1"]}, "segment": {"home_store_id": "s1"}},
        ),
    ),
    ("POST", "/api/v1/fleet/rollouts/campaign"): Route(
        "scoped",
        True,
        other=req(
            "/api/v1/fleet/rollouts/campaign",
            {"title": "x", "value": 500, "store_ids": ["s2zz"], "audience": "home"},
        ),
        own=req(
            "/api/v1/fleet/rollouts/campaign",
            {"title": "x", "value": 500, "store_ids": ["s1"], "audience": "home"},
        ),
    ),
    ("GET", "/api/v1/conflicts/{conflict_id}"): Route(
        "scoped", other=req("/api/v1/conflicts/{cf2}")
    ),
    ("GET", "/api/v1/fleet/conflicts/{conflict_id}/story"): Route(
        "scoped", other=req("/api/v1/fleet/conflicts/{cf2}/story")
    ),
    ("POST", "/api/v1/conflicts/{conflict_id}/resolve"): Route(
        "scoped",
        True,
        other=req("/api/v1/conflicts/{cf2}/resolve", {"note": "accepted as recorded"}),
        own=req("/api/v1/conflicts/{cf1}/resolve", {"note": "accepted as recorded"}),
    ),
    ("POST", "/api/v1/rule-bundles"): Route(
        "scoped",
        True,
        other=req("/api/v1/rule-bundles", {"store_ids": ["s2zz"]}),
        own=req("/api/v1/rule-bundles", {"store_ids": ["s1"]}),
    ),
    ("POST", "/api/v1/fleet/rollouts/rules"): Route(
        "scoped",
        True,
        other=req("/api/v1/fleet/rollouts/rules", {"store_ids": ["s2zz"]}),
        own=req("/api/v1/fleet/rollouts/rules", {"store_ids": ["s1"]}),
    ),
    ("GET", "/api/v1/rule-bundles/current"): Route(
        "scoped",
        other=req("/api/v1/rule-bundles/current", store_id="s2zz"),
        own=req("/api/v1/rule-bundles/current", store_id="s1"),
    ),
    ("GET", "/api/v1/rule-bundles/{bundle_id}"): Route(
        "scoped", other=req("/api/v1/rule-bundles/{b2}")
    ),
    ("POST", "/api/v1/rule-bundles/{bundle_id}/publish"): Route(
        "scoped",
        True,
        other=req("/api/v1/rule-bundles/{b2}/publish"),
        own=req("/api/v1/rule-bundles/{b1}/publish"),
    ),
    # -- stored value (money) ---------------------------------------------------------------
    ("GET", "/api/v1/members/{member_id}/stored-value"): Route(
        "scoped", other=req("/api/v1/members/m2zz/stored-value")
    ),
    # A manager may top up any member (cross-store service) but only as their own store.
    ("POST", "/api/v1/members/{member_id}/stored-value/top-ups"): Route(
        "scoped",
        True,
        other=req("/api/v1/members/m2zz/stored-value/top-ups", {**TOP_UP, "store_id": "s2zz"}),
        own=req("/api/v1/members/m1/stored-value/top-ups", {**TOP_UP, "store_id": "s1"}),
    ),
    ("POST", "/api/v1/members/{member_id}/stored-value/refunds"): Route(
        "admin",
        True,
        own=req(
            "/api/v1/members/m1/stored-value/refunds",
            {"amount_fen": 100, "method": "cash", "reason": "moved away"},
        ),
    ),
    # -- webhooks -------------------------------------------------------------------------------
    ("GET", "/api/v1/webhooks/endpoints"): Route(
        "list", other=req("/api/v1/webhooks/endpoints", store_id="s2zz")
    ),
    ("POST", "/api/v1/webhooks/endpoints"): Route(
        "scoped",
        True,
        other=req("/api/v1/webhooks/endpoints", {**ENDPOINT, "store_id": "s2zz"}),
        own=req("/api/v1/webhooks/endpoints", {**ENDPOINT, "store_id": "s1"}),
    ),
    ("GET", "/api/v1/webhooks/endpoints/{endpoint_id}"): Route(
        "scoped", other=req("/api/v1/webhooks/endpoints/{we2}")
    ),
    ("PATCH", "/api/v1/webhooks/endpoints/{endpoint_id}"): Route(
        "scoped",
        True,
        other=req("/api/v1/webhooks/endpoints/{we2}", {"description": "x"}),
        own=req("/api/v1/webhooks/endpoints/{we1}", {"description": "x"}),
    ),
    ("POST", "/api/v1/webhooks/endpoints/{endpoint_id}/rotate"): Route(
        "scoped",
        True,
        other=req("/api/v1/webhooks/endpoints/{we2}/rotate", {"grace_s": 60}),
        own=req("/api/v1/webhooks/endpoints/{we1}/rotate", {"grace_s": 60}),
    ),
    ("GET", "/api/v1/webhooks/endpoints/{endpoint_id}/deliveries"): Route(
        "scoped", other=req("/api/v1/webhooks/endpoints/{we2}/deliveries")
    ),
    ("GET", "/api/v1/webhooks/deliveries/{delivery_id}"): Route(
        "scoped", other=req("/api/v1/webhooks/deliveries/{wd2}")
    ),
    ("POST", "/api/v1/webhooks/deliveries/{delivery_id}/resend"): Route(
        "scoped",
        True,
        other=req("/api/v1/webhooks/deliveries/{wd2}/resend"),
        own=req("/api/v1/webhooks/deliveries/{wd1}/resend"),
    ),
    # -- purchases, the engagement report ---------------------------------------------------
    ("POST", "/api/v1/purchases"): Route(
        "scoped",
        True,
        other=req("/api/v1/purchases", {**PURCHASE, "store_id": "s2zz"}),
        own=req("/api/v1/purchases", {**PURCHASE, "store_id": "s1"}),
    ),
    ("GET", "/api/v1/automations/report"): Route("list"),
    ("POST", "/api/v1/automations/run"): Route("admin", True, own=req("/api/v1/automations/run")),
}
"""Every route of the app and how it is protected."""

FILLERS = {
    "uid": "04AAAAAA",
    "member_id": "m1",
    "pass_id": "p1",
    "product_id": "prod1",
    "username": "fd1",
    "kiosk_id": "k1",
    "store_id": "s1",
    "conflict_id": "{cf1}",
    "bundle_id": "{b1}",
    "table": "checkins_daily",
    "link": "x" * 20,
    "device_id": "dnone",
    "endpoint_id": "{we1}",
    "delivery_id": "{wd1}",
    "class_session_id": "{session}",
    "channel": "canary",
    "key": "shoe_size",
}


def served_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of everything the app serves (mounts as ``*``)."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        methods = route.methods
        if not methods:
            found.add(("*", str(route.path)))
            continue
        for method in methods - {"HEAD"}:
            found.add((method, str(route.path)))
    return found


def concrete(template: str) -> str:
    """A template path with placeholder values."""
    return re.sub(r"\{(\w+)\}", lambda m: FILLERS[m.group(1)], template)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Live, dict[str, Any]]]:
    """A coordinator (HTTP only) with stores s1 and s2zz and resources in each."""
    tmp_path: Path = tmp_path_factory.mktemp("http-auth")
    with live_coordinator(tmp_path, None) as live:
        ids = seed(live)
        yield live, ids


def seed(live: Live) -> dict[str, Any]:
    """Resources of store s1 and of store s2zz (every id of s2zz contains the marker)."""
    for store in ("s1", "s2zz"):
        live.add_store(store)
    ids: dict[str, Any] = {
        "mgr1": live.add_user("mgr1", "store_manager", "s1"),
        "viewer": live.add_user("viewer1", "viewer"),
    }
    now = live.coord.clock.wall_ms()
    for kiosk, store in (("k1", "s1"), ("k2zz", "s2zz")):
        live.call("POST", "/api/v1/kiosks", json={"kiosk_id": kiosk, "store_id": store},
                  expect=201)  # fmt: skip
    for member, store, card, pass_id in (
        ("m1", "s1", "04AAAAAA", "p1"),
        ("m2zz", "s2zz", "04BBBBBB", "p2zz"),
    ):
        live.add_member(member, display_name=f"Name{store}", home_store_id=store,
                        store_scope=[store])  # fmt: skip
        live.call("POST", f"/api/v1/members/{member}/cards", json={"uid": card}, expect=201)
        if member == "m1":
            live.call("POST", "/api/v1/members/m1/cards", json={"uid": "04AAAAAB"}, expect=201)
        live.call("POST", f"/api/v1/members/{member}/passes", expect=201,
                  json={**PASS, "pass_id": pass_id, "store_ids": [store]})  # fmt: skip
        live.call("POST", f"/api/v1/members/{member}/coupons", expect=201,
                  json={**COUPON, "store_ids": [store]})  # fmt: skip
        live.call("POST", "/api/v1/campaigns", expect=201,
                  json={"campaign_id": f"cp{store}", "coupon": {**COUPON, "store_ids": [store]},
                        "segment": {"home_store_id": store}})  # fmt: skip
        live.call("POST", "/api/v1/enrollment-codes", expect=201,
                  json={"kiosk_id": f"kx{store}", "store_id": store})  # fmt: skip
        draft = live.call("POST", "/api/v1/rule-bundles", json={"store_ids": [store]}, expect=201)
        ids[f"b{store}"] = draft["bundle_id"]
    ids["b1"], ids["b2"] = ids.pop("bs1"), ids.pop("bs2zz")
    ids["session"], ids["taught"] = SESSION, TAUGHT
    for store in ("s1", "s2zz"):  # a Monday yoga class in each store's timetable
        slot = {"slot_id": "yoga", "room": "a", "class_type": "yoga", "title_zh": "瑜伽",
                "title_en": "Yoga", "weekday": 0, "start": "18:30", "length_min": 60,
                "capacity": 10, "coach": "coach1"}  # fmt: skip
        live.call("PUT", f"/api/v1/stores/{store}/timetable", json={"slots": [slot]})
    # m1 holds a booking (the manager's own cancel, then book again, must work).
    live.call("POST", f"/api/v1/stores/s1/sessions/{SESSION}/bookings",
              json={"member_id": "m1"}, expect=201)  # fmt: skip
    # A phone of m1 (registered with m1's link), for the device routes.
    page_link = live.call("POST", "/api/v1/members/m1/page-link")["link_token"]
    public = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    device = live.http.post(
        "/api/v1/member/devices",
        json={"link": page_link, "public_key": base64.urlsafe_b64encode(public).decode()},
    )
    assert device.status_code == 200, device.text
    ids["dev1"] = device.json()["device_id"]
    published = live.call("POST", "/api/v1/rule-bundles", json={"store_ids": ["s2zz"]},
                          expect=201)  # fmt: skip
    live.call("POST", f"/api/v1/rule-bundles/{published['bundle_id']}/publish")
    with live.coord.db.write() as conn:
        for n, (member, store) in enumerate((("m1", "s1"), ("m2zz", "s2zz")), 1):
            ids[f"cf{n}"] = raise_conflict(
                conn,
                ConflictDraft(
                    dedupe_key=f"test:{member}",
                    kind="points_overdraw",
                    explanation=f"test conflict of {member}",
                    member_id=member,
                    kiosk_id="k1" if store == "s1" else "k2zz",
                    store_id=store,
                    store_ids=[store],
                ),
                now,
            )
    for n, store in enumerate(("s1", "s2zz"), 1):
        created = live.call("POST", "/api/v1/webhooks/endpoints", expect=201,
                            json={**ENDPOINT, "store_id": store})  # fmt: skip
        ids[f"we{n}"] = created["endpoint"]["endpoint_id"]
        with live.coord.db.write() as conn:
            webhooks.publish(conn, event_type="notification.test", message_id=f"msg_{store}",
                             data={"n": n}, store_id=store, now_ms=now)  # fmt: skip
        listed = live.call("GET", f"/api/v1/webhooks/endpoints/{ids[f'we{n}']}/deliveries")
        ids[f"wd{n}"] = listed[0]["delivery_id"]
    # The fleet monitor's snapshot (lists and kiosk pages read it) includes both kiosks.
    wait_until(lambda: len(live.call("GET", "/api/v1/fleet")["kiosks"]) == 2, what="fleet")
    return ids


def fill(request: tuple[str, dict[str, Any], Any], ids: dict[str, Any]) -> tuple[str, Any, Any]:
    """Put seeded ids into a request's path."""
    path, params, body = request
    return path.format(**{k: v for k, v in ids.items() if isinstance(v, str | int)}), params, body


def call(live: Live, method: str, request: tuple[str, Any, Any], headers: Any) -> httpx.Response:
    """Send one request (the SSE stream is read up to its first event only)."""
    path, params, body = request
    if path.endswith("/stream"):
        with live.http.stream("GET", path, headers=headers, timeout=10) as r:
            if r.status_code == 200:
                text = ""
                for line in r.iter_lines():
                    text += line + "\n"
                    if line.startswith("data:"):
                        break
                return httpx.Response(200, text=text)
            r.read()
            return r
    if path == "/api/v1/purchases":  # every purchase carries its own Idempotency-Key
        headers = {**(headers or {}), "Idempotency-Key": uuid.uuid4().hex}
    return live.http.request(method, path, params=params or None, json=body, headers=headers)


def test_every_route_is_classified(api: tuple[Live, dict[str, Any]]) -> None:
    live, _ids = api
    served = served_routes(live.app)
    assert served == set(ROUTES), (
        f"routes without a security entry: {sorted(served - set(ROUTES))}; "
        f"entries for routes that no longer exist: {sorted(set(ROUTES) - served)}"
    )


def _forged_tokens() -> dict[str, str]:
    admin = Principal("admin", Role.HQ_ADMIN, None)
    return {
        "garbage": "not-a-token",
        "expired": issue_token(DEV_SECRET_KEY, admin, now_ms=1_000, ttl_s=60),
        "other key": issue_token("another-secret-key-entirely", admin, 10**13, 3600),
        "member link": member_page_token(DEV_SECRET_KEY, "m1", 10**13, 3600),
    }


def test_every_non_public_route_needs_a_login(api: tuple[Live, dict[str, Any]]) -> None:
    live, ids = api
    checked = 0
    for (method, template), route in sorted(ROUTES.items()):
        if route.kind in ("public", "static"):
            continue
        path = fill(req(concrete(template)), ids)[0]
        if route.kind == "page":
            r = live.http.request(method, path, follow_redirects=False)
            assert r.status_code == 303, (method, template, r.status_code)
            final = live.http.request(method, path, follow_redirects=True)
            assert final.url.path == "/dashboard/login", (template, final.url)
            continue
        r = live.http.request(method, path)
        assert r.status_code == 401, (method, template, r.status_code, r.text)
        assert r.json()["error"]["code"] == "not_authenticated"
        for what, token in _forged_tokens().items():
            r = live.http.request(method, path, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, (what, method, template, r.text)
        checked += 1
    assert checked >= 50  # the API, not a handful


def test_public_routes_answer_without_a_login(api: tuple[Live, dict[str, Any]]) -> None:
    live, _ids = api
    for path in ("/healthz", "/openapi.json", "/docs", "/dashboard/login", "/metrics"):
        assert live.http.get(path).status_code == 200, path


def test_store_manager_is_refused_every_other_stores_resource(
    api: tuple[Live, dict[str, Any]],
) -> None:
    live, ids = api
    mgr = ids["mgr1"]
    before = _s2_state(live)
    for (method, template), route in sorted(ROUTES.items()):
        if route.kind == "admin":
            r = call(live, method, fill(route.own or req(concrete(template)), ids), mgr)
            assert r.status_code == 403, (method, template, r.text)
            assert r.json()["error"]["code"] == "admin_only"
        if route.kind == "list":
            r = call(live, method, fill(req(concrete(template)), ids), mgr)
            assert r.status_code == 200, (method, template, r.text)
            assert MARK not in r.text, (method, template, r.text[:500])
        if route.kind in ("list", "scoped") and route.other is not None:
            request = fill(route.other, ids)
            r = call(live, method, request, mgr)
            code = r.json()["error"]["code"] if r.status_code >= 400 else None
            refused = (r.status_code, code) in ((403, "store_forbidden"),
                                               (422, "store_scope_required")) or (
                r.status_code == 404 and str(code).endswith("_not_found") and code != "not_found"
            )  # fmt: skip
            assert refused, (method, template, r.status_code, r.text)
            if method == "GET":  # the same request works for HQ: it names a real resource
                assert call(live, method, request, live.admin).status_code == 200, template
        if route.kind == "scoped":
            assert route.other is not None, f"{method} {template} needs an 'other' request"
    assert _s2_state(live) == before, "a refused request changed store s2zz's data"


def _s2_state(live: Live) -> dict[str, Any]:
    """What an admin sees of store s2zz (to prove refused requests changed nothing)."""
    member = live.call("GET", "/api/v1/members/m2zz")
    member.pop("members_version", None)
    return {
        "member": member,
        "balance": live.call("GET", "/api/v1/members/m2zz/balance")["ledger"],
        "kiosks": live.call("GET", "/api/v1/kiosks", store_id="s2zz"),
        "codes": [
            c for c in live.call("GET", "/api/v1/enrollment-codes") if c["store_id"] == "s2zz"
        ],
        "campaigns": [c for c in live.call("GET", "/api/v1/campaigns") if MARK in str(c)],
        "bundles": [b for b in live.call("GET", "/api/v1/rule-bundles") if MARK in str(b)],
        "conflicts": live.call("GET", "/api/v1/conflicts", store_id="s2zz")["items"],
        "cards": live.call("GET", "/api/v1/cards/04BBBBBB"),
    }


def test_lists_show_the_other_store_to_hq(api: tuple[Live, dict[str, Any]]) -> None:
    """Positive control: the marker is there for an HQ admin, so its absence means a filter."""
    live, _ids = api
    for path in (
        "/api/v1/stores",
        "/api/v1/kiosks",
        "/api/v1/members",
        "/api/v1/campaigns",
        "/api/v1/conflicts",
        "/api/v1/rule-bundles",
        "/api/v1/fleet",
        "/api/v1/enrollment-codes",
    ):
        assert MARK in live.http.get(path, headers=live.admin).text, path


def test_viewer_is_refused_every_change(api: tuple[Live, dict[str, Any]]) -> None:
    live, ids = api
    viewer = ids["viewer"]
    refused = 0
    for (method, template), route in sorted(ROUTES.items()):
        if route.kind in ("public", "static", "page", "self"):
            continue
        if not route.write and route.kind != "admin":
            r = call(live, method, fill(route.own or req(concrete(template)), ids), viewer)
            assert r.status_code == 200, (method, template, r.text)
            continue
        request = route.own or req(concrete(template))
        r = call(live, method, fill(request, ids), viewer)
        assert r.status_code == 403, (method, template, r.status_code, r.text)
        assert r.json()["error"]["code"] in ("read_only", "admin_only"), (template, r.text)
        refused += 1
    assert refused >= 25


def test_own_requests_work_for_the_manager(api: tuple[Live, dict[str, Any]]) -> None:
    """The 'own' requests are valid: what the viewer was refused, the store's manager may do
    (so the 403s above are about the role, not a broken request)."""
    live, ids = api
    mgr = ids["mgr1"]
    for (method, template), route in sorted(ROUTES.items()):
        if route.kind != "scoped" or route.own is None:
            continue
        r = call(live, method, fill(route.own, ids), mgr)
        assert r.status_code < 300, (method, template, r.status_code, r.text)
