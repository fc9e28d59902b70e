"""Browser fixtures: the real app on a free port and the system Chromium.

``live_server`` serves its own app instance (same database and Redis as the
``app`` fixture) from a background thread. ``page`` gives each test a fresh
browser context; the test fails if the browser logs an error, which includes
every Content-Security-Policy violation, and a failing test leaves a
full-page screenshot under ``test-artifacts/e2e/``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Error,
    Page,
    expect,
    sync_playwright,
)
from werkzeug.serving import make_server

from portal import create_app
from portal.extensions import db as _db
from tests.factories import DEFAULT_PASSWORD

CHROMIUM_PATH = "/usr/bin/chromium"
# The background-networking switches keep Chromium from calling home on a
# closed network; --no-sandbox because the suite may run as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous: Chromium and the live server share a loaded 2-core CI machine
# with the other test workers. A passing step does not wait for it.
TIMEOUT_MS = 30_000

# Forms answer invalid input with 422 and failed logins with 401 so htmx swaps
# the re-rendered form in; pages that refuse (403 until the email is verified,
# 410 for a used link, 429 past a rate limit) are shown too. Chromium logs
# those responses as console errors.
EXPECTED_FAILED_LOAD = re.compile(
    r"^Failed to load resource: the server responded with a status of "
    r"(401|403|410|422|429)\b"
)

reports_key = pytest.StashKey[dict[str, pytest.TestReport]]()
browser_errors_key = pytest.StashKey[list[str]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the item so fixtures can see the outcome."""
    report = yield
    item.stash.setdefault(reports_key, {})[report.when] = report
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Fail a test that passed if its browser logged errors meanwhile."""
    result = yield
    errors = item.stash.get(browser_errors_key, [])
    if errors:
        pytest.fail(
            "The browser reported errors:\n" + "\n".join(f"  {e}" for e in errors),
            pytrace=False,
        )
    return result


@pytest.fixture
def live_server(app_config) -> Iterator[str]:
    """Serve a separate app instance on a free port; yield its base URL."""
    server_app = create_app(app_config)
    server = make_server("127.0.0.1", 0, server_app, threaded=True)
    # Emailed links point at this server, so a test can follow them.
    server_app.config["PUBLIC_URL"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(
        target=server.serve_forever, name="e2e-live-server", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with server_app.app_context():
            _db.engine.dispose()


def log_in(page: Page, live_server: str, email: str) -> None:
    """Log in through the real form with the factories' default password."""
    page.goto(f"{live_server}/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server}/")


def follow_link(page: Page, name: str) -> None:
    """Click the link called ``name`` and wait until the new page has loaded,
    so htmx has wired its triggers before the test types: on a loaded machine
    input typed before that is never sent."""
    page.get_by_role("link", name=name).click()
    page.wait_for_load_state("load")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def _screenshot_path(artifacts_dir: Path, item: pytest.Item) -> Path:
    folder = artifacts_dir / "e2e"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / (re.sub(r"[^\w.-]+", "_", item.name) + ".png")


@pytest.fixture
def page(request, browser: Browser, artifacts_dir: Path) -> Iterator[Page]:
    """A page in a fresh context; records browser errors on the test item."""
    errors: list[str] = []
    request.node.stash[browser_errors_key] = errors

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not EXPECTED_FAILED_LOAD.match(message.text):
            where = message.location.get("url") or page.url
            errors.append(f"console error on {where}: {message.text}")

    def on_page_error(error: Error) -> None:
        errors.append(f"uncaught exception: {error.message}")

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page = context.new_page()
    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    try:
        yield page
    finally:
        call_report = request.node.stash.get(reports_key, {}).get("call")
        if call_report is not None and call_report.failed:
            path = _screenshot_path(artifacts_dir, request.node)
            try:
                page.screenshot(path=str(path), full_page=True)
            except Error as exc:
                print(f"no screenshot: {exc.message}")
            else:
                print(f"screenshot saved to {path}")
        context.close()
