"""Security defaults applied to every response, and the check on redirect
targets that come from the request."""

from __future__ import annotations

import logging
import re
import unicodedata
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface

MAX_REDIRECT_LENGTH = 2048
# Browsers drop tabs and newlines from URLs and read "\" as "/" in http(s)
# URLs, so "/\t/evil", "/\\evil" and "//evil" all leave the site.
_IGNORED_BY_BROWSERS = re.compile(r"[\x00-\x20\x7f]")

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


class SessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


def _unsafe_char(char: str) -> bool:
    return char.isspace() or unicodedata.category(char)[0] in {"C", "Z"}


def _leaves_the_site(layer: str) -> bool:
    squeezed = _IGNORED_BY_BROWSERS.sub("", layer)
    return (
        "\\" in squeezed
        or not squeezed.startswith("/")
        or squeezed.startswith("//")
        or bool(urlsplit(squeezed).scheme)
    )


def safe_local_path(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None.

    Accepted: an absolute path ("/search?q=x"). Refused: anything with a scheme
    or host, protocol-relative "//", any backslash, control or whitespace
    characters, and anything that becomes one of those once percent-decoded
    (a browser or a proxy may decode it), however many times it was encoded.
    """
    if not target or len(target) > MAX_REDIRECT_LENGTH:
        return None
    if any(_unsafe_char(char) for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    layer = target
    while True:
        if _leaves_the_site(layer):
            return None
        decoded = unquote(layer)
        if decoded == layer:
            return target
        layer = decoded


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault(
        "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"
    )
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    # Pages that show a member's data must not be kept by shared caches.
    if not request.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")
    return response


# Paths whose last part is a secret from an email (privacy, verification and
# "remove me" links): their access-log lines show it redacted.
_LINK_SECRET = re.compile(r"(/(?:privacy/open|privacy/remove|auth/verify)/)[^\s/?\"]+")
REDACTED = "[redacted]"


class RedactLinkSecrets(logging.Filter):
    """Keeps emailed link secrets out of request logs (Werkzeug's development
    server, gunicorn's access log): the record's text is rewritten with the
    secret replaced, and the record is always kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _LINK_SECRET.sub(r"\1" + REDACTED, message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact_request_logs() -> None:
    """Install ``RedactLinkSecrets`` on the request loggers, once."""
    for name in ("werkzeug", "gunicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactLinkSecrets) for f in logger.filters):
            logger.addFilter(RedactLinkSecrets())


def init_app(app: Flask) -> None:
    redact_request_logs()
    app.session_interface = SessionInterface()
    app.after_request(add_security_headers)
