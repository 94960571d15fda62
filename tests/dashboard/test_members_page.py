"""The front desk's member pages: search (name, phone, member id, card UID), paging, CSV,
and a member's profile, cards, passes, points with expiry, coupons and timeline. Role checks:
front desk sees its own store, a viewer reads masked data, every profile view is audited."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from coordinator import schema
from shared.events import CheckIn, CredentialKind, CredentialRef
from simulators.waiting import wait_until
from tests.dashboard.conftest import login
from tests.dashboard.live import Live

pytestmark = pytest.mark.browser

DAY_MS = 86_400_000
UID = "04A1B2C3D4E5F6"


def seed(live: Live) -> None:
    """Two stores; m1 (s1) with a card, a pass, points and a kiosk check-in; m2 in s2."""
    live.add_store("s1", "Downtown")
    live.add_store("s2", "Riverside")
    body = {"member_id": "m1", "display_name": "李*华", "full_name": "李小华",
            "phone": "13800001234", "home_store_id": "s1"}  # fmt: skip
    live.call("POST", "/api/v1/members", json=body, expect=201)
    body = {"member_id": "m2", "display_name": "W*i", "full_name": "Wang Wei",
            "phone": "13800005678", "home_store_id": "s2"}  # fmt: skip
    live.call("POST", "/api/v1/members", json=body, expect=201)
    live.call("POST", "/api/v1/members/m1/cards", json={"uid": UID}, expect=201)
    now = live.coord.clock.wall_ms()
    sale = {"pass_id": "p10", "kind": "punch", "name": "10-session yoga",
            "valid_from_ms": now - DAY_MS, "valid_until_ms": now + 90 * DAY_MS,
            "sessions_total": 10, "price_fen": 98000, "store_ids": ["s1"]}  # fmt: skip
    live.call("POST", "/api/v1/members/m1/passes", json=sale, expect=201)
    grant = {"points": 50, "reason": "opening balance"}
    live.call("POST", "/api/v1/members/m1/points", json=grant, expect=201)
    kiosk = live.kiosk("kA", "s1")
    staff = CredentialRef(kind=CredentialKind.STAFF, staff_id="desk-anna")
    kiosk.record("m1", CheckIn(points=10), staff)
    kiosk.flush()
    wait_until(
        lambda: any(
            e["kind"] == "checkin"
            for e in live.call("GET", "/api/v1/events", member_id="m1")["items"]
        )
    )


def audits(live: Live, action: str) -> list[Any]:
    """Audit rows of one action."""
    a = schema.audit_log
    with live.coord.db.read() as conn:
        return list(conn.execute(sa.select(a).where(a.c.action == action).order_by(a.c.id)))


def test_front_desk_finds_a_member_and_reads_the_whole_story(live: Live, page: Any) -> None:
    seed(live)
    password = live.add_user("fd1", "front_desk", "s1")
    login(page, live, "fd1", password, "/dashboard/members?lang=en")

    # Their own store only: m2 (s2) matches the phone prefix but is not listed.
    expect(page.locator("tr[data-member]")).to_have_count(1)
    page.fill("#q", "1380000")
    page.click("#search-submit")
    expect(page.locator("tr[data-member]")).to_have_count(1)
    expect(page.locator('tr[data-member="m1"] .phone')).to_have_text("13800001234")
    # By card UID (typed in lower case with separators, as a reader app shows it).
    page.fill("#q", "04:a1:b2:c3:d4:e5:f6")
    page.click("#search-submit")
    expect(page.locator('tr[data-member="m1"]')).to_have_count(1)
    page.fill("#q", "nobody-like-this")
    page.click("#search-submit")
    expect(page.locator("#no-members")).to_be_visible()

    page.goto(f"{live.url}/dashboard/members?q=%E6%9D%8E%E5%B0%8F")  # 李小: start of the name
    page.click('tr[data-member="m1"] a')
    expect(page.locator("#member-title")).to_contain_text("m1")
    expect(page.locator("#full-name")).to_have_text("李小华")
    expect(page.locator("#phone")).to_have_text("13800001234")
    expect(page.locator(f'#cards tr[data-uid="{UID}"]')).to_have_count(1)
    expect(page.locator('#passes tr[data-pass="p10"]')).to_contain_text("10 / 10")
    expect(page.locator("#points-available")).to_have_text("60")
    expect(page.locator("#points-lots tbody tr")).to_have_count(2)
    checkin = page.locator('#timeline tr[data-what="checkin"]')
    expect(checkin.locator(".kiosk")).to_have_text("kA")
    expect(checkin.locator(".staff")).to_have_text("desk-anna")
    sold = page.locator('#timeline tr[data-what="pass_issue"]')
    expect(sold.locator(".staff")).to_have_text("admin")
    expect(page.locator('#timeline tr[data-what="card.bind"] .staff')).to_have_text("admin")
    expect(page.locator("#masked-note")).to_have_count(0)

    views = audits(live, "member.view")
    assert [(r.actor, r.target, json.loads(r.detail)["masked"]) for r in views] == [
        ("fd1", "m1", False)
    ]

    # Another store's member (by the whole member id): a limited, masked view, audited so.
    page.goto(f"{live.url}/dashboard/members/m2")
    expect(page.locator("#cross-store-note")).to_contain_text("belongs to store s2")
    expect(page.locator("#phone")).to_have_text("*******5678")
    views = audits(live, "member.view")
    assert [json.loads(r.detail).get("cross_store") for r in views] == [None, True]

    # Front desk never reaches settings: rule rollouts and kiosk provisioning are refused.
    desk = live.login("fd1", password)
    for path, body in (
        ("/api/v1/fleet/rollouts/rules", {"store_ids": ["s1"]}),
        ("/api/v1/kiosks", {"kiosk_id": "kX", "store_id": "s1"}),
    ):
        r = live.http.post(path, json=body, headers=desk)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"]["code"] == "manager_only"


def test_viewer_reads_masked_and_exports_masked_csv(live: Live, page: Any) -> None:
    seed(live)
    password = live.add_user("watcher", "viewer")
    login(page, live, "watcher", password, "/dashboard/members?lang=en")
    expect(page.locator("#masked-note")).to_be_visible()
    expect(page.locator("tr[data-member]")).to_have_count(2)  # a chain-wide viewer
    expect(page.locator('tr[data-member="m1"] .phone')).to_have_text("*******1234")
    expect(page.locator('tr[data-member="m1"] .full-name')).to_have_text("李*华")
    expect(page.locator('tr[data-member="m2"] .full-name')).to_have_text("Wang W.")

    with page.expect_download() as info:
        page.click("#members-csv")
    text = Path(info.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["member_id"], r["phone"], r["full_name"], r["cards"]) for r in rows] == [
        ("m1", "*******1234", "李*华", UID),
        ("m2", "*******5678", "Wang W.", ""),
    ]
    exports = audits(live, "member.export")
    assert [(r.actor, json.loads(r.detail)["masked"]) for r in exports] == [("watcher", True)]

    page.goto(f"{live.url}/dashboard/members/m1")
    expect(page.locator("#phone")).to_have_text("*******1234")
    expect(page.locator("#full-name")).to_have_text("李*华")
    assert [r.actor for r in audits(live, "member.view")] == ["watcher"]

    # Reading only: no action forms, and a posted action is refused with nothing changed.
    expect(page.locator("#points-form")).to_have_count(0)
    expect(page.locator("#bind-form")).to_have_count(0)
    expect(page.locator(".freeze-form")).to_have_count(0)
    r = page.request.post(
        f"{live.url}/dashboard/members/m1/points",
        form={"csrf": csrf(page), "points": "5", "reason": "viewer tries"},
    )
    assert r.status == 403 and "read-only" in r.text()
    expect(page.locator("#points-available")).to_have_text("60")


def test_paging_through_members(live: Live, page: Any) -> None:
    live.add_store("s1", "Downtown")
    for n in range(30):
        live.add_member(f"m{n:02d}", f"Member {n:02d}", "s1")
    login(page, live, "admin", "admin", "/dashboard/members?lang=en")
    expect(page.locator("tr[data-member]")).to_have_count(25)
    expect(page.locator("#prev-page")).to_have_count(0)
    page.click("#next-page")
    expect(page.locator("tr[data-member]")).to_have_count(5)
    expect(page.locator("tr[data-member]").first).to_have_attribute("data-member", "m25")
    expect(page.locator("#next-page")).to_have_count(0)
    page.click("#prev-page")
    expect(page.locator("tr[data-member]").first).to_have_attribute("data-member", "m00")


def csrf(page: Any) -> str:
    """The page's CSRF value."""
    return str(page.locator('meta[name="csrf-token"]').get_attribute("content"))


