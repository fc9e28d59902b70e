"""A challenge through to its settlement, in a real browser: a member says a
contact left the company, a moderator claims and graveyards it, and everyone
sees the outcome."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from portal.models.base import utcnow
from tests.e2e.conftest import log_in
from tests.moderation_helpers import contribute, grant, reveal

pytestmark = pytest.mark.e2e


def _switch(page: Page, live_server: str, email: str) -> None:
    page.get_by_role("button", name="Log out").click()
    log_in(page, live_server, email)


def test_left_the_company_challenge_is_graveyarded(
    db, page: Page, live_server: str, make_member
):
    """The reporter's challenge, claimed and graveyarded without a reload:
    the reporter sees +2, the revealer a refund of 10, the contact page says
    it is in the graveyard, and the item has left the queue."""
    now = utcnow()
    contributor = make_member(email="contributor@northwind.example")
    revealer = make_member(email="revealer@northwind.example")
    make_member(email="reporter@northwind.example")
    make_member(email="moderator@northwind.example", role="moderator")
    grant(db, revealer, 20, "grant:revealer")
    contact = contribute(db, contributor, now)
    reveal(db, revealer, contact, now)

    log_in(page, live_server, "reporter@northwind.example")
    page.goto(f"{live_server}/contacts/{contact.id}")
    page.get_by_text("Challenge this contact").click()
    page.get_by_label("What is wrong?").select_option("left_company")
    page.get_by_label("Details for the moderator").fill("She joined Globex in October.")
    page.get_by_role("button", name="Send to a moderator").click()
    expect(page.locator("#contact")).to_contain_text("a moderator will review")

    _switch(page, live_server, "moderator@northwind.example")
    page.get_by_role("link", name="Moderation").click()
    row = page.locator("tr.queue-row", has_text="Amara Okafor")
    expect(row).to_contain_text("Left the company")
    row.get_by_role("button", name="Claim").click()
    expect(page.locator("tr.queue-row", has_text="Amara Okafor")).to_contain_text("You")
    page.locator("tr.queue-row", has_text="Amara Okafor").get_by_role(
        "link", name="Left the company"
    ).click()
    expect(page.locator(".reporter-note")).to_contain_text("joined Globex")
    page.wait_for_load_state("load")  # the shortcuts' script has run
    page.keyboard.press("g")  # the graveyard shortcut opens its form
    expect(page.locator("#graveyard-successor_id")).to_be_focused()
    page.locator("#graveyard-reason").fill("Confirmed: she left in October")
    url = page.url
    page.get_by_role("button", name="Move to the graveyard").click()
    expect(page.locator("#action-message")).to_contain_text("in the graveyard")
    expect(page.locator("#item-state")).to_have_text("Upheld")
    assert page.url == url  # decided in place, no page load
    page.get_by_role("button", name="Back to the queue").click()
    expect(page.locator("#queue")).to_contain_text("Nothing waiting")

    _switch(page, live_server, "reporter@northwind.example")
    page.goto(f"{live_server}/points")
    history = page.locator("#points-history")
    expect(history).to_contain_text("Challenge upheld")
    expect(history).to_contain_text("+2")
    expect(page.locator("#my-reports")).to_contain_text(
        "Confirmed: she left in October"
    )

    _switch(page, live_server, "revealer@northwind.example")
    page.goto(f"{live_server}/points")
    expect(page.locator("#points-history")).to_contain_text("Refund")
    expect(page.locator("#points-history")).to_contain_text("+10")
    page.goto(f"{live_server}/contacts/{contact.id}")
    expect(page.locator("#graveyard-notice")).to_contain_text("In the graveyard")
