"""Security defaults: headers, CSRF, cookies, request size, error pages."""

from __future__ import annotations

import pytest

from tests.conftest import csrf_token_from


def test_every_response_has_security_headers(client):
    """CSP without inline script, no framing, no sniffing, a referrer policy."""
    for path in ("/", "/auth/login", "/nowhere", "/healthz"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "'unsafe-inline'" not in csp
        assert "'unsafe-eval'" not in csp
        assert "object-src 'none'" in csp
        assert "base-uri 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"


def test_pages_carry_no_inline_script_or_style(client, auth, make_member):
    """The CSP would block inline code, so the templates must not contain any."""
    make_member(email="a@northwind.example", role="admin")
    auth.login("a@northwind.example")
    for path in ("/", "/account/profile", "/admin", "/admin/jobs", "/admin/outbox"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>" not in html
        assert " style=" not in html
        assert "<style" not in html
        assert " onclick=" not in html and " hx-on" not in html


def test_htmx_is_configured_without_eval(client):
    """htmx never evaluates strings as code."""
    html = client.get("/").get_data(as_text=True)
    assert '"allowEval": false' in html
    assert 'src="/static/vendor/htmx-2.0.11/htmx.min.js"' in html


def test_session_cookie_flags(client, auth, make_member):
    """The session cookie is HttpOnly and SameSite=Lax, not Secure over HTTP."""
    make_member(email="c@northwind.example")
    response = auth.login("c@northwind.example")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_over_https(client, make_member):
    """Served over HTTPS, the session cookie is marked Secure."""
    make_member(email="s@northwind.example")
    page = client.get("/auth/login", base_url="https://localhost")
    response = client.post(
        "/auth/login",
        base_url="https://localhost",
        # Over HTTPS, Flask-WTF also requires a same-origin Referer.
        headers={"Referer": "https://localhost/auth/login"},
        data={
            "email": "s@northwind.example",
            "password": "correct horse battery",
            "csrf_token": csrf_token_from(page.get_data(as_text=True)),
        },
    )
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def test_post_without_csrf_token_is_refused(client, make_member, db):
    """A form post without its token gets 400 and a page that says to reload."""
    make_member(email="v@northwind.example")
    response = client.post(
        "/auth/login",
        data={"email": "v@northwind.example", "password": "correct horse battery"},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Reload the page" in html
    assert "Welcome back" not in client.get("/").get_data(as_text=True)


def test_post_with_wrong_csrf_token_is_refused(client, auth, make_member):
    """A forged token is refused even for a logged-in member."""
    make_member(email="w@northwind.example")
    auth.login("w@northwind.example")
    response = client.post("/auth/logout", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert "Welcome back" in client.get("/").get_data(as_text=True)


def test_csrf_token_from_another_session_is_refused(app, client, auth, make_member):
    """A token valid for one browser does not work in another's session."""
    make_member(email="x@northwind.example")
    auth.login("x@northwind.example")
    attacker = app.test_client()
    foreign_token = csrf_token_from(attacker.get("/auth/login").get_data(as_text=True))
    response = client.post("/auth/logout", data={"csrf_token": foreign_token})
    assert response.status_code == 400


def test_htmx_requests_send_csrf_in_header(client, auth, make_member):
    """The token set once on <body> (hx-headers) is accepted as X-CSRFToken."""
    make_member(email="h@northwind.example")
    auth.login("h@northwind.example")
    html = client.get("/").get_data(as_text=True)
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    token = html.split('"X-CSRFToken": "')[1].split('"')[0]
    response = client.post(
        "/auth/logout", headers={"X-CSRFToken": token, "HX-Request": "true"}
    )
    assert response.status_code == 302
    missing = client.post("/auth/logout", headers={"HX-Request": "true"})
    assert missing.status_code in (400, 302)


def test_oversized_request_gets_413(app, client):
    """A body over MAX_CONTENT_LENGTH is refused with the 413 page."""
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = client.post(
        "/auth/login",
        data={"email": "x" * 5000},
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert "larger than Tessera accepts" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/no/such/page", 404, "There is no page at this address."),
        ("/auth/logout", 405, "That action cannot be done this way."),
    ],
)
def test_error_pages_use_the_shell(client, path, status, text):
    """Error pages are full pages in the site layout."""
    response = client.get(path)
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert text in html
    assert 'class="site-header"' in html


def test_server_error_page_rolls_back(app, client):
    """An unexpected error shows the 500 page in the shell, not a traceback."""
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("secret internals")

    response = client.get("/boom-for-test")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Something went wrong" in html
    assert "secret internals" not in html


def test_errors_for_htmx_go_to_the_message_area(client):
    """An htmx request that fails gets a message retargeted to #messages."""
    response = client.get("/no/such/page", headers={"HX-Request": "true"})
    assert response.status_code == 404
    assert response.headers["HX-Retarget"] == "#messages"
    assert 'class="site-header"' not in response.get_data(as_text=True)


def test_json_clients_get_json_errors(client):
    """API-style clients get a JSON error body."""
    response = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json()["error"] == "Not found"