def test_front_desk_registers_and_serves_a_member(live: Live, page: Any) -> None:
    seed(live)
    password = live.add_user("fd1", "front_desk", "s1")
    answers: list[str] = []
    cancel = {"next": False}

    def answer(dialog: Any) -> None:
        answers.append(dialog.message)
        if cancel["next"]:
            cancel["next"] = False
            dialog.dismiss()
        else:
            dialog.accept()

    page.on("dialog", answer)
    login(page, live, "fd1", password, "/dashboard/members?lang=en")

    # Register: every field of the form lands on the profile; the staff member is recorded.
    page.click("#register-link")
    page.fill("#display_name", "张*")
    page.fill("#full_name", "张三")
    page.fill("#phone", "13700000001")
    page.fill("#birthday", "1991-02-03")
    page.select_option("#gender", "female")
    page.fill("#tags", "VIP, 学生")
    page.fill("#referrer_id", "m1")
    page.click("#register-submit")
    expect(page.locator("#action-notice")).to_have_text("Member registered.")
    member_id = page.url.split("/dashboard/members/")[1].split("?")[0]
    expect(page.locator("#home-store")).to_have_text("s1")
    expect(page.locator("#birthday")).to_have_text("1991-02-03")
    expect(page.locator("#tags .pill")).to_have_text(["VIP", "学生"])
    expect(page.locator("#referrer a")).to_have_attribute("href", "/dashboard/members/m1")
    expect(page.locator('#timeline tr[data-what="member.create"] .staff')).to_have_text("fd1")
    assert answers == ["Register this member?"]

    # A phone number on file: the page offers that member and registers nobody.
    page.goto(f"{live.url}/dashboard/members/new")
    page.fill("#display_name", "Dup")
    page.fill("#phone", "13800001234")
    page.click("#register-submit")
    expect(page.locator("#action-error")).to_contain_text("already belongs to member m1")
    expect(page.locator("#existing-member")).to_have_attribute("href", "/dashboard/members/m1")
    page.goto(f"{live.url}/dashboard/members")
    expect(page.locator("tr[data-member]")).to_have_count(2)

    # Bind a typed card; a card bound to somebody else is refused with the reason.
    page.goto(f"{live.url}/dashboard/members/{member_id}")
    page.fill("#bind-uid", "04:11:22:33:44:55:66")
    page.click("#bind-submit")
    expect(page.locator("#action-notice")).to_have_text("Card bound.")
    card = page.locator('#cards tr[data-uid="04112233445566"]')
    expect(card).to_have_attribute("data-status", "active")
    page.fill("#bind-uid", UID)
    page.click("#bind-submit")
    expect(page.locator("#action-error")).to_contain_text("already active for member m1")
    expect(page.locator("#cards tbody tr")).to_have_count(1)

    # Cancelling the question sends nothing; confirming blocks the card.
    cancel["next"] = True
    page.click(".lost-submit")
    expect(card).to_have_attribute("data-status", "active")
    assert answers[-1] == "Report card 04112233445566 lost? Every kiosk will refuse it."
    page.click(".lost-submit")
    expect(page.locator("#action-notice")).to_have_text(
        "Card reported lost; every kiosk refuses it."
    )
    expect(card).to_have_attribute("data-status", "lost")
    page.goto(f"{live.url}/dashboard/members/{member_id}")
    expect(page.locator(".replace-form")).to_have_count(0)  # only active cards are replaced

    # Points with a reason and a coupon, each on the timeline with the staff member.
    page.fill("#grant-points", "30")
    page.fill("#grant-reason", "welcome gift")
    page.click("#points-submit")
    expect(page.locator("#points-available")).to_have_text("30")
    expect(page.locator('#timeline tr[data-what="adjustment"] .staff')).to_have_text("fd1")
    page.fill("#coupon-title", "Free towel")
    page.select_option("#coupon-kind", "voucher")
    page.fill("#coupon-value", "500")
    page.click("#coupon-submit")
    expect(page.locator("#coupons tbody tr")).to_have_count(1)
    expect(page.locator('#timeline tr[data-what="coupon_issue"] .staff')).to_have_text("fd1")

    # Freeze a pass; freezing it again is refused and changes nothing; unfreeze; add sessions.
    now = live.coord.clock.wall_ms()
    sale = {"pass_id": "p5", "kind": "punch", "name": "5-session swim",
            "valid_from_ms": now - DAY_MS, "valid_until_ms": now + 30 * DAY_MS,
            "sessions_total": 5, "store_ids": ["s1"]}  # fmt: skip
    live.call("POST", f"/api/v1/members/{member_id}/passes", json=sale, expect=201)
    page.goto(f"{live.url}/dashboard/members/{member_id}")
    row = page.locator('#passes tr[data-pass="p5"]')
    row.locator(".freeze-submit").click()
    expect(row).to_have_attribute("data-frozen", "1")
    again = page.request.post(
        f"{live.url}/dashboard/members/{member_id}/passes/p5/freeze", form={"csrf": csrf(page)}
    )
    assert again.status == 409 and "already frozen" in again.text()
    events = live.call("GET", "/api/v1/events", member_id=member_id, kind="pass_update")
    assert len(events["items"]) == 1
    row.locator(".unfreeze-submit").click()
    expect(page.locator("#action-notice")).to_contain_text("given back")
    expect(row).to_have_attribute("data-frozen", "0")
    row.locator(".add-sessions").fill("5")
    row.locator(".extend-submit").click()
    expect(row).to_contain_text("10 / 10")
    staff = {
        x.text_content() for x in page.locator('#timeline tr[data-what="pass_update"] .staff').all()
    }
    assert staff == {"fd1"}

    # Without the page's CSRF value nothing happens.
    forged = page.request.post(
        f"{live.url}/dashboard/members/{member_id}/points", form={"points": "5", "reason": "x y z"}
    )
    assert forged.status == 403
    expect(page.locator("#points-available")).to_have_text("30")


