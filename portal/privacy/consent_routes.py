"""A member's consent page: attribution, notification choices, the export
of their account data, and deleting the account."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, request, session, url_for
from flask_login import current_user, login_required, logout_user

from portal.audit import record_audit
from portal.auth import services as accounts
from portal.extensions import db
from portal.models import Attribution, Role
from portal.models.base import utcnow
from portal.privacy import consent
from portal.privacy.forms import ConsentForm, DeleteAccountForm
from portal.rendering import render

bp = Blueprint("consent", __name__, url_prefix="/account")


def _page(form: ConsentForm, delete_form: DeleteAccountForm, status: int = 200):
    member = current_user
    organisation = member.organisation
    return render(
        "privacy/consent.html",
        "privacy/consent.html",
        status=status,
        form=form,
        delete_form=delete_form,
        organisation=organisation
        if organisation is not None and member.has_role(Role.ORG_ADMIN)
        else None,
        signed_as=consent.contributor_label(db.session, member),
    )


def _saved_choices() -> dict:
    choice = consent.preferences(db.session, current_user.id)
    return {
        "attribution": choice.attribution.value,
        "notify_royalties": choice.notify_royalties,
        "notify_challenges": choice.notify_challenges,
        "weekly_digest": choice.weekly_digest,
    }


@bp.route("/consent", methods=["GET", "POST"])
@login_required
def consent_page():
    form = ConsentForm(data=None if request.method == "POST" else _saved_choices())
    if form.validate_on_submit():
        consent.save_preferences(
            db.session,
            current_user.id,
            attribution=Attribution(form.attribution.data),
            notify_royalties=form.notify_royalties.data,
            notify_challenges=form.notify_challenges.data,
            weekly_digest=form.weekly_digest.data,
            now=utcnow(),
        )
        record_audit(
            "member.consent_changed",
            actor=current_user,
            target=current_user,
            details={"attribution": form.attribution.data},
            ip=request.remote_addr,
        )
        db.session.commit()
        flash("Your choices are saved.", "success")
        return redirect(url_for("consent.consent_page"), code=303)
    status = 422 if form.errors else 200
    return _page(form, DeleteAccountForm(formdata=None), status)


@bp.get("/export.json")
@login_required
def export():
    """The member's own account data as a JSON file."""
    response = jsonify(consent.account_export(db.session, current_user))
    response.headers["Content-Disposition"] = (
        'attachment; filename="tessera-account.json"'
    )
    return response


@bp.post("/delete")
@login_required
def delete_account():
    """Delete the account after the password is confirmed: every login ends,
    personal data is erased, contributions stay with the pool."""
    delete_form = DeleteAccountForm()
    valid = delete_form.validate_on_submit()
    if valid and not accounts.verify_password(
        current_user.password_hash, delete_form.password.data
    ):
        delete_form.password.errors.append("That is not your password.")
        valid = False
    if not valid:
        form = ConsentForm(formdata=None, data=_saved_choices())
        return _page(form, delete_form, 422)
    member = current_user._get_current_object()
    consent.delete_account(db.session, member, utcnow())
    # The system records it: an entry by the member would keep their email.
    record_audit("member.account_deleted", actor=None, target=member)
    db.session.commit()
    logout_user()
    session.clear()
    flash(
        "Your account is deleted. Your contributions stay, without your name.", "info"
    )
    return redirect(url_for("main.home"), code=303)
