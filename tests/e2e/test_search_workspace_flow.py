"""The search workspace in a real browser, on a laptop and on a phone: the
URL follows typing, a typo is named, a row reveals in place and the header
balance follows, a whole page is selected and revealed after confirming."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from portal import ledger
from portal.models import EntryKind
from tests.e2e.conftest import log_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def okafors(db, make_member, make_company, make_contact):
    buyer = make_member(email="buyer@northwind.example")
    ledger.record(db.session, buyer.id, 50, EntryKind.PURCHASE, "fund")
    db.session.commit()
    company = make_company(
        name="Globex Software", domain="globex.com", industry="Software"
    )
    for first in ("Ada", "Ben", "Cleo"):
        make_contact(
            company=company,
            first_name=first,
            last_name="Okafor",
            title="Software Engineer",
            email=f"{first.lower()}@globex.com",
            phone="+442079460958",
            country="GB",
        )
    return buyer


@pytest.mark.parametrize("width", [1280, 390])
def test_search_workspace(page: Page, live_server: str, okafors, width: int):
    """Typing moves the URL; a corrected typo is named; one row reveals in
    place and the header balance drops; the rest are revealed together after
    the total is confirmed; nothing scrolls sideways."""
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, "buyer@northwind.example")
    page.goto(f"{live_server}/search")
    page.get_by_label("Name, title or company").press_sequentially("okafr", delay=60)
    expect(page).to_have_url(re.compile(r"/search\?q=okafr$"))
    expect(page.locator("#corrected")).to_have_text("Showing results for “okafor”.")
    rows = page.locator("tr.search-hit")
    expect(rows).to_have_count(3)
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    first = rows.first
    first.get_by_role("button", name="Reveal · 10 pts").click()
    expect(first.locator("a[href^='mailto:']")).to_be_visible()
    expect(first.locator("a[href^='tel:']")).to_have_text("+44 20 7946 0958")
    expect(first).to_contain_text("−10 points · 40 left")
    expect(page.locator("#header-balance")).to_have_text("40 pts")

    page.locator("input[data-select-all]").check()
    expect(page.locator("tr.search-hit input[name='ids']:checked")).to_have_count(3)
    page.get_by_role("button", name="Reveal selected…").click()
    expect(page.locator("#reveal-total")).to_have_text("20 points")
    page.get_by_role("button", name="Reveal for 20 points").click()
    expect(page).to_have_url(re.compile(r"/search\?q=okafr$"))
    expect(page.locator("#messages")).to_contain_text(
        "Revealed 3 contacts for 20 points (1 seen before, free). "
        "You have 20 left to spend."
    )
    expect(page.locator("tr.search-hit a[href^='mailto:']")).to_have_count(3)
    expect(page.locator("#header-balance")).to_have_text("20 pts")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