@pytest.mark.parametrize("size", [(1280, 800), (800, 1280)], ids=["desk", "tablet"])
def test_member_pages_fit_the_desk_screen_and_a_tablet(
    live: Live, page: Any, size: tuple[int, int]
) -> None:
    seed(live)
    width, height = size
    page.set_viewport_size({"width": width, "height": height})
    login(page, live, "admin", "admin", "/dashboard/members?lang=zh")
    for path in ("/dashboard/members", "/dashboard/members/m1", "/dashboard/members/new"):
        page.goto(f"{live.url}{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, size, overflow)


def test_front_desk_serves_another_stores_member(live: Live, page: Any) -> None:
    """Store s2's front desk finds s1's member by the whole phone number, sells a pass from
    s2's catalogue and tops up stored value (both marked cross-store on the timeline), sees
    no edit buttons, and a forced profile change is refused with nothing changed."""
    from coordinator.security.auth import Principal, Role
    from coordinator.services import products

    seed(live)
    hq = Principal("admin", Role.HQ_ADMIN, None)
    body = products.NewProduct(product_id="yoga-s2", name="Yoga 10", kind="punch",
                               price_fen=98000, sessions=10, validity_days=90,
                               store_ids=["s2"])  # fmt: skip
    products.create_product(live.coord, hq, body)
    password = live.add_user("fd2", "front_desk", "s2")
    answers: list[str] = []

    def answer(dialog: Any) -> None:
        answers.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    login(page, live, "fd2", password, "/dashboard/members?lang=en")

    # Browsing and a phone prefix show s2's own member only; the whole number finds m1.
    expect(page.locator("tr[data-member]")).to_have_count(1)
    page.fill("#q", "1380000")
    page.click("#search-submit")
    expect(page.locator("tr[data-member]")).to_have_count(1)
    expect(page.locator('tr[data-member="m2"]')).to_have_count(1)
    page.fill("#q", "13800001234")
    page.click("#search-submit")
    expect(page.locator("tr[data-member]")).to_have_count(1)
    expect(page.locator('tr[data-member="m1"] .phone')).to_have_text("*******1234")
    page.click('tr[data-member="m1"] a')

    # The limited view: masked, what serving needs, no edit buttons, no s1 timeline lines.
    expect(page.locator("#cross-store-note")).to_contain_text("belongs to store s1")
    expect(page.locator("#phone")).to_have_text("*******1234")
    expect(page.locator("#full-name")).to_have_text("李*华")
    expect(page.locator('#passes tr[data-pass="p10"]')).to_contain_text("10 / 10")
    for form in ("#edit-form", "#points-form", "#coupon-form", "#bind-form", ".freeze-form",
                 ".extend-form", ".lost-form", ".replace-form"):  # fmt: skip
        expect(page.locator(form)).to_have_count(0)
    expect(page.locator("#no-timeline")).to_be_visible()
    expect(page.locator("#phones-title")).to_have_count(0)

    # Sell a pass from s2's catalogue.
    page.locator('li[data-product="yoga-s2"] .sell-submit').click()
    expect(page.locator("#action-notice")).to_be_visible()
    expect(page.locator("#passes tbody tr")).to_have_count(2)
    sold = page.locator('#timeline tr[data-what="pass_issue"]')
    expect(sold.locator(".store")).to_have_text("served at store s2 (cross-store)")
    expect(sold.locator(".staff")).to_have_text("fd2")
    # Top up stored value: preview, then confirm.
    page.fill("#topup-amount", "100")
    page.select_option("#topup-method", "cash")
    page.click("#topup-submit")
    page.click("#topup-confirm")
    expect(page.locator("#sv-available")).to_have_text("¥100.00")
    topped = page.locator('#timeline tr[data-what="sv_topup"]')
    expect(topped.locator(".store")).to_have_text("served at store s2 (cross-store)")
    assert len(answers) == 2
    # Top up the sessions of the pass just sold here (s1's own pass offers no such form).
    expect(page.locator('#passes tr[data-pass="p10"] .sessions-form')).to_have_count(0)
    mine = page.locator("#passes tbody tr").filter(has_text="Yoga 10")
    mine.locator(".add-sessions").fill("5")
    mine.locator(".extend-price").fill("200")
    mine.locator(".sessions-submit").click()
    expect(mine).to_contain_text("15 / 15")
    added = page.locator('#timeline tr[data-what="pass_update"]')
    expect(added.locator(".store")).to_have_text("served at store s2 (cross-store)")
    assert len(answers) == 3

    # The same words in Chinese.
    page.goto(f"{live.url}/dashboard/members/m1?lang=zh")
    expect(page.locator("#cross-store-note")).to_contain_text("跨店服务")
    expect(topped.locator(".store")).to_have_text("s2 门店跨店服务")

    # Forced changes: a PATCH on the API and a posted edit form, both 403, nothing changed.
    desk = live.login("fd2", password)
    r = live.http.patch("/api/v1/members/m1", json={"display_name": "hacked"}, headers=desk)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "store_forbidden"
    assert "store s1" in r.json()["error"]["message"]
    forced = page.request.post(
        f"{live.url}/dashboard/members/m1/edit",
        form={"csrf": csrf(page), "display_name": "hacked", "phone": "13900000000"},
    )
    assert forced.status == 403 and "只有 s1 门店或总部" in forced.text()
    member = live.call("GET", "/api/v1/members/m1")
    assert (member["display_name"], member["phone"]) == ("李*华", "13800001234")
    assert not audits(live, "member.change")
    sales = live.call("GET", "/api/v1/reports", store_id="s2")
    tables = {t["name"]: t for s in sales["sections"] for t in s["tables"]}
    assert [row[:3] for row in tables["staff_commission"]["rows"]] == [
        ["fd2", "Riverside (s2)", "2"]
    ]
