"""The privacy center's pages for the people listed: the public page with
"see what you hold about me", the emailed link, the report behind it and
its actions, and the notice's one-click "remove me".

The report is reached only through a link emailed to the address (a
one-time token, ``portal.tokens``); it opens a short session for that email
alone. These pages send ``Referrer-Policy: no-referrer`` and, like every
page, ``Cache-Control: no-store``.
"""

from __future__ import annotations

import time
from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    request,
    session,
    url_for,
)
from sqlalchemy import select

from portal import ledger, tokens
from portal.audit import record_audit
from portal.extensions import db, limiter
from portal.models import Contact, PrivacyRequestKind
from portal.models.base import utcnow
from portal.moderation.flags import FlagRules
from portal.normalise import (
    FieldProblem,
    check_business_email,
    normalise_business_email,
)
from portal.points.services import Rules
from portal.privacy import actions, letters, requests
from portal.privacy.forms import (
    AccessForm,
    ActionForm,
    CorrectForm,
    DisputeForm,
    EraseForm,
)
from portal.privacy.report import (
    namesakes,
    records_for,
    report_as_json,
    subject_report,
)
from portal.rendering import render
from portal.suppression import email_hash

bp = Blueprint("privacy", __name__, url_prefix="/privacy")

SESSION_EMAIL = "privacy_email"
SESSION_UNTIL = "privacy_until"
BUSINESS_ONLY = (
    "Tessera holds business email addresses only, never personal or disposable "
    "ones, so nothing can be held under this address. Enter your work address."
)


@bp.after_request
def _no_referrer(response: Response) -> Response:
    # Links with tokens lead here: never pass the address on as a referrer.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _config(name: str):
    return current_app.config[name]


def _address_key() -> str:
    raw = (request.form.get("email") or "").strip().lower()[:254]
    return "privacy-address:" + email_hash(_config("SUPPRESSION_KEY"), raw)


def _ip_key() -> str:
    return "privacy-ip:" + (request.remote_addr or "unknown")


def _window() -> timedelta:
    return timedelta(days=_config("PRIVACY_RECIPIENT_DAYS"))


@bp.get("")
def index():
    """The public page: what Tessera holds, why, for how long, who receives
    it, the person's rights, and the form to see it."""
    return render("privacy/index.html", "privacy/_access_form.html", form=AccessForm())


@bp.post("/access")
@limiter.limit(lambda: _config("PRIVACY_LIMIT_PER_IP"), key_func=_ip_key)
@limiter.limit(lambda: _config("PRIVACY_LIMIT_PER_ADDRESS"), key_func=_address_key)
def request_access():
    """Email a one-time link to a known address. The answer is the same page
    and status whether or not the address is known, and both paths do the
    same work but for writing the email."""
    form = AccessForm()
    if form.validate_on_submit():
        try:
            email = normalise_business_email(form.email.data)
        except FieldProblem as problem:
            form.email.errors.append(problem.message)
        else:
            try:
                check_business_email(email)
            except FieldProblem:
                form.email.errors.append(BUSINESS_ONLY)
    if form.errors:
        return render(
            "privacy/index.html", "privacy/_access_form.html", status=422, form=form
        )
    now = utcnow()
    minutes = _config("PRIVACY_LINK_MINUTES")
    known = db.session.scalar(select_contact_id(email)) is not None
    # An unknown address gets a token too (about its hash, never emailed), so
    # that both answers cost the same.
    subject = (
        actions.link_subject(email)
        if known
        else "unknown:" + email_hash(_config("SUPPRESSION_KEY"), email)
    )
    token = tokens.issue(
        db.session, actions.ACCESS_LINK, subject, timedelta(minutes=minutes), now
    )
    message = letters.access_link_message(token, minutes)
    if known:
        letters.send_access_link(email, message, db.session)
    db.session.commit()
    return render("privacy/sent.html", "privacy/sent.html", minutes=minutes)


def select_contact_id(email: str):
    return select(Contact.id).where(Contact.email == email).limit(1)


