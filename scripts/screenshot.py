"""Take the README screenshots with the system Chromium.

    .venv/bin/python scripts/screenshot.py [--contacts 2000] [--out docs]

Builds a throwaway site in a temporary folder (SQLite and the embedded Redis)
unless ``DATABASE_URL`` / ``REDIS_URL`` name others, migrates it, loads demo
data, creates an admin, serves the app on a free port and saves, at 1280x800:

- ``docs/screenshot.png``: the admin dashboard, logged in;
- ``docs/screenshot-home.png``: the home page, logged out;
- ``docs/workspace-{search,contact,points}-{1280,390}.png``: the search
  workspace after an inline reveal, the revealed contact's page and the
  points page, on a laptop and on a phone.

Exits with status 1 if the browser reports an error (a Content-Security-Policy
violation, an uncaught exception): the picture would not show the real page.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import secrets
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from playwright.sync_api import ConsoleMessage, Error, Page, sync_playwright
from werkzeug.serving import make_server

from portal import create_app, embedded_redis, ledger
from portal.auth.services import change_password, find_member, register_member
from portal.config import env_str
from portal.demo import DemoDataExists, generate_demo_data
from portal.extensions import db
from portal.models import EntryKind, Role
from portal.models.base import utcnow

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_PATH = "/usr/bin/chromium"
# The same switches as the e2e tests: no calls home on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
WORKSPACE_WIDTHS = (1280, 390)
ADMIN_EMAIL = "ada.admin@tessera.example"
ADMIN_NAME = "Ada Admin"
DEMO_SEED = 1


def prepare_site(app: Flask, contacts: int) -> str:
    """Migrate, load demo data and make the admin; return the admin's password.

    Demo data already loaded for the seed is kept. An existing admin account
    gets a new random password; a non-admin with that email is refused.
    """
    with app.app_context():
        upgrade()
        try:
            summary = generate_demo_data(contacts=contacts, seed=DEMO_SEED)
        except DemoDataExists:
            print(f"Demo data for seed {DEMO_SEED} is already loaded; keeping it.")
        else:
            print(
                f"Loaded {summary.companies:,} companies and {summary.contacts:,} "
                f"contacts in {summary.seconds:.1f} s."
            )
        password = secrets.token_urlsafe(18)
        member = find_member(ADMIN_EMAIL)
        if member is None:
            register_member(
                ADMIN_EMAIL, password, ADMIN_NAME, role=Role.ADMIN, verified_at=utcnow()
            )
        elif member.role == Role.ADMIN:
            change_password(member, password)
        else:
            raise SystemExit(f"{ADMIN_EMAIL} exists and is not an admin.")
        admin = find_member(ADMIN_EMAIL)
        # Points to reveal with in the workspace pictures (once per site).
        ledger.record(db.session, admin.id, 100, EntryKind.PURCHASE, "screenshot-fund")
        db.session.commit()
        db.session.remove()
    return password


@contextlib.contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve ``app`` from a background thread on a free port; yield its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def take_screenshots(base_url: str, password: str, out: Path) -> list[str]:
    """Save both pictures under ``out``; return the errors the browser reported."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"console error on {page.url}: {message.text}")

    def on_page_error(error: Error) -> None:
        errors.append(f"uncaught exception on {page.url}: {error.message}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(10_000)
        page: Page = context.new_page()
        page.on("console", on_console)
        page.on("pageerror", on_page_error)

        page.goto(f"{base_url}/")
        page.screenshot(path=str(out / "screenshot-home.png"))

        page.goto(f"{base_url}/auth/login")
        page.get_by_label("Email").fill(ADMIN_EMAIL)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base_url}/")
        page.goto(f"{base_url}/admin")
        page.get_by_role("heading", name="Admin", exact=True).wait_for()
        page.screenshot(path=str(out / "screenshot.png"))

        for width in WORKSPACE_WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{base_url}/search?q=engineer")
            row = page.locator("tr.search-hit").first
            reveal = row.get_by_role("button", name=re.compile("^Reveal"))
            if reveal.count():
                reveal.click()
                row.locator("a[href^='mailto:']").wait_for()
            # The phone pictures show the whole page: a phone scrolls.
            whole = width < VIEWPORT["width"]
            page.screenshot(
                path=str(out / f"workspace-search-{width}.png"), full_page=whole
            )
            row.locator("td[data-label='Name'] a").click()
            page.locator("#contact").wait_for()
            page.screenshot(
                path=str(out / f"workspace-contact-{width}.png"), full_page=whole
            )
            page.goto(f"{base_url}/points")
            page.screenshot(
                path=str(out / f"workspace-points-{width}.png"), full_page=whole
            )
        browser.close()
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="tessera-screenshot-") as folder:
        instance = Path(folder) / "instance"
        embedded = env_str("REDIS_URL") is None
        try:
            app = create_app({"INSTANCE_PATH": str(instance)})
            password = prepare_site(app, args.contacts)
            with serve(app) as base_url:
                errors = take_screenshots(base_url, password, args.out)
            with app.app_context():
                db.engine.dispose()
        finally:
            if embedded:
                embedded_redis.leave(instance)

    names = ["screenshot.png", "screenshot-home.png"] + [
        f"workspace-{page}-{width}.png"
        for width in WORKSPACE_WIDTHS
        for page in ("search", "contact", "points")
    ]
    for name in names:
        print(f"Saved {args.out / name}")
    if errors:
        print("The browser reported errors:", *errors, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
