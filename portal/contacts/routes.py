"""Contributing contacts: the form, its live company suggestions and
duplicate warnings, a contact's detail with provenance, confirmations,
challenges and updates, and bulk CSV contribution."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from portal import ledger, matching
from portal.audit import record_audit
from portal.authz import verified_required
from portal.contacts import imports, lookups, services
from portal.contacts.forms import (
    ChallengeForm,
    ContactFieldsForm,
    ContributeForm,
    ImportForm,
)
from portal.contacts.reveal import (
    DETAIL_FIELDS,
    RevealLimitReached,
    RevealRefused,
    RevealRules,
    details_visible_to,
    reveal_by_ids,
)
from portal.csvfiles import iter_csv
from portal.errors import error_response
from portal.extensions import db, limiter
from portal.ip_hashes import ip_hash
from portal.models import (
    ConfirmationSource,
    Contact,
    ContactState,
    ContributionFile,
    ContributionRow,
    FlagKind,
    RevisionSource,
    Role,
)
from portal.models.base import utcnow
from portal.moderation.flags import FlagRules
from portal.normalise import FieldProblem, normalise_domain
from portal.points.services import Rules, member_tier
from portal.ratelimits import browsing_limit
from portal.rendering import redirect_to, render

bp = Blueprint("contacts", __name__, url_prefix="/contacts")

STAFF = (Role.MODERATOR, Role.ADMIN)


def _rules() -> Rules:
    return Rules.from_config(current_app.config)


def _flag_rules() -> FlagRules:
    return FlagRules.from_config(current_app.config)


def _ip_hash() -> str | None:
    return ip_hash(current_app.config["SECRET_KEY"], request.remote_addr)


def _decision(raw: str | None) -> services.Decision:
    if raw == "different":
        return ("different", None)
    if raw and raw.startswith("update:") and raw[7:].isdigit():
        return ("update", int(raw[7:]))
    return None


@bp.route("/new", methods=["GET", "POST"])
@login_required
@verified_required
def new():
    form = ContributeForm()
    context = {"form": form, "attestation": services.ATTESTATION_TEXT}
    if request.method == "GET" or not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render(
            "contacts/new.html", "contacts/_contribute_form.html", status, **context
        )
    try:
        outcome = services.contribute(
            db.session,
            current_user.id,
            form.values(),
            source=RevisionSource.FORM,
            attestation=services.ATTESTATION_TEXT if form.attest.data else None,
            rules=_rules(),
            flag_rules=_flag_rules(),
            ip_hash=_ip_hash(),
            suppression_key=current_app.config["SUPPRESSION_KEY"],
            now=utcnow(),
            decision=_decision(request.form.get("duplicate_decision")),
        )
    except services.ContributionRefused as refused:
        db.session.rollback()
        form.show_problems(refused.problems)
        return render(
            "contacts/new.html", "contacts/_contribute_form.html", 422, **context
        )
    if outcome.status == "needs_decision":
        # Nothing was added, but the answer about who is known is counted.
        db.session.commit()
        form.form_errors.append(
            "This may be someone Tessera already knows. Choose “same person” or "
            "“different person” below, then submit again."
        )
        return render(
            "contacts/new.html",
            "contacts/_contribute_form.html",
            422,
            candidates=outcome.candidates,
            **context,
        )
    db.session.commit()
    return render(
        "contacts/new.html",
        "contacts/_contribute_result.html",
        outcome=outcome,
        balance=ledger.balance(db.session, current_user.id),
        **context,
    )


@bp.get("/new/companies")
@login_required
@verified_required
def company_suggestions():
    """``<option>``s for the company field's datalist, as the member types."""
    text = (request.args.get("company") or "").strip()
    suggestions = matching.suggest_companies(db.session, text) if len(text) >= 2 else []
    return render(
        "contacts/_company_options.html",
        "contacts/_company_options.html",
        suggestions=suggestions,
    )


@bp.get("/new/duplicates")
@login_required
@verified_required
@limiter.limit(
    lambda: current_app.config["DUPLICATE_CHECK_LIMIT"],
    key_func=lambda: f"duplicate-check:{current_user.id}",
)
def duplicate_warning():
    """Likely duplicates of what the member has typed so far (masked). It
    never says whether an email is known (the submission does, counted), and
    each contact it shows counts once a day as an answer about a known person.
    """
    form = ContactFieldsForm(request.args, meta={"csrf": False})
    first, last = form.first_name.data or "", form.last_name.data or ""
    candidates: list = []
    limit_message = None
    if (
        first.strip()
        and last.strip()
        and (form.company.data or form.company_domain.data)
    ):
        domain = None
        if form.company_domain.data:
            try:
                domain = normalise_domain(form.company_domain.data)
            except FieldProblem:
                domain = None
        now = utcnow()
        try:
            lookups.check_allowance(db.session, current_user.id, _rules(), now)
        except lookups.AnswerLimitReached as reached:
            limit_message = reached.message
        else:
            company = matching.resolve_company(
                db.session,
                name=(form.company.data or "").strip() or None,
                domain=domain,
                email_domain=None,
            )
            candidates = matching.find_duplicates(
                db.session,
                first_name=first.strip(),
                last_name=last.strip(),
                company_id=company.company_id if company else None,
                company_name=(form.company.data or "").strip() or None,
            ).candidates
            lookups.record_live_answers(
                db.session, current_user.id, (c.contact_id for c in candidates), now
            )
            db.session.commit()
    return render(
        "contacts/_duplicate_warning.html",
        "contacts/_duplicate_warning.html",
        candidates=candidates,
        limit_message=limit_message,
        # Re-rendering as the member types keeps the answer they already chose.
        chosen=request.args.get("duplicate_decision"),
    )


