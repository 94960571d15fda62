"""Putting the demo chain into the coordinator, through its HTTP API only.

Two phases, because kiosks need their broker credentials before they can start:

1. :func:`provision_chain` - stores, ops logins, kiosks (each gets its own broker password);
2. :func:`seed_chain` - the rule bundle with today's classes and rewards, members with cards,
   passes and opening points, coupon campaigns, and phone links for the members' QR codes.

Every step prints a line or a progress bar; every refusal stops the demo with the API's own
error code and message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulators.demo.api import ApiFailure, CoordinatorClient
from simulators.demo.catalog import Catalog, MemberSpec, small_class_session
from simulators.demo.console import Console


@dataclass(frozen=True)
class KioskCredentials:
    """What provisioning a kiosk returned: its broker user and password."""

    kiosk_id: str
    store_id: str
    username: str
    password: str


@dataclass
class SeedResult:
    """What later steps need from seeding."""

    bundle_version: int = 0
    page_links: dict[str, str] = field(default_factory=dict)
    """member id -> link token of the member's phone page (``/m/<token>``)."""
    members: int = 0
    cards: int = 0
    passes: int = 0
    coupons: int = 0
    points: int = 0
    topped_up_fen: int = 0
    purchases: int = 0


def provision_chain(
    client: CoordinatorClient, catalog: Catalog, console: Console
) -> dict[str, KioskCredentials]:
    """Register the stores, the ops logins and the kiosks; returns each kiosk's credentials."""
    for store in catalog.stores:
        client.post(
            "/api/v1/stores",
            {"store_id": store.store_id, "name": store.name, "timezone": store.timezone},
        )
    console.step(f"stores: {', '.join(s.name for s in catalog.stores)}")
    for login in catalog.logins:
        if login.username == catalog.admin.username:
            continue  # the coordinator creates the first HQ admin from its settings
        client.post(
            "/api/v1/users",
            {
                "username": login.username,
                "password": login.password,
                "role": login.role,
                "store_id": login.store_id,
            },
        )
    console.step(f"ops logins: {', '.join(login.username for login in catalog.logins)}")
    credentials: dict[str, KioskCredentials] = {}
    for kiosk in catalog.kiosks:
        answer = client.post(
            "/api/v1/kiosks",
            {"kiosk_id": kiosk.kiosk_id, "store_id": kiosk.store_id, "name": kiosk.name},
        )
        mqtt = answer["mqtt"]
        credentials[kiosk.kiosk_id] = KioskCredentials(
            kiosk_id=kiosk.kiosk_id,
            store_id=kiosk.store_id,
            username=str(mqtt["username"]),
            password=str(mqtt["password"]),
        )
    console.step(
        f"kiosks provisioned with their own broker logins: "
        f"{', '.join(k.kiosk_id for k in catalog.kiosks)}"
    )
    return credentials


def publish_rules(client: CoordinatorClient, catalog: Catalog) -> int:
    """Draft and publish the chain's rule bundle; returns its version."""
    draft = client.post(
        "/api/v1/rule-bundles",
        {
            "rules": catalog.rules.model_dump(mode="json"),
            "classes": [c.model_dump(mode="json") for c in catalog.classes],
            "rewards": [r.model_dump(mode="json") for r in catalog.rewards],
            "store_ids": [],
            "note": "demo: today's timetable and the rewards catalogue",
        },
    )
    published = client.post(f"/api/v1/rule-bundles/{draft['bundle_id']}/publish", {})
    return int(published["version"])