def _link_refused(refused: tokens.TokenRefused):
    status = 400 if isinstance(refused, tokens.TokenInvalid) else 410
    return render(
        "privacy/link.html",
        "privacy/link.html",
        status=status,
        refused=refused,
        form=AccessForm(),
    )


def _email_of(subject: str) -> str:
    prefix = actions.link_subject("")
    if not subject.startswith(prefix):
        raise tokens.TokenInvalid()
    return subject[len(prefix) :]


@bp.get("/open/<token>")
def open_link(token: str):
    """The emailed link: a button that opens the report (a GET uses nothing
    up, so mail scanners that follow links do not spend it)."""
    try:
        _email_of(tokens.check(db.session, actions.ACCESS_LINK, token, utcnow()))
    except tokens.TokenRefused as refused:
        return _link_refused(refused)
    return render("privacy/link.html", "privacy/link.html", token=token)


@bp.post("/open/<token>")
def use_link(token: str):
    """Use the link up and open a short session for its email; of several
    browsers racing with one link, exactly one gets in."""
    db.session.rollback()
    now = utcnow()
    try:
        with ledger.write_transaction() as write:
            email = _email_of(tokens.consume(write, actions.ACCESS_LINK, token, now))
            requests.record_completed(
                write,
                PrivacyRequestKind.ACCESS,
                email,
                "The person opened their report through an emailed link.",
                key=_config("SUPPRESSION_KEY"),
                now=now,
                due_days=_config("PRIVACY_DUE_DAYS"),
            )
    except tokens.TokenRefused as refused:
        return _link_refused(refused)
    session[SESSION_EMAIL] = email
    session[SESSION_UNTIL] = time.time() + 60 * _config("PRIVACY_SESSION_MINUTES")
    return redirect(url_for("privacy.report"), code=303)


def _subject_email() -> str | None:
    """The email this browser proved control of, while its session lasts."""
    email = session.get(SESSION_EMAIL)
    until = session.get(SESSION_UNTIL) or 0
    if not email or time.time() > until:
        session.pop(SESSION_EMAIL, None)
        session.pop(SESSION_UNTIL, None)
        return None
    return email


def _ended():
    return render(
        "privacy/link.html",
        "privacy/link.html",
        status=401,
        ended=True,
        form=AccessForm(),
    )


def _report_page(email: str, status: int = 200, **forms):
    report = subject_report(db.session, email, _config("SUPPRESSION_KEY"))
    return render(
        "privacy/report.html",
        "privacy/report.html",
        status=status,
        report=report,
        correct_form=forms.get("correct_form") or CorrectForm(formdata=None),
        dispute_form=forms.get("dispute_form") or DisputeForm(formdata=None),
        erase_form=EraseForm(formdata=None),
        action_form=ActionForm(),
        error=forms.get("error"),
        error_contact=forms.get("error_contact"),
    )


@bp.get("/report")
def report():
    """Everything held about the person, with sources and recipients."""
    email = _subject_email()
    if email is None:
        return _ended()
    return _report_page(email)


@bp.get("/report.json")
def download():
    """The report as a JSON file (records, sources, recipients, requests)."""
    email = _subject_email()
    if email is None:
        return _ended()
    data = report_as_json(subject_report(db.session, email, _config("SUPPRESSION_KEY")))
    response = jsonify(data)
    response.headers["Content-Disposition"] = (
        'attachment; filename="tessera-my-data.json"'
    )
    return response


def _act(contact_id: int, form_class, perform, success: str, **forms):
    """Run one action for the session's person in one transaction; refusals
    re-render the report with the message."""
    email = _subject_email()
    if email is None:
        return _ended()
    form = form_class()
    if not form.validate_on_submit():
        error = next(iter(form.errors.values()), ["Try again."])[0]
        return _report_page(email, 422, error=error, error_contact=contact_id)
    db.session.rollback()
    try:
        with ledger.write_transaction() as write:
            contact = write.get(Contact, contact_id)
            perform(write, contact, email, form)
    except actions.ActionRefused as refused:
        return _report_page(email, 422, error=refused.message, error_contact=contact_id)
    flash(success, "success")
    return redirect(url_for("privacy.report"), code=303)


