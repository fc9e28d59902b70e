"""``/search``: results update as the member types (htmx), and the same page
works as a plain GET form without JavaScript."""

from __future__ import annotations

from flask import Blueprint, current_app, request, url_for
from flask_login import login_required

from portal.extensions import db
from portal.ratelimits import browsing_limit
from portal.rendering import render, wants_fragment
from portal.search.services import MAX_MONTHS, SearchQuery, search_contacts
from portal.titles import DEPARTMENTS, SENIORITIES

bp = Blueprint("search", __name__)

CONFIRMED_CHOICES = (1, 3, 6, 12, 24)


@bp.get("/search")
@browsing_limit("SEARCH_RATE_LIMIT")
@login_required
def search():
    """The results page, or only the results for htmx. Any parameters give a
    normal page: unusable filters are ignored and said so."""
    query = SearchQuery.from_params(
        request.args, per_page=current_app.config["PAGE_SIZE"]
    )
    results = search_contacts(db.session, query)
    response = render(
        "search/search.html",
        "search/_results.html",
        query=query,
        results=results,
        seniorities=SENIORITIES,
        departments=DEPARTMENTS,
        confirmed_choices=[m for m in CONFIRMED_CHOICES if m <= MAX_MONTHS],
    )
    if wants_fragment():
        # The address bar gets the search without its empty fields, and the
        # page actually shown.
        shown = query.params(page=results.page if results.page > 1 else "")
        response.headers["HX-Push-Url"] = url_for("search.search", **shown)
    return response
