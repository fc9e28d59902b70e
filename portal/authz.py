"""Role gating for views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, request
from flask_login import current_user

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