def _common() -> dict:
    return {"key": _config("SUPPRESSION_KEY"), "now": utcnow()}


@bp.post("/report/<int:contact_id>/confirm")
def confirm(contact_id: int):
    def perform(write, contact, email, form):
        actions.confirm_record(
            write,
            contact,
            email,
            rules=Rules.from_config(current_app.config),
            **_common(),
        )

    return _act(
        contact_id,
        ActionForm,
        perform,
        "Thank you: the record now shows it was confirmed by you.",
    )


@bp.post("/report/<int:contact_id>/correct")
def correct(contact_id: int):
    def perform(write, contact, email, form):
        result = actions.correct_field(
            write,
            contact,
            email,
            form.field.data,
            form.value.data,
            window=_window(),
            **_common(),
        )
        letters.tell_recipients(
            result.notify, "correction", write, field=form.field.data
        )

    return _act(
        contact_id,
        CorrectForm,
        perform,
        "Corrected. Everyone who received this record in the last 12 months "
        "has been told.",
    )


@bp.post("/report/<int:contact_id>/dispute")
def dispute(contact_id: int):
    def perform(write, contact, email, form):
        # The person's own records, and their namesakes at their domain.
        namesake = contact is not None and contact in namesakes(
            write, email, records_for(write, email)
        )
        actions.dispute_record(
            write,
            contact,
            email,
            form.details.data,
            flag_rules=FlagRules.from_config(current_app.config),
            own=not namesake,
            **_common(),
        )

    return _act(
        contact_id,
        DisputeForm,
        perform,
        "Sent to a moderator, who will look at it first, within 3 days.",
    )


@bp.post("/report/<int:contact_id>/erase")
def erase(contact_id: int):
    def perform(write, contact, email, form):
        kind = PrivacyRequestKind(form.kind.data or "erase")
        result = actions.erase_record(
            write, contact, email, kind, window=_window(), **_common()
        )
        letters.tell_recipients(result.notify, "erasure", write)
        record_audit(
            "privacy.erased",
            actor=None,
            target=result.request,
            details={"recipients_told": len(result.notify)},
            session=write,
        )

    return _act(
        contact_id,
        EraseForm,
        perform,
        "Your record is deleted, and you will not be added again. Everyone who "
        "received it in the last 12 months has been asked to delete it too.",
    )


@bp.post("/report/end")
def end():
    """Close the privacy session in this browser."""
    session.pop(SESSION_EMAIL, None)
    session.pop(SESSION_UNTIL, None)
    return redirect(url_for("privacy.index"), code=303)


def _remove_target(token: str) -> Contact | None:
    return letters.remove_me_contact(
        db.session, token, _config("REMOVE_LINK_DAYS") * 86400
    )


@bp.get("/remove/<token>")
def remove_me(token: str):
    """The notice's "remove me" link: one button (a GET changes nothing)."""
    contact = _remove_target(token)
    return render(
        "privacy/remove.html",
        "privacy/remove.html",
        status=200 if contact else 410,
        contact=contact,
        token=token,
        form=ActionForm(),
    )


@bp.post("/remove/<token>")
def remove_me_confirmed(token: str):
    """Erase the record the notice was about, as the person asked."""
    form = ActionForm()
    contact = _remove_target(token)
    if contact is None or not form.validate_on_submit():
        return render(
            "privacy/remove.html",
            "privacy/remove.html",
            status=410,
            contact=None,
            token=token,
            form=form,
        )
    email, contact_id = contact.email, contact.id
    db.session.rollback()
    with ledger.write_transaction() as write:
        result = actions.erase_record(
            write,
            write.get(Contact, contact_id),
            email,
            PrivacyRequestKind.OBJECT,
            window=_window(),
            **_common(),
        )
        letters.tell_recipients(result.notify, "erasure", write)
    return render("privacy/remove.html", "privacy/remove.html", removed=True, form=form)
