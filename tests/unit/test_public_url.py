"""Links in emails: built on PUBLIC_URL, in a request or in a job alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.config import PROJECT_ROOT, normalise_public_url
from portal.mail import public_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://tessera.example.com", "https://tessera.example.com"),
        ("https://tessera.example.com/", "https://tessera.example.com"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("https://example.com/tessera/", "https://example.com/tessera"),
    ],
)
def test_public_url_is_normalised(raw, expected):
    """Trailing slashes go; scheme, host, port and a path prefix stay."""
    assert normalise_public_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "tessera.example.com",
        "ftp://tessera.example.com",
        "javascript:alert(1)",
        "https://",
        "https://user:pw@tessera.example.com",
        "https://tessera.example.com/?next=x",
        "https://tessera.example.com/#top",
    ],
)
def test_unusable_public_url_is_refused_at_start(raw):
    """A PUBLIC_URL no link could be built on is an error with the setting's name."""
    with pytest.raises(ValueError, match="PUBLIC_URL"):
        normalise_public_url(raw)


def test_links_outside_a_request_use_public_url(app):
    """A job (no request) builds the same absolute links."""
    app.config["PUBLIC_URL"] = "https://example.com/tessera"
    assert public_url("auth.login") == "https://example.com/tessera/auth/login"
    assert public_url("auth.verify_email", token="a.b") == (
        "https://example.com/tessera/auth/verify/a.b"
    )


def test_links_inside_a_request_ignore_its_host(app):
    """Inside a request for another host, links still use PUBLIC_URL."""
    app.config["PUBLIC_URL"] = "https://tessera.example.com"
    with app.test_request_context("/", headers={"Host": "evil.example"}):
        assert public_url("auth.login") == "https://tessera.example.com/auth/login"


def test_email_templates_never_build_links_from_the_request():
    """No email template calls url_for (which would use the request's host):
    links are passed in, built by ``public_url``."""
    folder = Path(PROJECT_ROOT / "templates" / "emails")
    templates = list(folder.glob("*"))
    assert templates
    for template in templates:
        assert "url_for" not in template.read_text(), template.name
