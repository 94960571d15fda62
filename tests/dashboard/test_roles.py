"""Roles on every page and JSON route: a store manager sees only their store, a viewer
reads but cannot resolve conflicts or publish rollouts (403 from the API, no buttons)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from simulators.waiting import wait_until
from tests.dashboard.conftest import login
from tests.dashboard.live import Live
from tests.dashboard.seed import conflict_run

pytestmark = pytest.mark.browser


def csrf(page: Any) -> str:
    """The page's CSRF value (what the page scripts send)."""
    return str(page.locator('meta[name="csrf-token"]').get_attribute("content"))


def test_store_manager_sees_only_their_store(live: Live, page: Any) -> None:
    conflict_run(live)
    live.add_store("s3", "Lakeside")
    live.kiosk("kC", "s3")
    password = live.add_user("mgr2", "store_manager", "s2")
    mgr = live.login("mgr2", password)

    # JSON: fleet, kiosk detail, reports and their CSV are limited to s2.
    wait_until(lambda: {k["kiosk_id"] for k in live.fleet()["kiosks"]} == {"kA", "kB", "kC"})
    mine = live.fleet(headers=mgr)
    assert [k["kiosk_id"] for k in mine["kiosks"]] == ["kB"]
    assert [s["store_id"] for s in mine["stores"]] == ["s2"]
    for path, params in (
        ("/api/v1/fleet/kiosks/kA", {}),
        ("/api/v1/fleet", {"store_id": "s1"}),
        ("/api/v1/reports", {"store_id": "s1"}),
        ("/api/v1/reports/checkins_daily.csv", {"store_id": "s1"}),
    ):
        r = live.http.get(path, params=params, headers=mgr)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"]["code"] == "store_forbidden"
    report = live.call("GET", "/api/v1/reports", headers=mgr)
    assert report["store_id"] == "s2"
    tables = {t["name"]: t for s in report["sections"] for t in s["tables"]}
    daily = tables["checkins_daily"]
    assert {row[1] for row in daily["rows"]} == {"Riverside (s2)"}
    rollouts = live.call("GET", "/api/v1/fleet/rollouts", headers=mgr)
    assert all(k in ("kB",) for b in rollouts["bundles"] for k in b["applied"] + b["waiting"])

    # Pages: one store on the fleet page and in every store picker.
    login(page, live, "mgr2", password)
    expect(page.locator('tr[data-kiosk="kB"]')).to_have_count(1)
    expect(page.locator("tr[data-kiosk]")).to_have_count(1)
    assert page.locator("#filter-store option").all_inner_texts() == ["Riverside (s2)"]
    page.goto(f"{live.url}/dashboard/kiosks/kA")
    expect(page.locator("#error-message")).to_contain_text("own store")
    page.goto(f"{live.url}/dashboard/reports?store_id=s1")
    expect(page.locator("#error-message")).to_be_visible()
    page.goto(f"{live.url}/dashboard/reports")
    assert page.locator("#report-store option").all_inner_texts() == ["Riverside (s2)"]
    page.goto(f"{live.url}/dashboard/rollouts")
    expect(page.locator('input[name="rules-store"]')).to_have_count(1)
    expect(page.locator('input[name="rules-store"]')).to_be_disabled()


def test_viewer_cannot_resolve_or_publish(live: Live, page: Any) -> None:
    conflict_run(live)
    password = live.add_user("watcher", "viewer")
    viewer = live.login("watcher", password)
    wait_until(lambda: len(live.call("GET", "/api/v1/conflicts", status="open")["items"]) == 2)
    conflict = live.call("GET", "/api/v1/conflicts", status="open")["items"][0]
    resolve = f"/api/v1/conflicts/{conflict['conflict_id']}/resolve"

    # Bearer token: 403 on every write route the dashboard uses.
    for path, body in (
        (resolve, {"note": "viewer tries"}),
        ("/api/v1/fleet/rollouts/rules", {"store_ids": []}),
        ("/api/v1/fleet/rollouts/campaign", {"title": "x"}),
        ("/api/v1/rule-bundles", {}),
        ("/api/v1/campaigns", {"coupon": {}, "segment": {}}),
    ):
        r = live.http.post(path, json=body, headers=viewer)
        assert r.status_code in (403, 422), (path, r.text)
        if r.status_code == 422:  # the body was checked first; a valid one is still refused
            continue
        assert r.json()["error"]["code"] == "read_only"

    # The pages: reading works, no decision form, no publish forms.
    login(page, live, "watcher", password, "/dashboard/conflicts?lang=en")
    expect(page.locator("#open-conflicts tbody tr")).to_have_count(2)
    page.goto(f"{live.url}/dashboard/conflicts/{conflict['conflict_id']}")
    expect(page.locator("#story li").first).to_be_visible()
    expect(page.locator("#resolve-form")).to_have_count(0)
    expect(page.locator("#resolve-submit")).to_have_count(0)
    expect(page.locator("#readonly-note")).to_be_visible()

    # Even with the session cookie and the page's own CSRF value, the API says no.
    token = csrf(page)
    r = page.request.post(
        f"{live.url}{resolve}",
        data={"note": "viewer via the page session"},
        headers={"X-CSRF-Token": token},
    )
    assert r.status == 403 and r.json()["error"]["code"] == "read_only"
    page.goto(f"{live.url}/dashboard/rollouts")
    expect(page.locator("#rules-form")).to_have_count(0)
    expect(page.locator("#campaign-form")).to_have_count(0)
    expect(page.locator("#readonly-note")).to_be_visible()
    r = page.request.post(
        f"{live.url}/api/v1/fleet/rollouts/rules",
        data={"store_ids": []},
        headers={"X-CSRF-Token": token},
    )
    assert r.status == 403 and r.json()["error"]["code"] == "read_only"
    assert live.call("GET", f"/api/v1/conflicts/{conflict['conflict_id']}")["status"] == "open"


def test_pages_need_a_session_and_cookie_writes_need_csrf(live: Live, page: Any) -> None:
    # No session: pages go to the login form, JSON says 401.
    page.goto(f"{live.url}/dashboard/reports")
    expect(page.locator("#login-form")).to_be_visible()
    assert "next=%2Fdashboard%2Freports" in page.url
    assert live.http.get("/api/v1/fleet").status_code == 401
    # A wrong password is refused on the form.
    page.fill("#username", "admin")
    page.fill("#password", "wrong")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_be_visible()

    login(page, live, "admin", "admin", "/dashboard/reports")
    cookie = next(c for c in page.context.cookies() if c["name"] == "tapfleet_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert "tapfleet_session" not in page.evaluate("document.cookie")
    assert "tapfleet_session" not in page.url

    # With the cookie a write still needs the page's CSRF value.
    r = page.request.post(f"{live.url}/api/v1/fleet/rollouts/rules", data={"store_ids": []})
    assert r.status == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = page.request.post(
        f"{live.url}/api/v1/fleet/rollouts/rules",
        data={"store_ids": [], "note": "via the session"},
        headers={"X-CSRF-Token": csrf(page)},
    )
    assert r.status == 201 and r.json()["published_by"] == "admin"

    # Logging out ends the session.
    page.click("header form.logout button")
    expect(page.locator("#login-form")).to_be_visible()
    assert page.request.get(f"{live.url}/api/v1/fleet").status == 401
