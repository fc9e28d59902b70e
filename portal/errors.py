"""Error pages, in the same shell as every other page."""

from __future__ import annotations

from flask import Flask, jsonify, make_response, render_template, request
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.authz import EmailUnverified
from portal.extensions import db
from portal.rendering import wants_fragment

MESSAGES = {
    400: ("Bad request", "The request could not be understood."),
    401: ("Please log in", "You need to log in to do that."),
    403: ("Not allowed", "Your account does not have access to this page."),
    404: ("Not found", "There is no page at this address."),
    405: ("Not allowed", "That action cannot be done this way."),
    413: ("Too large", "That upload is larger than Tessera accepts."),
    422: ("Check the form", "Some of what you sent needs correcting."),
    429: ("Slow down", "Too many attempts. Wait a few minutes, then try again."),
    500: (
        "Something went wrong",
        "We could not finish that. Nothing was saved; try again.",
    ),
}


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def error_response(status: int, title: str, message: str):
    """The error as JSON, as a message for htmx to show, or as a whole page."""
    if _wants_json():
        return jsonify({"error": title, "message": message}), status
    context = {"status": status, "title": title, "message": message}
    if wants_fragment():
        # Shown in the page's message area, whatever element made the request.
        response = make_response(
            render_template("errors/_error.html", **context), status
        )
        response.headers["HX-Retarget"] = "#messages"
        response.headers["HX-Reswap"] = "innerHTML"
        # The address bar keeps showing what the page shows, not the refusal.
        response.headers["HX-Push-Url"] = "false"
        return response
    return render_template("errors/error.html", **context), status


def handle_http_error(error: HTTPException):
    status = error.code or 500
    title, message = MESSAGES.get(status, (error.name, error.description or ""))
    return error_response(status, title, message)


def handle_rate_limit(error: RateLimitExceeded):
    """429 with what was limited and the limit, as a page or a message in place."""
    title, message = MESSAGES[429]
    if error.limit.error_message:
        message = error.description
    return error_response(429, title, f"{message} (Limit: {error.limit.limit}.)")


def handle_email_unverified(error: EmailUnverified):
    return error_response(403, EmailUnverified.title, error.description)


def handle_csrf_error(error: CSRFError):
    return error_response(
        400,
        "Please reload the page",
        "This form has expired or did not come from Tessera. Reload the page and "
        "try again; nothing was changed.",
    )


def handle_server_error(error: Exception):
    db.session.rollback()
    title, message = MESSAGES[500]
    return error_response(500, title, message)


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(RateLimitExceeded, handle_rate_limit)
    app.register_error_handler(EmailUnverified, handle_email_unverified)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(InternalServerError, handle_server_error)
