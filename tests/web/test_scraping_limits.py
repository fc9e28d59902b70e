"""Scraping: reading search, company and contact pages is rate-limited per
member, and per address for visitors, with a clear 429 page or message."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import AuthActions

HTMX = {"HX-Request": "true"}
LIMIT = 3
MESSAGE = "You are opening pages faster than Tessera allows."


@pytest.fixture
def app_config(app_config):
    tiny = f"{LIMIT} per hour"
    return {
        **app_config,
        "SEARCH_RATE_LIMIT": tiny,
        "COMPANY_PAGE_RATE_LIMIT": tiny,
        "CONTACT_PAGE_RATE_LIMIT": tiny,
    }


@pytest.fixture
def pages(make_company, make_contact) -> dict[str, list[str]]:
    """Each limit, and the URLs that count against it."""
    company = make_company(name="Globex Corporation", domain="globex.com")
    contact = make_contact(company=company, first_name="Grace", last_name="Hopper")
    return {
        "search": ["/search?q=grace", "/search?q=hopper", "/search?q=globex"],
        "companies": ["/companies", f"/companies/{company.id}", "/companies?q=glob"],
        "contact": [f"/contacts/{contact.id}"] * 3,
    }


def _login(app, email, make_member):
    make_member(email=email)
    client = app.test_client()
    AuthActions(client).login(email)
    return client


@pytest.mark.parametrize("area", ["search", "companies", "contact"])
def test_member_is_limited_and_another_member_is_not(app, make_member, pages, area):
    """The member's next page after the limit is a 429 page; a second member
    still reads the same pages."""
    scraper = _login(app, "scraper@northwind.example", make_member)
    for url in pages[area]:
        assert scraper.get(url).status_code == 200
    blocked = scraper.get(pages[area][0])
    assert blocked.status_code == 429
    html = blocked.get_data(as_text=True)
    assert MESSAGE in html
    assert f"(Limit: {LIMIT} per 1 hour.)" in html
    assert 'class="site-header"' in html
    assert int(blocked.headers["Retry-After"]) > 0

    other = _login(app, "honest@northwind.example", make_member)
    assert other.get(pages[area][0]).status_code == 200


@pytest.mark.parametrize("area", ["search", "companies", "contact"])
def test_visitor_is_limited_per_address(app, pages, area):
    """Visitors are sent to log in until their address reaches the limit, then
    get 429; another address is unaffected."""
    visitor = app.test_client()
    for url in pages[area]:
        response = visitor.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/auth/login")
    assert visitor.get(pages[area][0]).status_code == 429
    elsewhere = visitor.get(pages[area][0], environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert elsewhere.status_code == 302


def test_logging_in_does_not_reset_a_members_count(app, make_member, pages):
    """The count belongs to the account: a new login session starts where the
    old one stopped."""
    make_member(email="scraper@northwind.example")
    first = app.test_client()
    AuthActions(first).login("scraper@northwind.example")
    for url in pages["search"]:
        assert first.get(url).status_code == 200
    second = app.test_client()
    AuthActions(second).login("scraper@northwind.example")
    assert second.get("/search?q=x").status_code == 429


@pytest.mark.parametrize("area", ["search", "companies"])
def test_htmx_request_over_the_limit_gets_the_message_in_place(
    app, make_member, pages, area
):
    """The as-you-type partials count too; over the limit htmx gets a 429
    message retargeted to the page's message area, not a whole page."""
    scraper = _login(app, "scraper@northwind.example", make_member)
    for url in pages[area]:
        assert scraper.get(url, headers=HTMX).status_code == 200
    blocked = scraper.get(pages[area][0], headers=HTMX)
    assert blocked.status_code == 429
    assert blocked.headers["HX-Retarget"] == "#messages"
    assert blocked.headers["HX-Reswap"] == "innerHTML"
    assert blocked.headers["HX-Push-Url"] == "false"
    fragment = blocked.get_data(as_text=True)
    assert MESSAGE in fragment
    assert 'role="alert"' in fragment
    assert 'class="site-header"' not in fragment


def test_htmx_is_told_to_swap_429_responses(client):
    """htmx swaps no 4xx by default; the page's htmx config swaps them all, so
    the 429 message is shown."""
    html = client.get("/").get_data(as_text=True)
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", html)
    rules = json.loads(meta.group(1))["responseHandling"]
    swapping = [r for r in rules if r["swap"]]
    assert any(re.fullmatch(rule["code"], "429") for rule in swapping)
    assert all(not re.fullmatch(r["code"], "429") for r in rules if not r["swap"])


def test_limits_are_separate_counts(app, make_member, pages):
    """Using up the search limit leaves company and contact pages readable."""
    scraper = _login(app, "scraper@northwind.example", make_member)
    for url in pages["search"]:
        scraper.get(url)
    assert scraper.get(pages["search"][0]).status_code == 429
    assert scraper.get(pages["companies"][0]).status_code == 200
    assert scraper.get(pages["contact"][0]).status_code == 200
