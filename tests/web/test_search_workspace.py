"""The search workspace: a results table with inline reveal, selection with
a confirmed total, export of the selected revealed ones, facet counts,
industry and size filters, roles before company names, typo notes."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from sqlalchemy import func, select

from portal import ledger
from portal.models import EntryKind, LedgerEntry, Unlock
from tests.conftest import csrf_token_from

pytestmark = pytest.mark.usefixtures("fixed_clock")
HTMX = {"HX-Request": "true"}


@pytest.fixture
def buyer(make_member, auth, db):
    member = make_member(email="buyer@northwind.example")
    ledger.record(db.session, member.id, 35, EntryKind.PURCHASE, "fund")
    db.session.commit()
    auth.login("buyer@northwind.example")
    return member


@pytest.fixture
def people(make_company, make_contact):
    """Three engineers at a software company and a sales manager at a company
    named for engineering."""
    software = make_company(
        name="Globex Software",
        domain="globex.com",
        industry="Software",
        size_band="51-200",
    )
    works = make_company(
        name="Hudson Engineering",
        domain="hudson-eng.com",
        industry="Manufacturing",
        size_band="1001-5000",
    )
    engineers = [
        make_contact(
            company=software,
            first_name=first,
            last_name="Okafor",
            title="Software Engineer",
            seniority="entry",
            department="engineering",
            email=f"{first.lower()}@globex.com",
            phone="+442079460958",
            country="GB",
        )
        for first in ("Ada", "Ben", "Cleo")
    ]
    manager = make_contact(
        company=works,
        first_name="Dora",
        last_name="Lindqvist",
        title="Sales Manager",
        seniority="manager",
        department="sales",
        email="dora@hudson-eng.com",
        country="SE",
    )
    return engineers, manager


def _token(client) -> str:
    return csrf_token_from(client.get("/search").get_data(as_text=True))


def _names_in_order(html: str) -> list[str]:
    return re.findall(
        r'<tr id="hit-\d+" class="search-hit">.*?<strong>(.*?)</strong>', html, re.S
    )


def test_results_are_a_table_with_masked_details_and_a_reveal_price(
    client, buyer, people
):
    """Each row has name, title, company, location, freshness, which details
    exist and a Reveal button that shows the cost first; no email shows."""
    html = client.get("/search?q=okafor").get_data(as_text=True)
    assert '<table class="striped results-table">' in html
    for heading in ("Name", "Title", "Company", "Location", "Freshness", "Details"):
        assert f'<th scope="col">{heading}</th>' in html
    assert html.count("Reveal · 10 pts") == 3
    assert "ada@globex.com" not in html and "a•••@globex.com" in html
    assert "London" not in html and "United Kingdom" in html


def test_inline_reveal_returns_the_row_and_the_new_balance(client, buyer, people, db):
    """The htmx reveal swaps in the row with mailto and tel links, says what
    is left, and sends the balance event for the header."""
    ada = people[0][0]
    response = client.post(
        f"/search/reveal/{ada.id}",
        data={"csrf_token": _token(client), "back": "/search?q=okafor"},
        headers=HTMX,
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="hit-{ada.id}"')
    assert '<a href="mailto:ada@globex.com">ada@globex.com</a>' in html
    assert 'href="tel:+44-20-7946-0958"' in html
    assert "−10 points · 25 left" in html
    assert json.loads(response.headers["HX-Trigger"]) == {
        "balance-changed": {"vested": 25}
    }
    again = client.post(
        f"/search/reveal/{ada.id}", data={"csrf_token": _token(client)}, headers=HTMX
    )
    assert "Revealed before: free" in again.get_data(as_text=True)
    assert ledger.vested_balance(db.session, buyer.id) == 25


def test_reveal_selected_shows_the_total_then_charges_once_each(
    client, buyer, people, db
):
    """The first post shows the total to confirm and charges nothing; the
    confirmation reveals all, each once; doing it again is free."""
    ids = [str(c.id) for c in people[0]]
    token = _token(client)
    quote = client.post(
        "/search/reveal", data={"csrf_token": token, "ids": ids, "back": "/search?q=x"}
    )
    html = quote.get_data(as_text=True)
    assert quote.status_code == 200
    assert '<p class="stat" id="reveal-total">30 points</p>' in html
    assert "You have 35 points to spend, 5 after this" in html
    assert db.session.scalar(select(func.count()).select_from(Unlock)) == 0
    confirmed = client.post(
        "/search/reveal",
        data={"csrf_token": token, "ids": ids, "confirm": "yes", "back": "/search?q=x"},
    )
    assert confirmed.status_code == 302
    assert confirmed.headers["Location"] == "/search?q=x"
    page = client.get("/search?q=okafor").get_data(as_text=True)
    assert "Revealed 3 contacts for 30 points" in page
    assert "ada@globex.com" in page and "cleo@globex.com" in page
    client.post(
        "/search/reveal", data={"csrf_token": token, "ids": ids, "confirm": "yes"}
    )
    assert ledger.vested_balance(db.session, buyer.id) == 5
    charges = db.session.scalar(
        select(func.count()).where(LedgerEntry.kind == EntryKind.UNLOCK)
    )
    assert charges == 3


def test_reveal_selected_beyond_the_balance_reveals_nothing(
    client, buyer, people, db, make_contact
):
    """Four contacts at 10 each with 35 points: refused before (button off)
    and on confirmation nothing is revealed."""
    ids = [str(c.id) for c in people[0]] + [str(people[1].id)]
    token = _token(client)
    html = client.post(
        "/search/reveal", data={"csrf_token": token, "ids": ids}
    ).get_data(as_text=True)
    assert "That is more than you have" in html
    response = client.post(
        "/search/reveal",
        data={"csrf_token": token, "ids": ids, "confirm": "yes"},
        follow_redirects=True,
    )
    assert "Nothing was revealed" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Unlock)) == 0
    assert ledger.vested_balance(db.session, buyer.id) == 35


def test_export_selected_takes_only_revealed_contacts(client, buyer, people, db):
    """Export of a selection holds the revealed ones only, as they are."""
    ada, ben, _ = people[0]
    token = _token(client)
    client.post(f"/search/reveal/{ada.id}", data={"csrf_token": token})
    response = client.post(
        "/my/contacts/export",
        data={"csrf_token": token, "ids": [str(ada.id), str(ben.id)], "format": "csv"},
    )
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["email"], r["phone"]) for r in rows] == [
        ("ada@globex.com", "+442079460958")
    ]
    nothing = client.post(
        "/my/contacts/export",
        data={"csrf_token": token, "ids": [str(ben.id)], "back": "/search?q=ben"},
    )
    assert nothing.status_code == 302 and nothing.headers["Location"] == "/search?q=ben"


def test_facet_counts_beside_seniority_department_and_country(client, buyer, people):
    """The facets count the matches per value and link to the filter."""
    html = client.get("/search?company=globex").get_data(as_text=True)
    facets = html.split('id="facets"', 1)[1].split("</details>", 1)[0]
    assert re.search(r">Entry level</a> <span class=\"facet-count\">3</span>", facets)
    assert re.search(r">Engineering</a> <span class=\"facet-count\">3</span>", facets)
    assert re.search(
        r">United Kingdom</a> <span class=\"facet-count\">3</span>", facets
    )
    assert "seniority=entry" in facets and "country=GB" in facets


def test_industry_and_company_size_filters(client, buyer, people):
    """Industry and size band narrow to companies that have them, and the
    form offers the values companies have."""
    page = client.get("/search").get_data(as_text=True)
    assert '<option value="Software"' in page and '<option value="51-200"' in page
    assert page.index('value="51-200"') < page.index('value="1001-5000"')
    software = client.get("/search?industry=Software").get_data(as_text=True)
    assert sorted(_names_in_order(software)) == [
        "Ada Okafor",
        "Ben Okafor",
        "Cleo Okafor",
    ]
    big = client.get("/search?size=1001-5000").get_data(as_text=True)
    assert _names_in_order(big) == ["Dora Lindqvist"]
    none = client.get("/search?industry=Software&size=1001-5000").get_data(as_text=True)
    assert _names_in_order(none) == []


def test_title_words_outrank_company_name_words(client, buyer, people):
    """ "engineer" lists the software engineers before the sales manager at
    Hudson Engineering."""
    # As typed (no space after): "engineer" also starts "Engineering".
    html = client.get("/search?q=engineer").get_data(as_text=True)
    names = _names_in_order(html)
    assert len(names) == 4 and names[-1] == "Dora Lindqvist"
    assert set(names[:3]) == {"Ada Okafor", "Ben Okafor", "Cleo Okafor"}


def test_a_corrected_typo_says_what_was_searched(client, buyer, people):
    """ "okafr" finds Okafor and says so; an exact query says nothing."""
    html = client.get("/search?q=okafr+").get_data(as_text=True)
    assert "Showing results for “okafor”." in html
    assert "Ada Okafor" in html
    exact = client.get("/search?q=okafor+").get_data(as_text=True)
    assert "Showing results for" not in exact
