"""The render helper: fragments for htmx swaps, pages otherwise."""

from __future__ import annotations


def test_plain_request_gets_the_page(client):
    """A normal GET returns the whole page, varying on HX-Request."""
    response = client.get("/auth/login")
    html = response.get_data(as_text=True)
    assert "<html" in html and 'id="login-form"' in html
    assert "HX-Request" in response.headers["Vary"]


def test_htmx_request_gets_the_fragment(client):
    """An htmx request gets only the form fragment."""
    response = client.get("/auth/login", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert html.lstrip().startswith("<form") and 'id="login-form"' in html
    assert "HX-Request" in response.headers["Vary"]


def test_boosted_and_history_restore_get_the_page(client):
    """Boosted navigation and history restores replace the body: full page."""
    for extra in ({"HX-Boosted": "true"}, {"HX-History-Restore-Request": "true"}):
        response = client.get("/auth/login", headers={"HX-Request": "true", **extra})
        assert "<html" in response.get_data(as_text=True)


def test_page_has_live_region_and_navigation(client, auth, make_member):
    """The shell has an aria-live region and role-fitting navigation."""
    make_member(email="m@northwind.example")
    auth.login("m@northwind.example")
    html = client.get("/").get_data(as_text=True)
    assert 'aria-live="polite"' in html
    assert 'href="/account/profile"' in html
    assert 'href="/admin"' not in html