def _visible_contact(contact_id: int) -> Contact:
    """A contact the current member may see: held ones only for staff and
    their contributor."""
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        abort(404)
    if contact.state == ContactState.HELD and not (
        current_user.has_role(*STAFF) or contact.owner_id == current_user.id
    ):
        abort(404)
    return contact


def _visible_details(contact: Contact, provenance) -> frozenset[str]:
    """Email and phone: what the member revealed or supplied themselves, and
    everything for staff, whose every such view is audited."""
    visible = details_visible_to(db.session, contact, current_user.id, provenance)
    if visible == frozenset(DETAIL_FIELDS) or not current_user.has_role(*STAFF):
        return visible
    record_audit(
        "contact.details_viewed",
        actor=current_user._get_current_object(),
        target=contact,
        ip=request.remote_addr,
    )
    db.session.commit()
    return frozenset(DETAIL_FIELDS)


def _detail(contact: Contact, status: int = 200, **extra):
    provenance = services.field_provenance(db.session, contact.id)
    return render(
        "contacts/detail.html",
        "contacts/_contact.html",
        status,
        contact=contact,
        provenance=provenance,
        revisions=services.contact_revisions(db.session, contact.id),
        open_challenges=services.points.open_challenges(db.session, contact.id),
        visible=_visible_details(contact, provenance),
        reveal_cost=current_app.config["REVEAL_COST"],
        # A contributor's own contact needs someone else's confirmation.
        can_confirm=current_user.has_role(*STAFF)
        or contact.owner_id != current_user.id,
        challenge_form=extra.pop("challenge_form", None) or ChallengeForm(),
        **extra,
    )


@bp.get("/<int:contact_id>")
@browsing_limit("CONTACT_PAGE_RATE_LIMIT")
@login_required
def detail(contact_id: int):
    return _detail(_visible_contact(contact_id))


@bp.post("/<int:contact_id>/unlock")
@login_required
@verified_required
def unlock(contact_id: int):
    """Reveal the contact's email and phone for points, once."""
    _visible_contact(contact_id)
    # End this request's read snapshot: the reveal writes on a session of its
    # own, and the page below must see what it wrote.
    db.session.rollback()
    rules = RevealRules.from_config(current_app.config)
    try:
        reveal = reveal_by_ids(current_user.id, contact_id, rules, utcnow())
    except RevealLimitReached as refused:
        return error_response(429, "Daily reveal limit reached", refused.message)
    except RevealRefused as refused:
        return _detail(
            db.session.get(Contact, contact_id), 409, action_error=refused.message
        )
    except ledger.InsufficientPoints as short:
        return _detail(
            db.session.get(Contact, contact_id),
            402,
            action_error=(
                f"Revealing costs {short.needed} points and you have {short.available} "
                "to spend. Earn more by contributing contacts (5 each once "
                "confirmed), updating stale ones, or challenging bad data."
            ),
        )
    left = ledger.vested_balance(db.session, current_user.id)
    message = (
        f"Revealed for {reveal.unlock.cost} points. You have {left:,} left to spend."
        if reveal.charged
        else "You revealed this contact before: viewing it again is free."
    )
    return _detail(db.session.get(Contact, contact_id), action_message=message)


@bp.post("/<int:contact_id>/confirm")
@login_required
@verified_required
def confirm(contact_id: int):
    contact = _visible_contact(contact_id)
    source = (
        ConfirmationSource.MODERATOR
        if current_user.has_role(*STAFF)
        else ConfirmationSource.MEMBER
    )
    try:
        services.confirm_contact(
            db.session,
            contact,
            current_user.id,
            source,
            utcnow(),
            ip_hash=_ip_hash(),
            rules=_rules(),
        )
    except services.ContactActionRefused as refused:
        db.session.rollback()
        return _detail(contact, 409, action_error=refused.message)
    db.session.commit()
    return _detail(
        contact, action_message="Thanks: you confirmed this contact is current."
    )


@bp.post("/<int:contact_id>/challenge")
@login_required
@verified_required
def challenge(contact_id: int):
    contact = _visible_contact(contact_id)
    form = ChallengeForm()
    if not form.validate_on_submit():
        return _detail(contact, 422, challenge_form=form)
    try:
        services.challenge_contact(
            db.session,
            contact,
            current_user.id,
            FlagKind(form.kind.data),
            form.details.data or "",
            utcnow(),
            rules=_rules(),
            flag_rules=_flag_rules(),
        )
    except services.ContactActionRefused as refused:
        db.session.rollback()
        return _detail(contact, 409, action_error=refused.message, challenge_form=form)
    db.session.commit()
    return _detail(
        contact,
        action_message=(
            "Thanks: a moderator will review your challenge. If it is upheld you "
            "earn points."
        ),
    )