def seed_member(client: CoordinatorClient, member: MemberSpec, result: SeedResult) -> None:
    """One member with their card, passes and opening points."""
    client.post(
        "/api/v1/members",
        {
            "member_id": member.member_id,
            "display_name": member.display_name,
            "full_name": member.full_name,
            "phone": member.phone,
            "home_store_id": member.home_store_id,
            "lang": member.lang,
            **({"birthday": member.birthday} if member.birthday else {}),
            **({"tags": list(member.tags)} if member.tags else {}),
        },
    )
    result.members += 1
    client.post(f"/api/v1/members/{member.member_id}/cards", {"uid": member.card_uid})
    result.cards += 1
    for spec in member.passes:
        client.post(
            f"/api/v1/members/{member.member_id}/passes",
            {
                "pass_id": spec.pass_id,
                "kind": spec.kind,
                "name": spec.name,
                "class_types": list(spec.class_types),
                "store_ids": list(spec.store_ids),
                "valid_from_ms": spec.valid_from_ms,
                "valid_until_ms": spec.valid_until_ms,
                "sessions_total": spec.sessions_total,
                "price_fen": spec.price_fen,
            },
        )
        if spec.frozen:
            client.post(f"/api/v1/members/{member.member_id}/passes/{spec.pass_id}/freeze")
        result.passes += 1
    if member.points:
        client.post(
            f"/api/v1/members/{member.member_id}/points",
            {"points": member.points, "reason": "开卡积分 opening balance (demo)"},
        )
        result.points += member.points


def seed_chain(
    client: CoordinatorClient,
    catalog: Catalog,
    console: Console,
    check: Callable[[], None] = lambda: None,
) -> SeedResult:
    """Rules, members, cards, passes, points, campaigns and phone links, with progress.

    ``check`` runs between members (it raises to abandon seeding, e.g. on Ctrl-C).
    """
    result = SeedResult()
    result.bundle_version = publish_rules(client, catalog)
    open_class = next(c for c in catalog.classes if c.class_session_id == catalog.open_class_id)
    console.step(
        f"rule bundle v{result.bundle_version}: {len(catalog.classes)} classes today "
        f"(sign-in open now: {open_class.title_zh} {open_class.title_en} in "
        f"{catalog.store(open_class.store_id).name}), {len(catalog.rewards)} rewards"
    )
    if catalog.studio_week:
        week = client.put(f"/api/v1/stores/{catalog.class_store_id}/timetable", catalog.studio_week)
        console.step(
            f"studio timetable: {len(week['slots'])} weekly classes in "
            f"{catalog.store(catalog.class_store_id).name}, rolled out as rules "
            f"v{week['rules_version']}"
        )
    bar = console.progress("members, cards, passes, points", len(catalog.members))
    for member in catalog.members:
        check()
        seed_member(client, member, result)
        bar.advance()
    felica = sum(1 for m in catalog.members if m.card_type == "felica")
    bar.done(
        f"{result.members} members, {result.cards} cards ({felica} FeliCa, "
        f"{result.cards - felica} NTAG215), {result.passes} passes, {result.points} points"
    )
    for campaign in catalog.campaigns:
        check()
        answer = client.post(
            "/api/v1/campaigns",
            {
                "campaign_id": campaign.campaign_id,
                "coupon": {
                    "title": campaign.title,
                    "kind": campaign.kind,
                    "value": campaign.value,
                    "store_ids": list(campaign.store_ids),
                    "valid_from_ms": campaign.valid_from_ms,
                    "valid_until_ms": campaign.valid_until_ms,
                },
                "segment": campaign.segment,
            },
        )
        result.coupons += int(answer["issued"])
        console.step(f"coupon campaign '{campaign.title}': {answer['issued']} coupons issued")
    seed_money(client, catalog, console, result)
    if catalog.studio_week:
        seed_bookings(client, catalog, console, int(time.time() * 1000))
    for member in catalog.members:
        if member.prefers_qr or member.member_id == catalog.roles.hands_on_member:
            link = client.post(f"/api/v1/members/{member.member_id}/page-link")
            result.page_links[member.member_id] = str(link["link_token"])
    return result


