"""What every browser test shares: Django's live server for one test, and Debian's Chromium
driven by Playwright (the system's /usr/bin/chromium; nothing is downloaded)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def site(transactional_db: None) -> Iterator[str]:
    """Django's live server for this test only: stopped (its database connections closed) at its end,
    before the test database is dropped, unlike pytest-django's session-wide ``live_server``."""
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer("localhost")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A headless Chromium (Playwright's Browser), closed at the test's end."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); CI does.")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -r requirements-dev.txt")
    # Playwright's sync API keeps an event loop on this thread; the test's own ORM calls are
    # still plain synchronous code, so Django's async-safety guard must not refuse them.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            # While Playwright's loop runs on this thread, Django's per-context connection store
            # hands the test a connection of its own: close it, or PostgreSQL refuses to drop the
            # test database ("being accessed by other users").
            connections.close_all()
