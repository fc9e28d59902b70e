"""Register, log out and log back in through a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.models import OutboxMessage

pytestmark = pytest.mark.e2e

NAME = "Grace Hopper"
EMAIL = "grace@navy.example"
PASSWORD = "compiler-1952-cobol"


def _fill_register_form(page: Page, password: str, confirm: str) -> None:
    page.get_by_label("Your name").fill(NAME)
    page.get_by_label("Work email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Repeat password").fill(confirm)
    page.get_by_role("button", name="Create account").click()


def _emailed_link(db) -> str:
    db.session.expire_all()
    message = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.to_address == EMAIL)
        .order_by(OutboxMessage.id.desc())
    ).first()
    return re.search(r"http://\S+/auth/verify/\S+", message.body_text).group(0)


def test_register_verify_then_contribute(page: Page, live_server: str, db):
    """A new member cannot contribute until they follow the emailed link; then
    they can, with their starting points."""
    page.goto(f"{live_server}/auth/register")
    _fill_register_form(page, PASSWORD, PASSWORD)
    expect(page).to_have_url(f"{live_server}/")
    banner = page.locator("#verify-banner")
    expect(banner).to_contain_text(f"follow the link we sent to {EMAIL}")

    page.get_by_role("link", name="Contribute").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Confirm your email address first"
    )
    expect(page.get_by_label("First name")).to_have_count(0)

    link = _emailed_link(db)
    assert link.startswith(f"{live_server}/auth/verify/")
    page.goto(link)
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page).to_have_url(f"{live_server}/")
    expect(page.get_by_text(f"Thanks: {EMAIL} is confirmed.")).to_be_visible()
    expect(banner).to_have_count(0)

    page.get_by_role("link", name="Contribute").click()
    expect(page.get_by_label("First name")).to_be_visible()
    page.get_by_role("link", name="Points").click()
    expect(page.locator("#vested-balance")).to_have_text("20")

    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "This link was already used"
    )


def test_register_logout_and_login_again(page: Page, live_server: str):
    """A new member registers, logs out, fails a wrong password, then logs in."""
    page.goto(f"{live_server}/auth/register")
    _fill_register_form(page, PASSWORD, PASSWORD)

    expect(page).to_have_url(f"{live_server}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Welcome back, {NAME}")

    page.get_by_role("banner").get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have logged out.")).to_be_visible()
    # Text, not role: the header styles this link as a button (role="button").
    join = page.get_by_role("banner").get_by_text("Join free", exact=True)
    expect(join).to_be_visible()
    expect(join).to_have_attribute("href", "/auth/register")

    page.goto(f"{live_server}/auth/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text(
        "That email and password do not match an active account."
    )
    expect(page).to_have_url(f"{live_server}/auth/login")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Welcome back, {NAME}")


def test_register_with_short_password_shows_error_beside_field(
    page: Page, live_server: str
):
    """A too-short password is refused beside its field and the page stays put."""
    page.goto(f"{live_server}/auth/register")
    _fill_register_form(page, "short", "short")

    password = page.get_by_label("Password", exact=True)
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_accessible_description(
        re.compile(r"Use 10 to 128 characters\.")
    )
    expect(page.get_by_text("Use 10 to 128 characters.")).to_be_visible()
    expect(page).to_have_url(f"{live_server}/auth/register")
    expect(page.get_by_role("heading", level=1)).to_have_text("Join Tessera")
