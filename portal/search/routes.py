"""``/search``: results update as the member types (htmx), and the same page
works as a plain GET form without JavaScript. From the results a member
reveals one contact inline, or selects several to reveal (cost confirmed
first) or export."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, request, url_for
from flask_login import current_user, login_required

from portal import ledger
from portal.authz import verified_required
from portal.contacts.reveal import (
    MAX_BULK_REVEAL,
    RevealLimitReached,
    RevealRefused,
    RevealRules,
    quote_reveal,
    reveal_by_ids,
    reveal_contacts,
    revealed_details,
)
from portal.errors import error_response
from portal.extensions import db
from portal.models import Contact, ContactState, Member
from portal.models.base import utcnow
from portal.ratelimits import browsing_limit
from portal.rendering import redirect_to, render, wants_fragment
from portal.search.services import (
    MAX_MONTHS,
    SearchQuery,
    company_filter_values,
    hits_for,
    search_contacts,
)
from portal.security import safe_local_path
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
    fragment = wants_fragment()
    industries, sizes = ([], []) if fragment else company_filter_values(db.session)
    response = render(
        "search/search.html",
        "search/_results.html",
        query=query,
        results=results,
        revealed=revealed_details(
            db.session, current_user.id, [hit.contact_id for hit in results.hits]
        ),
        reveal_cost=current_app.config["REVEAL_COST"],
        back=url_for("search.search", **query.params()),
        seniorities=SENIORITIES,
        departments=DEPARTMENTS,
        industries=industries,
        sizes=sizes,
        confirmed_choices=[m for m in CONFIRMED_CHOICES if m <= MAX_MONTHS],
    )
    if fragment:
        # The address bar gets the search without its empty fields, and the
        # page actually shown.
        shown = query.params(page=results.page if results.page > 1 else "")
        response.headers["HX-Push-Url"] = url_for("search.search", **shown)
    return response


def _back() -> str:
    return safe_local_path(request.form.get("back")) or url_for("search.search")


def _selected_ids() -> list[int]:
    ids = []
    for raw in request.form.getlist("ids")[: MAX_BULK_REVEAL * 2]:
        if raw.isascii() and raw.isdigit() and len(raw) <= 9:
            ids.append(int(raw))
    return list(dict.fromkeys(ids))


@bp.post("/search/reveal/<int:contact_id>")
@login_required
@verified_required
def reveal_row(contact_id: int):
    """Reveal one result in place: the row comes back with its email and
    phone (and the header's balance follows through the HX-Trigger event)."""
    contact = db.session.get(Contact, contact_id)
    if contact is None or contact.state not in ContactState.searchable_states():
        abort(404)
    db.session.rollback()
    rules = RevealRules.from_config(current_app.config)
    message, status = None, 200
    try:
        reveal = reveal_by_ids(current_user.id, contact_id, rules, utcnow())
    except RevealLimitReached as refused:
        return error_response(429, "Daily reveal limit reached", refused.message)
    except RevealRefused as refused:
        message, status = refused.message, 409
    except ledger.InsufficientPoints as short:
        message, status = (
            f"Revealing costs {short.needed} points; you have {short.available}.",
            402,
        )
    else:
        left = ledger.vested_balance(db.session, current_user.id)
        message = (
            f"−{reveal.unlock.cost} points · {left:,} left"
            if reveal.charged
            else "Revealed before: free"
        )
    if not wants_fragment():
        flash(message, "success" if status == 200 else "error")
        return redirect_to(_back())
    hit = hits_for(db.session, [contact_id])[0]
    return render(
        "search/_row.html",
        "search/_row.html",
        status,
        hit=hit,
        revealed=revealed_details(db.session, current_user.id, [contact_id]),
        reveal_cost=rules.cost,
        row_message=message,
        row_error=status != 200,
    )


@bp.post("/search/reveal")
@login_required
@verified_required
def reveal_selected():
    """Reveal the selected results: first the total cost to confirm, then, on
    confirmation, every one of them in one transaction, each charged once."""
    ids = _selected_ids()
    rules = RevealRules.from_config(current_app.config)
    if not ids:
        flash("Select the contacts to reveal first.", "warning")
        return redirect_to(_back())
    if request.form.get("confirm") != "yes":
        quote = quote_reveal(db.session, current_user.id, ids, rules)
        return render(
            "search/reveal_selected.html",
            "search/reveal_selected.html",
            quote=quote,
            hits=hits_for(db.session, quote.contact_ids),
            balance=ledger.vested_balance(db.session, current_user.id),
            back=_back(),
        )
    db.session.rollback()
    try:
        with ledger.write_transaction() as session:
            done = reveal_contacts(
                session, session.get(Member, current_user.id), ids, rules, utcnow()
            )
    except RevealLimitReached as refused:
        return error_response(429, "Daily reveal limit reached", refused.message)
    except ledger.InsufficientPoints as short:
        flash(
            f"Nothing was revealed: that selection costs more than the "
            f"{short.available} points you have to spend.",
            "error",
        )
        return redirect_to(_back())
    left = ledger.vested_balance(db.session, current_user.id)
    flash(
        f"Revealed {done.revealed} contact{'s' if done.revealed != 1 else ''} "
        f"for {done.points} points ({done.revealed - done.charged} seen before, "
        f"free). You have {left:,} left to spend.",
        "success",
    )
    return redirect_to(_back())