@bp.route("/<int:contact_id>/update", methods=["GET", "POST"])
@login_required
@verified_required
def update(contact_id: int):
    """Update a contact's details. Email and phone start blank (keep them) so
    the form never shows details the member has not revealed."""
    contact = _visible_contact(contact_id)
    if contact.state == ContactState.GRAVEYARD:
        abort(404)
    form = ContributeForm(
        data=None
        if request.method == "POST"
        else {
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "title": contact.title,
            "company": contact.company.name,
            "city": contact.city,
            "country": contact.country,
        }
    )
    context = {
        "form": form,
        "contact": contact,
        "attestation": services.ATTESTATION_TEXT,
    }
    if request.method == "GET" or not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render(
            "contacts/update.html", "contacts/_update_form.html", status, **context
        )
    try:
        outcome = services.update_contact(
            db.session,
            contact,
            current_user.id,
            form.values(),
            attestation=services.ATTESTATION_TEXT if form.attest.data else None,
            rules=_rules(),
            flag_rules=_flag_rules(),
            ip_hash=_ip_hash(),
            suppression_key=current_app.config["SUPPRESSION_KEY"],
            now=utcnow(),
        )
    except services.ContributionRefused as refused:
        db.session.rollback()
        form.show_problems(refused.problems)
        return render(
            "contacts/update.html", "contacts/_update_form.html", 422, **context
        )
    db.session.commit()
    if outcome.status == "unchanged":
        flash("Nothing changed: these are the details Tessera already holds.", "info")
    elif outcome.status == "proposed":
        flash(
            "Sent to a moderator: this change needs a review before it applies, "
            "so the contact stays as it is for now.",
            "info",
        )
    elif outcome.points:
        flash(f"Updated. +{outcome.points} points pending.", "success")
    else:
        flash("Updated.", "success")
    return redirect_to(url_for("contacts.detail", contact_id=contact.id))


@bp.route("/import", methods=["GET", "POST"])
@login_required
@verified_required
def import_file():
    form = ImportForm()
    files = db.session.scalars(
        select(ContributionFile)
        .where(ContributionFile.member_id == current_user.id)
        .order_by(ContributionFile.id.desc())
        .limit(10)
    ).all()
    context = {
        "form": form,
        "files": files,
        "max_rows": current_app.config["CONTRIBUTION_FILE_MAX_ROWS"],
        "tier": member_tier(db.session, current_user.id, _rules(), utcnow()),
    }
    if request.method == "GET" or not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render(
            "contacts/import.html", "contacts/_import_form.html", status, **context
        )
    if not form.attest.data:
        form.attest.errors = ["Tick the box to confirm you may share these contacts."]
        return render(
            "contacts/import.html", "contacts/_import_form.html", 422, **context
        )
    upload = form.file.data
    content = upload.read(current_app.config["CONTRIBUTION_FILE_MAX_BYTES"] + 1)
    try:
        contribution = imports.accept_upload(
            db.session,
            current_user,
            filename=upload.filename or "contacts.csv",
            content=content,
            attestation=services.ATTESTATION_TEXT,
            max_bytes=current_app.config["CONTRIBUTION_FILE_MAX_BYTES"],
            ip_hash=_ip_hash(),
        )
    except imports.UploadRefused as refused:
        db.session.rollback()
        form.file.errors = [refused.message]
        return render(
            "contacts/import.html", "contacts/_import_form.html", 422, **context
        )
    db.session.commit()
    return redirect_to(url_for("contacts.import_status", file_id=contribution.id))


def _own_file(file_id: int) -> ContributionFile:
    contribution = db.session.get(ContributionFile, file_id)
    if contribution is None or (
        contribution.member_id != current_user.id
        and not current_user.has_role(Role.ADMIN)
    ):
        abort(404)
    return contribution


@bp.get("/import/<int:file_id>")
@login_required
def import_status(file_id: int):
    contribution = _own_file(file_id)
    rows = db.session.scalars(
        select(ContributionRow)
        .where(ContributionRow.file_id == contribution.id)
        .order_by(ContributionRow.row_number)
        .limit(200)
    ).all()
    return render(
        "contacts/import_status.html",
        "contacts/_file_status.html",
        contribution=contribution,
        rows=rows,
    )


@bp.get("/import/<int:file_id>/report.csv")
@login_required
def import_report(file_id: int):
    contribution = _own_file(file_id)
    rows = db.session.scalars(
        select(ContributionRow)
        .where(ContributionRow.file_id == contribution.id)
        .order_by(ContributionRow.row_number)
    )
    # At most a few thousand rows: build it here, inside the request's session.
    body = "".join(
        iter_csv(imports.REPORT_HEADER, (imports.report_line(row) for row in rows))
    )
    filename = f"tessera-import-{contribution.id}-report.csv"
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
