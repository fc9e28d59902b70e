"""Past a rate limit, the as-you-type search shows the message in place."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import follow_link, log_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def app_config(app_config):
    return {**app_config, "SEARCH_RATE_LIMIT": "3 per hour"}


def test_search_over_its_limit_says_so_in_place(
    page: Page, live_server: str, make_member
):
    """The page counts once, each pause in typing once more; the request past
    the limit puts the 429 message in the message area, and the page stays."""
    make_member(email="reader@northwind.example")
    log_in(page, live_server, "reader@northwind.example")

    follow_link(page, "Search")
    box = page.get_by_label("Name, title or company")
    messages = page.locator("#messages")
    for word in ("ada", "bob"):
        box.fill(word)
        expect(page).to_have_url(f"{live_server}/search?q={word}")
    expect(messages).to_be_empty()
    box.fill("cyd")
    expect(messages).to_contain_text("You are opening pages faster than Tessera")
    expect(messages).to_contain_text("(Limit: 3 per 1 hour.)")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page).to_have_url(f"{live_server}/search?q=bob")
