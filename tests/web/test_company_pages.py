"""The company list with its search, and a company's page: counts by
department, seniority and freshness, masked contacts, filters and pages."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from portal.models import CompanyDomain, Contact, ContactState
from portal.models.base import utcnow
from portal.templating import format_date

# Freshness counts back from now, in the fixture and again in the page.
pytestmark = pytest.mark.usefixtures("fixed_clock")

HTMX = {"HX-Request": "true"}
EMAIL = "grace.hopper@globex.com"
PHONE = "+442079460958"

# first, last, title, seniority, department, state, confirmed days ago, phone
PEOPLE = [
    ("Ada", "Adams", "Sales Director", "director", "sales", "active", 10, None),
    ("Bob", "Baker", "Director of Sales", "director", "sales", "active", 200, None),
    ("Cy", "Clark", "Sales Manager", "manager", "sales", "disputed", 400, None),
    ("Di", "Dunn", "Senior Engineer", "senior", "engineering", "active", None, None),
    ("Ed", "Evans", "Helper", None, None, "active", None, None),
    ("Grace", "Hopper", "Lead Engineer", "senior", "engineering", "active", 21, PHONE),
    # Neither listed nor counted.
    ("Hal", "Held", "Sales Director", "director", "sales", "held", 5, PHONE),
    ("Gil", "Gone", "CEO", "c_level", "executive", "graveyard", 5, None),
]
SEARCHABLE = [f"{p[0]} {p[1]}" for p in PEOPLE if p[5] in ("active", "disputed")]
HIDDEN = ["Hal Held", "Gil Gone"]


@pytest.fixture
def page_size() -> int:
    return 25


@pytest.fixture
def app_config(app_config, page_size):
    return {**app_config, "PAGE_SIZE": page_size}


@pytest.fixture
def member(make_member, auth):
    member = make_member(email="buyer@northwind.example")
    auth.login("buyer@northwind.example")
    return member


@pytest.fixture
def globex(make_company, make_contact, db):
    company = make_company(
        name="Globex Corporation",
        domain="globex.com",
        industry="Manufacturing",
        size_band="1001-5000",
        city="Springfield",
        country="US",
    )
    db.session.add(CompanyDomain(company_id=company.id, domain="globex.co.uk"))
    db.session.commit()
    now = utcnow()
    for first, last, title, seniority, department, state, days, phone in PEOPLE:
        make_contact(
            company=company,
            first_name=first,
            last_name=last,
            title=title,
            seniority=seniority,
            department=department,
            state=ContactState(state),
            last_confirmed_at=now - timedelta(days=days) if days else None,
            email=f"{first.lower()}.{last.lower()}@globex.com",
            phone=phone,
        )
    return company


class _TextOf(HTMLParser):
    VOID = {"br", "hr", "img", "input", "link", "meta", "source", "wbr"}

    def __init__(self, element_id: str):
        super().__init__()
        self.element_id = element_id
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("id") == self.element_id:
            self.depth = 1

    def handle_endtag(self, tag):
        if self.depth and tag not in self.VOID:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)


def text_of(html: str, element_id: str) -> str:
    """The visible text of the element with ``element_id``, spaces collapsed."""
    parser = _TextOf(element_id)
    parser.feed(html)
    parser.close()
    return " ".join(" ".join(parser.parts).split())


def listed(html: str) -> list[str]:
    """The names in the page's contact list, in order."""
    text = text_of(html, "company-contacts")
    return sorted((n for n in SEARCHABLE + HIDDEN if n in text), key=text.index)


def get(client, path, **headers):
    response = client.get(path, headers=headers)
    return response, response.get_data(as_text=True)


def test_counts_exclude_held_and_graveyard(client, member, globex):
    """Departments, seniorities and freshness count active and disputed only."""
    response, html = get(client, f"/companies/{globex.id}")
    assert response.status_code == 200
    assert text_of(html, "department-counts") == (
        "By department Sales 3 Engineering 2 Not recognised 1"
    )
    assert text_of(html, "seniority-counts") == (
        "By seniority C-level 0 VP 0 Director 2 Head 0 Manager 1 Senior 2 "
        "Entry level 0 Not recognised 1"
    )
    # Ada (10 days) and Grace (21) in 6 months, Bob (200) too in 12, of 6; the
    # held contact's confirmation 5 days ago is not the most recent one.
    most_recent = format_date(utcnow() - timedelta(days=10))
    assert text_of(html, "freshness") == (
        "Freshness Confirmed in the last 6 months 33.3% "
        f"Confirmed in the last 12 months 50.0% Most recent confirmation {most_recent}"
    )
    assert "6 contacts you can find" in html
    assert listed(html) == SEARCHABLE


