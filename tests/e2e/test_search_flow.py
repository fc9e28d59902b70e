"""Find a contact by a misspelled name as you type, reveal it, export it."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from portal import ledger
from portal.models import EntryKind, Revision, RevisionKind, RevisionSource
from portal.models.base import utcnow
from tests.e2e.conftest import follow_link, log_in

pytestmark = pytest.mark.e2e

EMAIL = "margaret.hamilton@apollo-guidance.com"
PHONE = "+16175550142"


def test_search_reveal_and_export(
    page: Page, live_server: str, db, make_member, make_company, make_contact
):
    """Typing "Margret Hamiltn apollo" updates the results and the URL; the
    contact reveals its email with provenance; My contacts exports it."""
    buyer = make_member(email="buyer@northwind.example")
    ledger.record(db.session, buyer.id, 50, EntryKind.PURCHASE, "fund")
    contributor = make_member(email="contributor@northwind.example")
    company = make_company(name="Apollo Guidance Inc.", domain="apollo-guidance.com")
    for first, last in (("Margaret", "Hamlin"), ("Marge", "Hamilton")):
        make_contact(company=make_company(), first_name=first, last_name=last)
    contact = make_contact(
        company=company,
        first_name="Margaret",
        last_name="Hamilton",
        title="Director of Software Engineering",
        email=EMAIL,
        phone=PHONE,
        city="Cambridge",
        country="US",
        owner_id=contributor.id,
        last_confirmed_at=utcnow() - timedelta(days=15),
    )
    db.session.add(
        Revision(
            contact_id=contact.id,
            member_id=contributor.id,
            kind=RevisionKind.CONTRIBUTION,
            source=RevisionSource.FORM,
            fields={"first_name": "Margaret", "email": EMAIL, "phone": PHONE},
        )
    )
    db.session.commit()

    log_in(page, live_server, "buyer@northwind.example")

    follow_link(page, "Search")
    expect(page).to_have_url(f"{live_server}/search")
    results = page.locator("#search-results")
    expect(results).to_contain_text("Type a name")
    # Typed key by key, as a member would: htmx waits for a pause.
    page.get_by_label("Name, title or company").press_sequentially(
        "Margret Hamiltn apollo", delay=40
    )
    typed_url = re.compile(r"/search\?q=Margret(\+|%20)Hamiltn(\+|%20)apollo$")
    expect(page).to_have_url(typed_url)
    expect(page.locator("#result-count")).to_have_text("1 result")
    hit = results.locator(".search-hit").first
    expect(hit).to_contain_text("Margaret Hamilton")
    expect(hit).to_contain_text("Apollo Guidance Inc.")
    expect(hit).to_contain_text("confirmed 2 weeks ago")
    expect(hit).to_contain_text("m•••@apollo-guidance.com")
    assert EMAIL not in page.content()

    # Back and forward restore the typed search.
    page.get_by_label("Name, title or company").fill("hamilton")
    expect(page).to_have_url(re.compile(r"/search\?q=hamilton$"))
    expect(page.locator("#result-count")).to_have_text("2 results")
    page.go_back()
    expect(page).to_have_url(typed_url)
    expect(page.locator("#result-count")).to_have_text("1 result")

    results.get_by_role("link", name="Margaret Hamilton").click()
    expect(page).to_have_url(f"{live_server}/contacts/{contact.id}")
    page.get_by_role("button", name=re.compile("Reveal email and phone")).click()
    details = page.locator("#contact")
    expect(details).to_contain_text("Revealed for 10 points")
    # The header balance followed the reveal without a reload.
    expect(page.locator("#header-balance")).to_have_text("40 pts")
    expect(details).to_contain_text(EMAIL)
    expect(details).to_contain_text("+1 617-555-0142")
    expect(details.get_by_role("link", name="+1 617-555-0142")).to_have_attribute(
        "href", "tel:+1-617-555-0142"
    )
    expect(details).to_contain_text(
        f"Added on the form by member {contributor.pseudonym}"
    )

    page.get_by_role("link", name="My contacts").click()
    expect(page.locator("#my-contacts")).to_contain_text(EMAIL)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV", exact=True).click()
    download = download_info.value
    assert download.suggested_filename == "tessera-my-contacts.csv"
    with open(download.path(), encoding="utf-8") as exported:
        rows = list(csv.DictReader(io.StringIO(exported.read())))
    # A phone number is data, not a formula: written as it is.
    assert [(r["first_name"], r["email"], r["phone"]) for r in rows] == [
        ("Margaret", EMAIL, PHONE)
    ]
