"""``/org``: an org admin runs their organisation; ``/org/join/<token>``: an
invited member joins it."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    render_template,
    url_for,
)
from flask_login import current_user, login_required

from portal import mail, tokens
from portal.authz import role_required
from portal.billing.rules import BillingRules
from portal.extensions import db
from portal.models import Invoice, Organisation, Role
from portal.models.base import utcnow
from portal.org import services
from portal.org.forms import ConfirmForm, InviteForm
from portal.rendering import redirect_to

bp = Blueprint("org", __name__, url_prefix="/org")

org_admin_required = role_required(Role.ORG_ADMIN)


def _my_organisation() -> Organisation:
    """The signed-in org admin's organisation (404 for an admin who has none)."""
    if current_user.organisation_id is None:
        abort(404, "You are not a member of an organisation.")
    return db.session.get(Organisation, current_user.organisation_id)


def _page(organisation: Organisation, status: int = 200, **context):
    now = utcnow()
    context.setdefault("invite_form", InviteForm(formdata=None))
    return make_response(
        render_template(
            "org/overview.html",
            organisation=organisation,
            usage=services.usage(
                db.session,
                organisation,
                BillingRules.from_config(current_app.config),
                now,
            ),
            members=services.members_of(db.session, organisation),
            invitations=services.invitations_of(db.session, organisation),
            invoices=services.invoices_of(db.session, organisation),
            confirm_form=ConfirmForm(),
            now=now,
            **context,
        ),
        status,
    )


@bp.get("")
@org_admin_required
def overview():
    return _page(_my_organisation())


@bp.post("/invitations")
@org_admin_required
def invite():
    organisation = _my_organisation()
    form = InviteForm()
    if not form.validate_on_submit():
        return _page(organisation, 422, invite_form=form)
    days = current_app.config["ORG_INVITATION_DAYS"]
    now = utcnow()
    try:
        invitation, token = services.invite(
            db.session,
            organisation,
            form.email.data,
            inviter=current_user,
            lifetime=timedelta(days=days),
            now=now,
        )
    except services.OrgChangeRefused as refused:
        db.session.rollback()
        form.email.errors = [*form.email.errors, str(refused)]
        return _page(organisation, 409, invite_form=form)
    mail.send_email(
        invitation.email,
        f"{current_user.display_name} invites you to {organisation.name} on Tessera",
        render_template(
            "emails/org_invitation.txt",
            invitation=invitation,
            inviter=current_user,
            organisation=organisation,
            days=days,
            link=mail.public_url("org.join", token=token),
        ),
        kind="org_invitation",
    )
    db.session.commit()
    flash(
        f"Invitation sent to {invitation.email}; the link works for {days} days.",
        "success",
    )
    return redirect_to(url_for("org.overview"))


def _org_action(change) -> Response:
    """Apply ``change(organisation)`` for the signed-in org admin in one
    transaction: a refusal is flashed, a missing object is 404, success
    flashes the message ``change`` returns. Back to the overview either way."""
    organisation = _my_organisation()
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        message = change(organisation)
    except services.OrgChangeRefused as refused:
        db.session.rollback()
        flash(str(refused), "warning")
        return redirect_to(url_for("org.overview"))
    if message is None:
        abort(404)
    db.session.commit()
    flash(message, "success")
    return redirect_to(url_for("org.overview"))


@bp.post("/invitations/<int:invitation_id>/revoke")
@org_admin_required
def revoke_invitation(invitation_id: int):
    def change(organisation):
        invitation = services.revoke(
            db.session, organisation, invitation_id, actor=current_user, now=utcnow()
        )
        return invitation and f"The invitation for {invitation.email} is withdrawn."

    return _org_action(change)


@bp.post("/members/<int:member_id>/remove")
@org_admin_required
def remove_member(member_id: int):
    def change(organisation):
        member = services.remove_member(
            db.session, organisation, member_id, actor=current_user
        )
        if member is None:
            return None
        mail.send_email(
            member.email,
            f"You are no longer a member of {organisation.name} on Tessera",
            render_template(
                "emails/org_member_removed.txt",
                member=member,
                organisation=organisation,
            ),
            kind="org_member_removed",
        )
        return f"{member.display_name} is no longer a member of {organisation.name}."

    return _org_action(change)


@bp.get("/invoices/<int:invoice_id>")
@org_admin_required
def invoice(invoice_id: int):
    organisation = _my_organisation()
    found = db.session.get(Invoice, invoice_id)
    if found is None or found.organisation_id != organisation.id or not found.number:
        abort(404)
    return render_template("org/invoice.html", invoice=found)


def _join_page(token: str, status: int = 200, error: str | None = None):
    try:
        invitation = services.invitation_for_token(db.session, token, utcnow())
    except tokens.TokenRefused as refused:
        return make_response(
            render_template("org/join.html", refused=refused.message), 410
        )
    return make_response(
        render_template(
            "org/join.html",
            invitation=invitation,
            token=token,
            error=error,
            form=ConfirmForm(),
        ),
        status,
    )


@bp.get("/join/<token>")
@login_required
def join(token: str):
    response = _join_page(token)
    # The token is in the URL: keep it out of other sites' logs and caches.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/join/<token>")
@login_required
def accept(token: str):
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        organisation = services.accept(db.session, token, current_user, utcnow())
    except tokens.TokenRefused as refused:
        db.session.rollback()
        return make_response(
            render_template("org/join.html", refused=refused.message), 410
        )
    except services.OrgChangeRefused as refused:
        db.session.rollback()
        return _join_page(token, 409, error=str(refused))
    db.session.commit()
    flash(f"Welcome to {organisation.name}.", "success")
    return redirect_to(url_for("main.home"))
