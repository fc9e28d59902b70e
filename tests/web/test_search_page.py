"""The /search page: as-you-type results for htmx, a plain GET form without
JavaScript, masked results, and a normal page for any input."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from portal.models.base import utcnow

# Results say how long ago a contact was confirmed.
pytestmark = pytest.mark.usefixtures("fixed_clock")

EMAIL = "priya.raman@brightwater-analytics.com"
PHONE = "+442079460958"


@pytest.fixture
def member(make_member, auth):
    make_member(email="buyer@northwind.example")
    auth.login("buyer@northwind.example")


@pytest.fixture
def priya(make_company, make_contact):
    company = make_company(
        name="Brightwater Analytics", domain="brightwater-analytics.com"
    )
    return make_contact(
        company=company,
        first_name="Priya",
        last_name="Raman",
        title="VP Sales EMEA",
        seniority="vp",
        department="sales",
        email=EMAIL,
        phone=PHONE,
        city="London",
        country="GB",
        last_confirmed_at=utcnow() - timedelta(days=22),
    )


def test_search_needs_login(client):
    response = client.get("/search?q=priya")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_page_has_a_live_form_that_also_works_without_javascript(client, member):
    """A GET form (works without JS) that htmx submits as the member types."""
    html = client.get("/search").get_data(as_text=True)
    assert 'method="get"' in html and 'action="/search"' in html
    assert 'hx-trigger="input changed delay:300ms, submit"' in html
    assert 'hx-push-url="true"' in html
    assert 'hx-target="#search-results"' in html
    assert "Type a name, title or company" in html


def test_result_shows_what_a_buyer_may_see(client, member, priya):
    """Name, title, company link, place, freshness, details on file, masked
    email, and a link to the contact."""
    response = client.get("/search?q=pirya+raman")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "1 result" in html
    assert f'href="/contacts/{priya.id}"' in html
    assert "Priya Raman" in html and "VP Sales EMEA" in html
    assert f'href="/companies/{priya.company_id}"' in html
    assert "Brightwater Analytics" in html
    assert "London, United Kingdom" in html
    assert "confirmed 3 weeks ago" in html
    assert "p•••@brightwater-analytics.com" in html
    assert ">email<" in html and ">phone<" in html


@pytest.mark.parametrize("htmx", [False, True])
def test_full_email_and_phone_appear_nowhere(client, member, priya, htmx):
    """Not in the text, attributes, comments or scripts of page or fragment."""
    headers = {"HX-Request": "true"} if htmx else {}
    for url in (
        "/search?q=priya",
        "/search?q=raman+brightwater&order=recent",
        f"/search?company={priya.company_id}",
        "/search?q=p%20raman%20brightwater-analytics.com",
    ):
        html = client.get(url, headers=headers).get_data(as_text=True)
        assert "Priya Raman" in html, url
        assert EMAIL not in html and "priya.raman@" not in html, url
        assert PHONE not in html and "2079460958" not in html, url


def test_htmx_gets_only_the_results(client, member, priya):
    """An htmx request gets the results fragment; the page varies on it."""
    response = client.get("/search?q=priya", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith("<section") or html.lstrip().startswith("{#")
    assert "<html" not in html and 'id="search-results"' in html
    assert "HX-Request" in response.headers["Vary"]
    full = client.get("/search?q=priya").get_data(as_text=True)
    assert "<html" in full and 'id="search-results"' in full


def test_filters_narrow_and_stay_filled_in(client, member, priya, make_contact):
    make_contact(
        company=priya.company,
        first_name="Priya",
        last_name="Ramen",
        title="Data Engineer",
        seniority="senior",
        department="engineering",
        country="IN",
    )
    html = client.get("/search?q=priya&department=sales&country=uk").get_data(
        as_text=True
    )
    assert "1 result" in html and "Priya Raman" in html and "Ramen" not in html
    assert '<option value="sales" selected>' in html
    assert 'name="country" value="GB"' in html


def test_pagination_links_keep_the_query(client, member, make_company, make_contact):
    company = make_company(name="Paging Partners")
    for n in range(30):
        make_contact(
            company=company,
            first_name="Quinn",
            last_name=f"Quill{n:02d}",
            department="sales",
        )
    html = client.get("/search?q=quinn&department=sales").get_data(as_text=True)
    assert "30 results · page 1 of 2" in html
    assert 'href="/search?q=quinn&amp;department=sales&amp;page=2"' in html
    second = client.get("/search?q=quinn&department=sales&page=2").get_data(
        as_text=True
    )
    assert "page 2 of 2" in second and "← Previous" in second


BAD_PARAMS = [
    "q=",
    "q=" + "x" * 1200,
    "q=" + quote("'; DROP TABLE contacts; --"),
    "q=" + quote('"priya" AND raman*'),
    "q=" + quote("NEAR(priya raman) -raman (x)"),
    "q=" + quote("Иван 王小明 😀"),
    "q=" + quote("%00priya"),
    "q=priya&page=-5",
    "q=priya&page=abc",
    "q=priya&page=999999999999999999999999",
    "q=priya&sort=DESC&limit=100000",
    "q=priya&seniority=emperor&department=%27&country=Atlantis&confirmed=x",
    "q=priya&order=random()",
    "q=priya&company=" + quote("' OR 1=1"),
    "q=priya&company=99999999999999999999999",
    "q=priya&company=" + quote("²"),
    "title=" + quote("*") + "&city=" + quote("%"),
]


@pytest.mark.parametrize("params", BAD_PARAMS)
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_input_gives_a_normal_page(client, member, priya, params, htmx):
    """Odd input, full page or fragment: 200 and results or none, never 500."""
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.get(f"/search?{params}", headers=headers)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="search-results"' in html
    assert EMAIL not in html


def test_ignored_filters_are_said(client, member, priya):
    html = client.get("/search?q=priya&seniority=emperor").get_data(as_text=True)
    assert "Ignored: seniority" in html
    assert "Priya Raman" in html


def test_navigation_links_to_search(client, member):
    html = client.get("/").get_data(as_text=True)
    assert 'href="/search"' in html
