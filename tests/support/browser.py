"""The one headless Chromium the whole suite shares (Debian's, never a downloaded one).

Playwright's sync API runs its own event loop for as long as a ``sync_playwright()``
context is open, and a second one cannot start while the first lives. So the suite opens
exactly one, session-scoped, in ``tests/conftest.py`` (fixture ``browser``); test folders
make pages and contexts from it and never start Playwright themselves.
"""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
