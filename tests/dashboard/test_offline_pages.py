"""Every page works with no internet: its scripts, styles and charts come from the
coordinator itself (no CDN, no web font), and the browser is told to load nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import OfflineGuard, login
from tests.dashboard.live import Live
from tests.dashboard.seed import conflict_run

pytestmark = pytest.mark.browser

PAGES = (
    ("/dashboard/fleet", "#fleet section.store"),
    ("/dashboard/kiosks/kA", "#timeline li"),
    ("/dashboard/conflicts", "#open-conflicts"),
    ("/dashboard/rollouts", "#rollouts li"),
    ("/dashboard/reports", "#sec-rfm svg"),
)


def test_every_page_loads_everything_from_the_coordinator(
    live: Live, page: Any, offline: OfflineGuard
) -> None:
    conflict_run(live)
    login(page, live, "admin", "admin")
    conflict_id = live.call("GET", "/api/v1/conflicts")["items"][0]["conflict_id"]
    for lang in ("zh", "en"):
        for path, ready in (*PAGES, (f"/dashboard/conflicts/{conflict_id}", "#story li")):
            response = page.goto(f"{live.url}{path}?lang={lang}")
            assert response is not None and response.status == 200, path
            csp = response.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "script-src 'self'" in csp
            expect(page.locator(ready).first).to_be_attached()
            html_lang = "zh-CN" if lang == "zh" else "en"
            expect(page.locator("html")).to_have_attribute("lang", html_lang)
            # The stylesheet applied: large type and the header colours.
            assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "18px"
            header = "getComputedStyle(document.querySelector('header.top')).backgroundColor"
            assert page.evaluate(header) == "rgb(22, 33, 58)"
    assert offline.blocked == []
    assets = {u.split("?")[0].rsplit("/", 1)[-1] for u in offline.local if "/static/" in u}
    scripts = {"dashboard.js", "fleet.js", "kiosk.js", "conflicts.js", "rollouts.js"}
    assert {"dashboard.css", *scripts} <= assets
    assert all(u.startswith(live.url) or u.startswith("data:") for u in offline.local)
