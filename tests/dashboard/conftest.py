"""Fixtures of the dashboard tests: a broker, a live coordinator, and headless Chromium.

* ``live`` is a real coordinator served by uvicorn on a free port (real SQLite, real
  Mosquitto from ``simulators.broker`` with the shipped config, fleet monitor ticking
  every 0.2 s); every mini kiosk it made and the server are stopped at teardown.
* ``page`` is a fresh headless Chromium page (``/usr/bin/chromium`` through playwright).
  It runs offline: any request that leaves 127.0.0.1 is aborted and fails the test, as
  does a JavaScript error on the page. On failure a screenshot goes to ``artifacts_dir``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from simulators.broker import Broker
from tests.dashboard.live import Live, settings_for
from tests.support.databases import DATABASE_PARAMS, ledger_database
from tests.support.live_server import LiveServer

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})


def start_live(
    tmp_path: Path, broker: Broker | None, database: Any = None, **dashboard: Any
) -> tuple[LiveServer, Live]:
    """Start a coordinator on a free port and log in its admin."""
    import httpx

    server = LiveServer(settings_for(tmp_path, broker, **dashboard), database=database)
    server.start()
    http = httpx.Client(base_url=server.url, timeout=30)
    live = Live(server.url, server.app.state.coordinator, broker, http)
    if broker is not None:
        link = live.coord.link
        assert link is not None and link.wait_ready(15), "the coordinator did not reach the broker"
    live.admin = live.login("admin", "admin")
    return server, live


@pytest.fixture
def live(tmp_path: Path, broker: Broker) -> Iterator[Live]:
    """A running coordinator with the dashboard, on the test broker."""
    server, running = start_live(tmp_path, broker)
    try:
        yield running
    finally:
        for kiosk in running.kiosks:
            kiosk.close()
        running.http.close()
        server.stop()


class OfflineGuard:
    """Aborts every request that would leave this machine, and remembers it."""

    def __init__(self) -> None:
        self.blocked: list[str] = []
        self.local: list[str] = []

    def handle(self, route: Any) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            self.local.append(url)
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("internetdisconnected")


@pytest.fixture
def offline() -> OfflineGuard:
    """The guard of this test's browser context."""
    return OfflineGuard()


def new_page(browser: Any, guard: OfflineGuard, errors: list[str]) -> tuple[Any, Any]:
    """A context + page with the offline guard and error capture."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    context.route("**/*", guard.handle)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A resource the Content-Security-Policy refused shows up on the console only.
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    return context, page


@pytest.fixture
def page(
    browser: Any, request: pytest.FixtureRequest, artifacts_dir: Path, offline: OfflineGuard
) -> Iterator[Any]:
    """A fresh page; screenshot on failure; JS errors and off-machine requests fail the test."""
    errors: list[str] = []
    context, pg = new_page(browser, offline, errors)
    (artifacts_dir / "failure.png").unlink(missing_ok=True)
    try:
        yield pg
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            pg.screenshot(path=str(artifacts_dir / "failure.png"), full_page=True)
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not offline.blocked, f"requests tried to leave this machine: {offline.blocked}"


def login(
    page: Any, live: Live, username: str, password: str, path: str = "/dashboard/fleet"
) -> None:
    """Log in through the form and land on ``path``."""
    page.goto(f"{live.url}{path}")
    page.wait_for_selector("#login-form")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(f"{live.url}{path}*")


@pytest.fixture(params=DATABASE_PARAMS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A ledger database: SQLite in tmp_path, or a fresh PostgreSQL schema
    (``tests.support.databases``)."""
    with ledger_database(request.param, tmp_path) as db:
        yield db
