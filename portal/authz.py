"""Role gating for views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, request
from flask_login import current_user
from werkzeug.exceptions import Forbidden

from portal.extensions import login_manager
from portal.models import Role


def _wants_no_redirect() -> bool:
    return request.headers.get(
        "HX-Request"
    ) == "true" or request.accept_mimetypes.best == ("application/json")


def role_required(*roles: Role) -> Callable:
    """Allow members holding one of ``roles`` (admins always pass).

    Anonymous visitors are sent to the login page (401 for htmx and JSON
    requests, which cannot follow a redirect to a page); members without the
    role get 403.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            if not current_user.is_authenticated:
                if _wants_no_redirect():
                    abort(401)
                return login_manager.unauthorized()
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


admin_required = role_required(Role.ADMIN)


class EmailUnverified(Forbidden):
    """A logged-in member who has not confirmed their email address yet."""

    title = "Confirm your email address first"


def verified_required(view: Callable) -> Callable:
    """Let through only members whose email address is verified: contributing,
    revealing, confirming, challenging and updating all wait for it (a 403
    page that says so; htmx gets the message in place).

    Goes below ``login_required``, which deals with visitors.
    """

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any):
        if current_user.is_authenticated and not current_user.email_verified:
            raise EmailUnverified(
                f"Follow the link we emailed to {current_user.email} to confirm it "
                "is yours. Until then you can look around, but not contribute, "
                "reveal, confirm, challenge or update contacts. No email? Send a "
                "new link from the notice at the top of the page."
            )
        return view(*args, **kwargs)

    return wrapped
