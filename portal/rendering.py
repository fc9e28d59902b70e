"""One helper decides whether a request gets a whole page or a fragment."""

from __future__ import annotations

from typing import Any

from flask import Response, make_response, redirect, render_template
from htmx_flask import request


def wants_fragment() -> bool:
    """True for an htmx request that swaps part of a page.

    Boosted requests and history restores replace the whole body, so they get
    the full page.
    """
    return bool(
        request.htmx
        and not request.htmx.boosted
        and not request.htmx.history_restore_request
    )


def render(page: str, fragment: str, /, status: int = 200, **context: Any) -> Response:
    """Render ``fragment`` for htmx swaps and ``page`` otherwise.

    The page template includes the fragment, so both show the same thing. The
    response always varies on ``HX-Request`` so caches keep the two apart.
    """
    template = fragment if wants_fragment() else page
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def redirect_to(url: str) -> Response:
    """Redirect the browser; an htmx request gets ``HX-Redirect`` so the whole
    page changes instead of the redirected page being swapped into a fragment."""
    if request.htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url)
