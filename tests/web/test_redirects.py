"""Open redirects: ``next`` after login only ever leads to a path on this site."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from portal.security import safe_local_path
from tests.conftest import csrf_token_from

# Each of these, followed by a browser, lands on another origin (or runs code).
ATTACKS = [
    "/\\127.0.0.1:5089/x",
    "/%5C127.0.0.1:5089/x",
    "/%5c127.0.0.1:5089/x",
    "/%255C127.0.0.1:5089/x",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "//evil.example",
    "//evil.example/path",
    "///evil.example",
    "/%2Fevil.example",
    "/%2F%2Fevil.example",
    "%2F%2Fevil.example",
    "https://evil.example/",
    "HTTPS://evil.example/",
    "http:evil.example",
    "ftp://evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/%09/evil.example",
    "/%0d%0a/evil.example",
    " //evil.example",
    "\t//evil.example",
    "/ /evil.example",
    "/\x00/evil.example",
    "/\u2028/evil.example",
    "/\u3000/evil.example",
    "evil.example",
    "@evil.example",
    "/" + "a" * 3000,
]

SAFE = [
    "/search",
    "/search?q=Priya+Raman&page=2",
    "/search?q=a%20b",
    "/contacts/12",
    "/companies/3?department=sales#contacts",
]


def _login_with_next(client, next_value: str, **headers):
    token = csrf_token_from(client.get("/auth/login").get_data(as_text=True))
    return client.post(
        "/auth/login?next=" + quote(next_value, safe=""),
        data={
            "email": "nx@northwind.example",
            "password": "correct horse battery",
            "csrf_token": token,
        },
        headers=headers,
    )


@pytest.mark.parametrize("target", ATTACKS)
def test_login_redirect_refuses_other_origins(client, make_member, target):
    """A plain login with a hostile ``next`` is sent home (302 to "/")."""
    make_member(email="nx@northwind.example")
    response = _login_with_next(client, target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ATTACKS)
def test_htmx_login_redirect_refuses_other_origins(client, make_member, target):
    """An htmx login with a hostile ``next`` answers ``HX-Redirect: /``."""
    make_member(email="nx@northwind.example")
    response = _login_with_next(client, target, **{"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/"


@pytest.mark.parametrize("target", SAFE)
def test_login_follows_paths_on_this_site(client, make_member, target):
    """A same-site ``next`` is followed, by the 302 and by ``HX-Redirect``."""
    make_member(email="nx@northwind.example")
    assert _login_with_next(client, target).headers["Location"] == target
    client.post(
        "/auth/logout",
        data={"csrf_token": csrf_token_from(client.get("/").get_data(as_text=True))},
    )
    htmx = _login_with_next(client, target, **{"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == target


def test_login_page_carries_next_from_the_login_redirect(client, make_member):
    """The ``next`` Flask-Login adds when a page needs a login survives the form."""
    make_member(email="nx@northwind.example")
    location = client.get("/search?q=x").headers["Location"]
    page = client.get(location).get_data(as_text=True)
    token = csrf_token_from(page)
    action = page.split('action="')[1].split('"')[0].replace("&amp;", "&")
    response = client.post(
        action,
        data={
            "email": "nx@northwind.example",
            "password": "correct horse battery",
            "csrf_token": token,
        },
    )
    assert response.headers["Location"] == "/search?q=x"


@pytest.mark.parametrize("target", ATTACKS)
def test_safe_local_path_refuses(target):
    """The check itself refuses every variant."""
    assert safe_local_path(target) is None


@pytest.mark.parametrize("target", SAFE)
def test_safe_local_path_keeps(target):
    """Ordinary same-site paths come back unchanged."""
    assert safe_local_path(target) == target