def test_header_shows_domains_industry_size_and_location(client, member, globex):
    """The header shows what Tessera knows about the company."""
    _, html = get(client, f"/companies/{globex.id}")
    assert "<h1>Globex Corporation</h1>" in html
    for shown in ("globex.com, globex.co.uk", "Manufacturing", "1001-5000"):
        assert shown in html
    assert "Springfield, United States" in html


def test_contacts_are_masked_everywhere(client, member, globex):
    """No full email or phone in the page, its fragments or the company list;
    each row shows the masked email, freshness and which details exist."""
    pages = [
        get(client, f"/companies/{globex.id}")[1],
        get(client, f"/companies/{globex.id}?department=engineering", **HTMX)[1],
        get(client, "/companies")[1],
        get(client, "/companies?q=globex")[1],
    ]
    for html in pages:
        for first, last, *_ in PEOPLE:
            assert f"{first.lower()}.{last.lower()}" not in html
        assert EMAIL not in html and "grace.hopper" not in html
        assert PHONE not in html and PHONE[1:] not in html and "2079460958" not in html
    row = text_of(pages[0], "company-contacts")
    assert "Grace Hopper Lead Engineer" in row
    assert "— confirmed 3 weeks ago email phone g•••@globex.com" in row
    assert "Ed Evans Helper — never confirmed email e•••@globex.com" in row
    assert "Disputed" in row


def test_contacts_link_to_their_page(client, member, globex, db):
    """Each listed contact links to its contact page."""
    _, html = get(client, f"/companies/{globex.id}")
    ada = db.session.scalar(select(Contact).where(Contact.first_name == "Ada"))
    assert f'href="/contacts/{ada.id}"' in html


@pytest.mark.parametrize("page_size", [2])
@pytest.mark.parametrize(
    ("raw_page", "names"),
    [
        ("1", ["Ada Adams", "Bob Baker"]),
        ("2", ["Cy Clark", "Di Dunn"]),
        ("3", ["Ed Evans", "Grace Hopper"]),
        ("99", ["Ed Evans", "Grace Hopper"]),
        ("99999999999999999999999", ["Ed Evans", "Grace Hopper"]),
        ("0", ["Ada Adams", "Bob Baker"]),
        ("-4", ["Ada Adams", "Bob Baker"]),
        ("abc", ["Ada Adams", "Bob Baker"]),
        ("1e9", ["Ada Adams", "Bob Baker"]),
    ],
)
def test_contacts_are_paginated(client, member, globex, raw_page, names):
    """Pages of contacts alphabetically; a bad page number gives a real page."""
    response, html = get(client, f"/companies/{globex.id}?page={raw_page}")
    assert response.status_code == 200
    assert listed(html) == names
    assert "(6 in all)" in html


@pytest.mark.parametrize("page_size", [2])
def test_pages_keep_the_filter(client, member, globex):
    """Pagination links carry the filter; htmx gets the list alone."""
    response, html = get(
        client, f"/companies/{globex.id}?department=sales&page=2", **HTMX
    )
    assert response.status_code == 200
    assert "<html" not in html and 'id="company-contacts"' in html
    assert listed(html) == ["Cy Clark"]
    assert "Page 2 of 2" in html
    assert f"/companies/{globex.id}?page=1&amp;department=sales" in html


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("department=sales", ["Ada Adams", "Bob Baker", "Cy Clark"]),
        ("seniority=director", ["Ada Adams", "Bob Baker"]),
        ("department=sales&seniority=manager", ["Cy Clark"]),
        ("department=engineering&seniority=senior", ["Di Dunn", "Grace Hopper"]),
        ("department=none", ["Ed Evans"]),
        ("seniority=none", ["Ed Evans"]),
        ("department=legal", []),
        ("department=executive", []),
        ("department=bogus", SEARCHABLE),
        ("seniority=%27%3B+DROP+TABLE+contacts%3B+--", SEARCHABLE),
        ("department=" + "%F0%9F%99%82" * 500, SEARCHABLE),
        ("department=sales&department=hr", ["Ada Adams", "Bob Baker", "Cy Clark"]),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_filters(client, member, globex, query, names, htmx):
    """Filters by department and seniority; unknown values filter nothing."""
    response, html = get(
        client, f"/companies/{globex.id}?{query}", **(HTMX if htmx else {})
    )
    assert response.status_code == 200
    assert listed(html) == names
    assert "HX-Request" in response.headers["Vary"]
    assert ("<html" in html) is not htmx


