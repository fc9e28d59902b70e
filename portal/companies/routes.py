"""Company pages: the company list with search as you type, and a company's
contacts (masked) with counts by department, seniority and freshness."""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, abort, current_app, request
from flask_login import login_required

from portal.companies import services
from portal.extensions import db
from portal.models import Company
from portal.models.base import utcnow
from portal.pagination import paginate
from portal.ratelimits import browsing_limit
from portal.rendering import render, wants_fragment

bp = Blueprint("companies", __name__, url_prefix="/companies")


@bp.get("")
@browsing_limit("COMPANY_PAGE_RATE_LIMIT")
@login_required
def index():
    """Companies closest to the typed text, or all of them alphabetically."""
    text = (request.args.get("q") or "").strip()[: services.MAX_QUERY_LENGTH]
    matches, page = None, None
    if text:
        matches = services.search_companies(db.session, text)
    else:
        page = paginate(services.alphabetical_companies(), request.args.get("page"))
        page = replace(page, items=services.company_listings(db.session, page.items))
    return render(
        "companies/index.html",
        "companies/_results.html",
        q=text,
        matches=matches,
        page=page,
    )


@bp.get("/<int:company_id>")
@browsing_limit("COMPANY_PAGE_RATE_LIMIT")
@login_required
def detail(company_id: int):
    """The company's page; htmx (filters, pages) gets its contact list alone,
    which needs no counts beyond its own."""
    contact_filter = services.ContactFilter.parse(
        request.args.get("department"), request.args.get("seniority")
    )
    summary = None
    if wants_fragment():
        company = db.session.get(Company, company_id)
        if company is None:
            abort(404)
        total = services.count_contacts(db.session, company_id, contact_filter)
    else:
        summary = services.company_summary(db.session, company_id, utcnow())
        if summary is None:
            abort(404)
        company = summary.company
        total = summary.count(contact_filter)
    page = services.company_contacts(
        db.session,
        company_id,
        contact_filter,
        request.args.get("page"),
        current_app.config["PAGE_SIZE"],
        total,
    )
    return render(
        "companies/detail.html",
        "companies/_contacts.html",
        company=company,
        summary=summary,
        contact_filter=contact_filter,
        page=page,
        department_label=services.department_label,
        seniority_label=services.seniority_label,
        departments=services.DEPARTMENT_LABELS,
        seniorities=services.SENIORITY_LABELS,
    )