def seed_bookings(
    client: CoordinatorClient, catalog: Catalog, console: Console, now_ms: int
) -> None:
    """Fill the studio's small-group class: students book until it is full and two more
    join the waitlist; then the first booked cancels (before the cut-off) and the first on
    the waitlist is promoted to the freed seat (and told through the notification hook)."""
    store = catalog.class_store_id
    session = small_class_session(now_ms)
    path = f"/api/v1/stores/{store}/sessions/{session}/bookings"
    booked: list[str] = []
    waiting: list[str] = []
    for member in catalog.members:
        if not member.student or len(waiting) >= 2:
            continue
        try:
            answer = client.post(path, {"member_id": member.member_id})
        except ApiFailure:
            continue  # no usable pass (frozen, expired): refused, nothing changed
        (booked if answer["status"] == "booked" else waiting).append(member.member_id)
    if not booked:
        return
    freed = client.delete(f"{path}/{booked[0]}")
    promoted = freed.get("promoted") or {}
    console.step(
        f"bookings: {session} full ({len(booked)} booked, {len(waiting)} waitlisted); "
        f"{booked[0]} cancelled, {promoted.get('member_id', 'nobody')} promoted from the "
        "waitlist"
    )


STORY_STORED_VALUE_FEN = 15_000
"""The story member's stored value (¥150): charged ¥100 offline and ¥100 online, it
overdraws by ¥50 and the coordinator raises a ``stored_value_overdrawn`` conflict."""


def seed_money(
    client: CoordinatorClient, catalog: Catalog, console: Console, result: SeedResult
) -> None:
    """Opening stored-value balances (every fourth member, and ¥1,000 for the hands-on member:
    the top-up rule's ¥100 bonus), then purchases: paid from stored value in the home store
    and in another store (the cross-store settlement), and in cash with the ¥20 voucher."""
    roles = catalog.roles
    busy = {roles.points_member, roles.coupon_member, roles.hands_on_member}
    funded: list[MemberSpec] = []
    for i, member in enumerate(catalog.members):
        fen = (
            100_000
            if member.member_id == roles.hands_on_member
            else STORY_STORED_VALUE_FEN
            if member.member_id == roles.points_member
            else 50_000
            if i % 4 == 0
            else 0
        )
        if not fen:
            continue
        client.post(
            f"/api/v1/members/{member.member_id}/stored-value/top-ups",
            {"amount_fen": fen, "method": "wechat", "store_id": member.home_store_id,
             "reference": "demo opening top-up"},
        )  # fmt: skip
        result.topped_up_fen += fen
        if member.member_id not in busy:
            funded.append(member)
    other = {s.store_id: catalog.stores[(n + 1) % len(catalog.stores)].store_id
             for n, s in enumerate(catalog.stores)}  # fmt: skip
    lines = [
        {"sku": "shake", "name": "蛋白奶昔 Protein shake", "unit_fen": 2_500, "qty": 2},
        {"sku": "towel", "name": "毛巾 Towel", "unit_fen": 3_000, "qty": 1},
    ]
    for n, member in enumerate(funded[:6]):
        store = member.home_store_id if n % 2 == 0 else other[member.home_store_id]
        buy = {"member_id": member.member_id, "store_id": store, "lines": lines,
               "method": "stored_value", "reference": f"demo-pos-{n}"}  # fmt: skip
        client.post("/api/v1/purchases", buy, headers={"Idempotency-Key": f"demo-sv-{n}"})
        result.purchases += 1
    voucher_store = catalog.stores[0].store_id
    for member in catalog.members:
        if member.home_store_id != voucher_store or member.member_id in busy:
            continue
        voucher = next(
            (c for c in member_coupons(client, member.member_id) if c["kind"] == "voucher"), None
        )
        if voucher is None:
            continue
        buy = {"member_id": member.member_id, "store_id": voucher_store, "total_fen": 15_000,
               "coupon_id": voucher["coupon_id"], "method": "card"}  # fmt: skip
        client.post("/api/v1/purchases", buy, headers={"Idempotency-Key": "demo-voucher"})
        result.purchases += 1
        break
    console.step(
        f"stored value: {result.topped_up_fen // 100:,} yuan topped up (top-up rule: pay ¥1,000 "
        f"get ¥100); {result.purchases} purchases (stored value, cross-store, ¥20 voucher)"
    )


def member_coupons(client: CoordinatorClient, member_id: str) -> list[dict[str, Any]]:
    """The member's coupons as the coordinator's ledger has them."""
    try:
        balance = client.get(f"/api/v1/members/{member_id}/balance", trail="false")
    except ApiFailure:
        return []
    return list(balance["ledger"]["coupons"])
