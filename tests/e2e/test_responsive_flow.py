"""Every main page fits a 390 px phone for every role, and the header menu
and balance work at phone and laptop widths."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from portal import ledger
from portal.models import EntryKind, Role, Unlock
from portal.models.base import utcnow
from tests.e2e.conftest import TIMEOUT_MS, log_in

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}

MEMBER_PAGES = [
    "/",
    "/search?q=engineer",
    "/contacts/new",
    "/contacts/import",
    "/my/contacts",
    "/companies",
    "/companies/{company_id}",
    "/contacts/{contact_id}",
    "/contacts/{revealed_id}",
    "/points",
    "/account/profile",
]
ADMIN_PAGES = [
    "/admin",
    "/admin/jobs",
    "/admin/outbox",
    "/admin/audit",
    "/admin/invoices",
    "/admin/plans",
]
VISITOR_PAGES = ["/", "/auth/login", "/auth/register"]


@pytest.fixture
def world(db, make_member, make_company, make_contact):
    """One member of each role, a company with contacts, one revealed, points
    history with a long note."""
    company = make_company(
        name="Northwind Traders International Holdings", domain="northwind.example"
    )
    contacts = [
        make_contact(
            company=company,
            first_name=first,
            last_name="Featherstonehaugh-Cholmondeley",
            title="Senior Vice President, Global Engineering Operations",
            city="Frankfurt am Main",
            country="DE",
            phone="+4969123456789",
            last_confirmed_at=utcnow() - timedelta(days=40),
        )
        for first in ("Alexandrina", "Bartholomew", "Constantine")
    ]
    members = {}
    for role in Role:
        member = make_member(email=f"{role.value}@northwind.example", role=role)
        ledger.record(db.session, member.id, 60, EntryKind.PURCHASE, f"fund-{role}")
        db.session.add(Unlock(member_id=member.id, contact_id=contacts[1].id, cost=10))
        members[role] = member
    db.session.commit()
    return {
        "company_id": company.id,
        "contact_id": contacts[0].id,
        "revealed_id": contacts[1].id,
    }


def _assert_fits(page: Page, base: str, path: str, width: int) -> None:
    page.goto(base + path)
    expect(page.locator("main")).to_be_visible()
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{path} is {scroll_width} px wide at {width} px"


@pytest.mark.parametrize("role", [None, *Role], ids=lambda r: r or "visitor")
def test_no_page_scrolls_sideways_on_a_phone(
    browser: Browser, live_server: str, world, role
):
    """At 390 px no main page is wider than the screen, for each role."""
    context = browser.new_context(viewport=PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        if role is None:
            paths = VISITOR_PAGES
        else:
            log_in(page, live_server, f"{role.value}@northwind.example")
            paths = MEMBER_PAGES + (ADMIN_PAGES if role == Role.ADMIN else [])
        for path in paths:
            _assert_fits(page, live_server, path.format(**world), PHONE["width"])
    finally:
        context.close()


def test_menu_collapses_on_a_phone_and_balance_shows(
    page: Page, live_server: str, world
):
    """On a phone the links sit behind "Menu"; on a laptop they are in a row;
    the vested balance is in the header at both widths."""
    log_in(page, live_server, "member@northwind.example")
    header = page.locator(".site-header")
    expect(header.locator("#header-balance")).to_have_text("60 pts")
    wide = header.locator(".nav-wide")
    expect(wide.get_by_role("link", name="Search")).to_be_visible()
    expect(header.get_by_text("Menu")).to_be_hidden()

    page.set_viewport_size(PHONE)
    expect(header.locator(".nav-wide")).to_be_hidden()
    expect(header.locator("#header-balance")).to_be_visible()
    menu = header.locator(".nav-menu")
    menu.get_by_text("Menu").click()
    menu.get_by_role("link", name="Points").click()
    expect(page).to_have_url(f"{live_server}/points")
    expect(page.get_by_role("heading", name="Your points")).to_be_visible()
