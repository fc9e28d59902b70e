"""Contribute a contact through a real browser, past a duplicate warning."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import log_in

pytestmark = pytest.mark.e2e


def test_typo_duplicate_warning_then_pending_points(
    page: Page, live_server: str, make_member, make_company, make_contact
):
    """Typing a typo'd known person shows the masked warning; choosing "same
    person" updates that contact and the member sees points pending."""
    make_member(email="seller@northwind.example")
    company = make_company(
        name="Brightwater Analytics", domain="brightwater-analytics.com"
    )
    make_contact(
        company=company,
        first_name="Priya",
        last_name="Raman",
        title="Sales Manager",
        email="priya.raman@brightwater-analytics.com",
    )
    log_in(page, live_server, "seller@northwind.example")

    page.goto(f"{live_server}/contacts/new")
    page.get_by_label("First name").fill("Pirya")
    page.get_by_label("Last name").fill("Raman")
    page.get_by_label("Job title").fill("VP Sales EMEA")
    page.get_by_label("Business email").fill("p.raman@brightwater-analytics.com")
    page.get_by_label("Company", exact=True).fill("Brightwater Analytics")
    warning = page.locator("#duplicate-warning")
    expect(warning).to_contain_text("Is this someone Tessera already knows?")
    expect(warning).to_contain_text("p•••@brightwater-analytics.com")
    expect(warning).not_to_contain_text("priya.raman@")

    page.get_by_label("Same person").check()
    page.get_by_label("I may share this business contact").check()
    page.get_by_role("button", name="Add contact").click()

    result = page.locator(".contribute-result")
    expect(result).to_contain_text("Updated Priya Raman at Brightwater Analytics")
    expect(page.locator("#points-awarded")).to_have_text("+5 points pending.")

    page.get_by_role("link", name="Your points").click()
    expect(page.locator("#pending-balance")).to_have_text("5")
