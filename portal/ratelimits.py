"""Rate limits on reading pages, against scraping (Flask-Limiter on Redis).

Members are counted by account and visitors by address, so one member cannot
spread a harvest over many browsers and a visitor cannot probe the pages
behind the login without limit either. Each limit reads its value from the
configuration at request time.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app
from flask_limiter.util import get_remote_address
from flask_login import current_user

from portal.extensions import limiter

BROWSING_MESSAGE = (
    "You are opening pages faster than Tessera allows. To protect the people "
    "listed, searches and contact and company pages are limited per member."
)


def member_or_ip_key() -> str:
    """The member's account when logged in, else the client's address."""
    if current_user.is_authenticated:
        return f"member:{current_user.id}"
    return f"ip:{get_remote_address()}"


def browsing_limit(setting: str) -> Callable:
    """Limit a page by the configured ``setting`` (e.g. "120 per minute;2000
    per day"); every route decorated with the same setting shares its count.

    Put it above ``login_required`` so visitors' requests are counted too.
    """
    return limiter.shared_limit(
        lambda: current_app.config[setting],
        scope=setting.lower(),
        key_func=member_or_ip_key,
        error_message=BROWSING_MESSAGE,
    )
