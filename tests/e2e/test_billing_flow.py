"""An admin records an invoice, issues it and marks it paid in a real browser;
the member sees the points."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"


def _log_in(page: Page, live_server: str, email: str) -> None:
    page.goto(f"{live_server}/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server}/")


def test_admin_invoices_points_and_member_sees_them(
    page: Page, live_server: str, make_member
):
    """Draft with a refused line first, then saved, issued, marked paid; the
    buyer's /points shows the purchase and when it expires."""
    make_member(email="ada@tessera.example", role="admin")
    make_member(email="buyer@northwind.example", display_name="Priya Raman")
    _log_in(page, live_server, "ada@tessera.example")

    page.goto(f"{live_server}/admin/invoices/new")
    page.get_by_label("Member's email").fill("buyer@northwind.example")
    page.get_by_label("Description, line 1").fill("Points pack 1,000")
    page.get_by_label("Quantity, line 1").fill("1")
    page.get_by_label("Unit price, line 1").fill("-45")
    page.get_by_label("Points per unit, line 1").fill("1000")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("A price cannot be negative.")).to_be_visible()

    page.get_by_label("Unit price, line 1").fill("45.00")
    page.get_by_role("button", name="Save draft").click()
    expect(page).to_have_url(re.compile(r"/admin/invoices/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Draft invoice")

    page.get_by_role("button", name="Issue and send").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile(r"Invoice TSR-\d{4}-000001")
    )
    page.get_by_label("Payment reference").fill("SEPA 778")
    page.get_by_role("button", name="Mark paid").click()
    expect(
        page.get_by_text("Payment recorded; the points are credited.")
    ).to_be_visible()
    expect(page.locator("#invoice-state")).to_have_text("paid")

    page.get_by_role("banner").get_by_role("button", name="Log out").click()
    _log_in(page, live_server, "buyer@northwind.example")
    page.goto(f"{live_server}/points")
    expect(page.locator("#vested-balance")).to_have_text("1,000")
    expect(page.get_by_role("cell", name="Purchase")).to_be_visible()
    expect(page.locator("#expiring-points")).to_contain_text(
        "1,000 purchased points expire on"
    )