def test_filtered_count_is_shown(client, member, globex):
    """The list says how many contacts the filter leaves."""
    _, html = get(client, f"/companies/{globex.id}?department=sales&seniority=director")
    assert "2 contacts in Sales · Director" in text_of(html, "company-contacts")
    _, html = get(client, f"/companies/{globex.id}?department=legal", **HTMX)
    assert "No contacts in Legal" in text_of(html, "company-contacts")


@pytest.mark.parametrize("htmx", [False, True])
def test_unknown_company_is_404(client, member, globex, htmx):
    """A company id that does not exist is a 404, for pages and fragments."""
    response = client.get(
        f"/companies/{globex.id + 1000}", headers=HTMX if htmx else {}
    )
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["/companies", "/companies?q=globex", "/companies/1"])
def test_anonymous_visitors_are_sent_to_log_in(client, path):
    """Company pages are for members only."""
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


@pytest.fixture
def companies(make_company, globex):
    for name, domain in (
        ("Initech", "initech.com"),
        ("Umbrella Holdings", "umbrella.example"),
        ("Acme Corporation", "acme.example"),
    ):
        make_company(name=name, domain=domain)
    return globex


def company_names(html: str) -> list[str]:
    text = text_of(html, "company-results")
    names = ["Acme Corporation", "Globex Corporation", "Initech", "Umbrella Holdings"]
    return sorted((n for n in names if n in text), key=text.index)


def test_company_list_is_alphabetical_with_searchable_counts(client, member, companies):
    """Without a query: every company, alphabetically, with its searchable
    contacts (held and graveyard ones left out), domain and location."""
    response, html = get(client, "/companies")
    assert response.status_code == 200
    assert company_names(html) == [
        "Acme Corporation",
        "Globex Corporation",
        "Initech",
        "Umbrella Holdings",
    ]
    assert "Globex Corporation globex.com Springfield, United States 6" in text_of(
        html, "company-results"
    )
    assert f'href="/companies/{companies.id}"' in html
    assert 'aria-current="page">Companies</a>' in html


@pytest.mark.parametrize("page_size", [2])
def test_company_list_is_paginated(client, member, companies):
    """The alphabetical list comes in pages; a bad page number is a real page."""
    _, html = get(client, "/companies?page=2", **HTMX)
    assert company_names(html) == ["Initech", "Umbrella Holdings"]
    _, html = get(client, "/companies?page=junk")
    assert company_names(html) == ["Acme Corporation", "Globex Corporation"]


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("Umbrela Holdngs", "Umbrella Holdings"),
        ("glbex", "Globex Corporation"),
        ("Inittech", "Initech"),
        ("acme.example", "Acme Corporation"),
        ("globex.co.uk", "Globex Corporation"),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_company_search_tolerates_typos(client, member, companies, query, first, htmx):
    """Search as you type finds a misspelled company first."""
    response, html = get(client, f"/companies?q={query}", **(HTMX if htmx else {}))
    assert response.status_code == 200
    assert company_names(html)[0] == first
    assert ("<html" in html) is not htmx


@pytest.mark.parametrize(
    "query",
    [
        "x" * 1500,
        "Globex " * 200,
        "🙂🏢🚀",
        "株式会社トヨタ",
        "'; DROP TABLE companies; --",
        '" OR 1=1 --',
        "%_\\",
        "a\x00b",
        "   ",
        'NEAR(*) -"',
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_search_input_is_a_normal_page(client, member, companies, query, htmx):
    """Very long, emoji, non-Latin and SQL-looking queries get a normal page."""
    response = client.get(
        "/companies", query_string={"q": query}, headers=HTMX if htmx else {}
    )
    assert response.status_code == 200
    response = client.get(
        f"/companies/{companies.id}",
        query_string={"department": query, "seniority": query, "page": query},
        headers=HTMX if htmx else {},
    )
    assert response.status_code == 200
    assert len(listed(response.get_data(as_text=True))) == len(SEARCHABLE)
